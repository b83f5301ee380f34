"""A batch-size sweep per value of one config field (``--vary model.norm=batch,group,none``), resumable.

::

    STUDY_DIR/
      variants.json                       the varied field, its values and each sweep's folder
      variants/model.norm=batch/          a whole batch-size study (study.json, runs/b32-s0/, ...)
      variants/model.norm=group/          ...
      variants.csv, variants_results.json, plots/variants_*.png   written by the report (see
                                          :mod:`batchlab.report.variant_report`)

Each variant's sweep is an ordinary batch-size study of the config with ``FIELD=VALUE`` applied, so it
resumes the same way (finished cells are skipped, a cell killed half-way is trained again) and can be
reported on its own. Every variant's config and sizes are checked before the first cell runs.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.atomic import write_text
from batchlab.config import make_config
from batchlab.errors import CheckpointError, ConfigError
from batchlab.plural import counted

if TYPE_CHECKING:
    from rich.console import Console

    from batchlab.config import Config
    from batchlab.study.batch_size import BatchSizeStudy

__all__ = ["VARIANTS_FILE", "Variation", "parse_vary", "read_variants", "run_variant_study", "variant_configs"]

VARIANTS_FILE = "variants.json"
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


@dataclass(frozen=True)
class Variation:
    """One config field and the values it takes, one batch-size sweep each.

    Attributes:
        field: a dotted config path, e.g. ``model.norm``.
        values: the values as written (parsed like ``--set FIELD=VALUE``), in order, without repeats.
    """

    field: str
    values: tuple[str, ...]

    def override(self, value: str) -> str:
        """The ``--set`` form of one variant: ``model.norm=group``."""
        return f"{self.field}={value}"

    def folder(self, value: str) -> str:
        """The variant's folder name under ``variants/`` (the override, with path separators replaced)."""
        return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", self.override(value))


def parse_vary(text: str) -> Variation:
    """``model.norm=batch,group,none`` -> :class:`Variation`.

    >>> parse_vary("model.norm=batch, group,none")
    Variation(field='model.norm', values=('batch', 'group', 'none'))

    Raises:
        ConfigError: no ``=``, a field that is not a dotted path, no value, or a value given twice.
    """
    field, sep, rest = text.partition("=")
    field = field.strip()
    if not sep or not _FIELD.fullmatch(field):
        raise ConfigError(
            f"--vary: expected FIELD=VALUE,VALUE,... with a dotted config field, e.g. model.norm=batch,group; "
            f"got {text!r}"
        )
    values = [v.strip() for v in rest.split(",")]
    if not rest.strip() or any(not v for v in values):
        raise ConfigError(f"--vary: {field} needs a comma list of values without empty entries, got {rest!r}")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(f"--vary: {field} lists {', '.join(repeated)} more than once")
    return Variation(field, tuple(values))


def variant_configs(config: Config, variation: Variation) -> dict[str, Config]:
    """The validated config of each variant (``name`` kept), by value.

    Raises:
        ConfigError: a value the field does not accept, or a field that does not exist (one line, naming
            the variant).
    """
    configs = {}
    for value in variation.values:
        try:
            configs[value] = make_config(config, [variation.override(value)])
        except ConfigError as exc:
            raise ConfigError(f"--vary {variation.override(value)}: {exc}") from None
    return configs


def read_variants(path: str | Path) -> dict[str, Any]:
    """The parsed ``variants.json`` of a variant study."""
    file = Path(path) / VARIANTS_FILE
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{str(path)!r} is not a variant study: {VARIANTS_FILE} is missing") from None
    except ValueError:
        raise CheckpointError(f"{str(file)!r} is not valid JSON (damaged?)") from None
    if not isinstance(value, dict) or value.get("kind") != "variants":
        raise CheckpointError(f"{str(file)!r} does not hold a variant study")
    return value


def run_variant_study(
    config: Config,
    study: BatchSizeStudy,
    study_dir: str | Path,
    variation: Variation,
    *,
    progress: bool = False,
    console: Console | None = None,
    command: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run (or continue) one batch-size sweep per value of ``variation.field``.

    Args:
        config: the study's config; each variant applies ``FIELD=VALUE`` to it.
        study: sizes, seeds, target and cell settings shared by every variant.
        study_dir: the variant study's folder (created if needed; a variant study there is continued).
        variation: the field and its values.
        progress: show each run's progress.
        console: where one line per cell is printed.
        command: the command line, recorded in ``variants.json``.

    Returns:
        Each variant's finished cells, by value.

    Raises:
        ConfigError: a value the field does not accept, a size a variant cannot train (batch norm on one
            sample), or a folder holding another study.
    """
    from batchlab.study.batch_size import run_batch_size_study

    configs = variant_configs(config, variation)
    for value, variant in configs.items():
        _check_sizes(variant, study, variation.override(value))
    root = Path(study_dir)
    record = _open(root, config, variation, study, command)
    say = console.print if console is not None else (lambda *a, **k: None)
    say(f"Variant study: {variation.field} = {', '.join(variation.values)} -> {root}")
    done: dict[str, list[dict[str, Any]]] = {}
    for number, (value, variant) in enumerate(configs.items(), start=1):
        say(f"[bold]Variant {number}/{len(configs)}: {variation.override(value)}[/bold]")
        folder = root / record["folders"][value]
        done[value] = run_batch_size_study(variant, study, folder, progress=progress, console=console, command=command)
    return done


def _check_sizes(config: Config, study: BatchSizeStudy, label: str) -> None:
    fields = config.model.batch_norm_fields
    if fields is None:
        return
    for spec in study.sizes:
        if isinstance(spec, int) and spec < 2:
            raise ConfigError(
                f"--sizes: batch size {spec} is too small for batch normalization ({label}: {fields}), which "
                "needs at least 2 samples per batch; leave it out, or vary other norms"
            )


def _open(
    root: Path, config: Config, variation: Variation, study: BatchSizeStudy, command: str | None
) -> dict[str, Any]:
    """Write (or merge into) ``variants.json``; the varied field must match a study already there."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--study-dir: {str(root)!r} exists and is not a directory")
    if (root / "study.json").exists():
        raise ConfigError(
            f"--study-dir: {str(root)!r} holds a single batch-size study; choose a new --study-dir for --vary"
        )
    folders = {value: f"variants/{variation.folder(value)}" for value in variation.values}
    record: dict[str, Any] = {
        "kind": "variants",
        "version": 1,
        "name": config.name,
        "field": variation.field,
        "values": list(variation.values),
        "folders": folders,
        "command": command,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "target": (
            {"metric": study.target.metric, "value": study.target.value, "mode": study.target.mode}
            if study.target
            else None
        ),
    }
    if (root / VARIANTS_FILE).exists():
        old = read_variants(root)
        if old.get("field") != variation.field:
            raise ConfigError(
                f"--vary: {str(root)!r} varies {old.get('field')}, not {variation.field}; choose a new --study-dir"
            )
        values = list(old.get("values", [])) + [v for v in variation.values if v not in old.get("values", [])]
        record.update(
            values=values,
            folders={**old.get("folders", {}), **folders},
            created=old.get("created", record["created"]),
            target=record["target"] or old.get("target"),
        )
    else:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--study-dir: cannot create {str(root)!r}: {exc.strerror or exc}") from None
    write_text(root / VARIANTS_FILE, json.dumps(record, indent=2) + "\n")
    return record


def describe(record: dict[str, Any]) -> str:
    """``model.norm: 3 variants (batch, group, none)``."""
    values = record.get("values", [])
    return f"{record.get('field')}: {counted(len(values), 'variant')} ({', '.join(map(str, values))})"
