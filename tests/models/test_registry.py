from __future__ import annotations

import pytest
import torch

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.models import MODEL_BUILDERS, build_cnn, build_mlp, build_model
from batchlab.models.activations import ACTIVATION_LAYERS, make_activation


def test_registry_names_match_the_config_literal() -> None:
    assert set(MODEL_BUILDERS) == set(ModelConfig.model_fields["name"].annotation.__args__)  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "shape"), [("mlp", (10,)), ("mlp", (1, 8, 8)), ("cnn", (1, 8, 8))])
def test_a_shape_tuple_builds_what_the_family_builder_builds(name: str, shape: tuple[int, ...]) -> None:
    cfg = ModelConfig(name=name, hidden=[8], channels=[4])  # type: ignore[arg-type]
    family = build_mlp if name == "mlp" else build_cnn
    assert repr(build_model(cfg, shape, 3)) == repr(family(cfg, shape, 3))


def test_activation_names_match_the_config_literal() -> None:
    assert set(ACTIVATION_LAYERS) == set(ModelConfig.model_fields["activation"].annotation.__args__)  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "shape"), [("mlp", (10,)), ("mlp", (1, 8, 8)), ("cnn", (1, 8, 8))])
def test_build_model_dispatches_by_name(name: str, shape: tuple[int, ...]) -> None:
    model = build_model(ModelConfig(name=name, hidden=[8], channels=[4]), shape, 3)  # type: ignore[arg-type]
    assert model(torch.randn(2, *shape)).shape == (2, 3)


def test_unknown_model_name_suggests_the_nearest() -> None:
    cfg = ModelConfig.model_construct(name="mpl")
    with pytest.raises(ConfigError, match=r'model\.name: unknown model .*did you mean "mlp"'):
        build_model(cfg, (4,), 2)


def test_unknown_activation_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"model\.activation: unknown value 'swish'; expected one of"):
        make_activation("swish")


def test_same_seed_same_weights() -> None:
    torch.manual_seed(1)
    a = build_model(ModelConfig(), (5,), 2)
    torch.manual_seed(1)
    b = build_model(ModelConfig(), (5,), 2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
