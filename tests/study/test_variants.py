"""--vary: parsing, per-variant configs, and the comparison that names where each variant wins."""

from __future__ import annotations

import pytest

from batchlab.config import make_config
from batchlab.errors import ConfigError
from batchlab.study.results import StudyAnalysis
from batchlab.study.targets import Target, parse_target
from batchlab.study.variant_results import compare_variants
from batchlab.study.variants import Variation, parse_vary, variant_configs


def test_parse_vary() -> None:
    assert parse_vary("model.norm=batch,group, none") == Variation("model.norm", ("batch", "group", "none"))
    assert parse_vary("train.optimizer.lr=0.1,0.01").values == ("0.1", "0.01")
    for bad, message in [
        ("model.norm", "expected FIELD=VALUE"),
        ("norm=batch", "expected FIELD=VALUE"),
        ("model.norm=", "needs a comma list"),
        ("model.norm=batch,,none", "needs a comma list"),
        ("model.norm=batch,batch", "lists batch more than once"),
    ]:
        with pytest.raises(ConfigError, match=f"--vary: .*{message}"):
            parse_vary(bad)


def test_variant_configs_apply_each_value_and_name_a_bad_one() -> None:
    config = make_config({"model": {"batchnorm": True, "hidden": [16]}})
    configs = variant_configs(config, parse_vary("model.norm=batch,group,none"))
    assert {v: c.model.norm for v, c in configs.items()} == {"batch": "batch", "group": "group", "none": "none"}
    assert configs["group"].model.hidden == [16]
    with pytest.raises(ConfigError, match=r"^--vary model.norm=instance: model.norm: "):
        variant_configs(config, parse_vary("model.norm=batch,instance"))
    with pytest.raises(ConfigError, match=r"^--vary model.nrom=batch: .*nrom"):
        variant_configs(config, parse_vary("model.nrom=batch"))


def _analysis(
    metric: str, target: Target | None, points: dict[int, tuple[float, float | None, float, float]]
) -> StudyAnalysis:
    """A sweep's analysis from ``{batch: (final_mean, steps_mean or None, gap_mean, std)}``."""
    summary = []
    for size, (final, steps, gap, std) in sorted(points.items()):
        summary.append({
            "size": size, "batch_size": size, "seeds": 3, "reached": 3 if steps is not None else 0,
            "final_mean": final, "final_std": std, "steps_to_target_mean": steps, "steps_to_target_std": std,
            "gap_mean": gap, "gap_std": std,
        })  # fmt: skip
    return StudyAnalysis(metric, target, [{"batch_size": s["batch_size"]} for s in summary], summary, None, [], [])


def test_the_comparison_names_where_each_variant_wins() -> None:
    target = parse_target("val_accuracy=0.9")
    analyses = {
        # batch norm is poor at tiny batches and best at large ones; group norm the opposite; none reaches nothing.
        "batch": _analysis("val_accuracy", target, {2: (0.80, None, 0.05, 0.0), 8: (0.92, 300, 0.04, 0.0),
                                                    64: (0.96, 40, 0.02, 0.0), 512: (0.95, 12, -0.01, 0.0)}),
        "group": _analysis("val_accuracy", target, {2: (0.93, 900, 0.03, 0.0), 8: (0.94, 250, 0.03, 0.0),
                                                    64: (0.95, 40, 0.03, 0.0), 512: (0.93, 15, 0.03, 0.0)}),
        "none": _analysis("val_accuracy", target, {2: (0.85, None, 0.001, 0.0), 8: (0.88, None, 0.06, 0.0),
                                                   64: (0.89, None, 0.07, 0.0), 512: (0.70, None, 0.08, 0.0)}),
    }  # fmt: skip
    comparison = compare_variants("model.norm", analyses)
    assert comparison.winners["final"] == {2: "group", 8: "group", 64: "batch", 512: "batch"}
    assert comparison.winners["steps_to_target"] == {2: "group", 8: "group", 64: "batch = group", 512: "batch"}
    # The gap compares the variants that reached the target: none (which learned least) never wins it.
    assert comparison.winners["gap"] == {2: "group", 8: "group", 64: "batch", 512: "batch"}
    text = "\n".join(comparison.conclusions)
    assert "Best final val_accuracy: group at batch 2-8, batch at batch 64-512." in text
    assert "final val_accuracy: group beats batch below batch size 64; batch wins from 64 up." in text
    assert "Never reached val_accuracy >= 0.9: model.norm=none." in text
    assert len(comparison.rows) == 12 and {r["variant"] for r in comparison.rows} == {"batch", "group", "none"}


def test_a_lower_is_better_metric_and_the_seed_spread() -> None:
    analyses = {
        "a": _analysis("val_loss", None, {16: (0.30, None, -0.1, 0.05), 64: (0.20, None, -0.1, 0.0)}),
        "b": _analysis("val_loss", None, {16: (0.32, None, -0.2, 0.05), 64: (0.40, None, -0.2, 0.0)}),
    }
    comparison = compare_variants("model.norm", analyses)
    assert comparison.winners["final"] == {16: "a", 64: "a"}  # lower loss wins
    assert comparison.winners["steps_to_target"] == {}
    assert "Best final val_loss: a at every batch size compared (16-64). Within the seed spread at 16." in (
        comparison.conclusions
    )


def test_study_fingerprints_leave_out_norm_fields_that_change_nothing() -> None:
    from batchlab.study.directory import without_unused_norm_fields

    def shared(model: dict, **train: object) -> dict:
        return without_unused_norm_fields(make_config({"model": model, "train": train}).model_dump(mode="json"))

    # A study started before model.norm existed has none of these keys in its fingerprint.
    for model in ({}, {"batchnorm": True}, {"norm": "batch"}, {"norm": "none"}):
        config = shared(model)
        assert not {"norm", "ghost_batch_size", "norm_groups"} & set(config["model"])
        assert "precise_bn" not in config["train"]
    assert shared({"batchnorm": True}) == shared({"norm": "batch"})
    group = shared({"norm": "group", "norm_groups": 4})["model"]
    assert (group["norm"], group["norm_groups"], group["batchnorm"]) == ("group", 4, False)
    assert "ghost_batch_size" not in group
    assert shared({"norm": "ghost"})["model"]["ghost_batch_size"] == 32
    assert shared({}, precise_bn=50)["train"]["precise_bn"] == 50
