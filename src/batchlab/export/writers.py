"""Writing a :class:`~batchlab.export.deployed.DeployedModel` to a file: ONNX (through ``torch.onnx``) or
TorchScript (``torch.jit.trace``), each checked against PyTorch before the file is put in place.

ONNX export uses the ``torch.export``-based exporter, except for LSTM and GRU models: those run on packed
sequences (``pack_padded_sequence``), which ``torch.export`` cannot trace, so they go through the older
TorchScript-based exporter, which turns packing into the ``sequence_lens`` of ONNX's recurrent operators.
Either way the batch (and, for sequences, the time) dimension stays free.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from batchlab.atomic import atomic_path
from batchlab.errors import BatchlabError, ConfigError
from batchlab.export.deployed import DeployedModel, DeploymentSpec

__all__ = ["CHECK_TOLERANCE", "FORMATS", "WrittenModel", "example_inputs", "write_onnx", "write_torchscript"]

FORMATS = ("onnx", "torchscript")
"""The formats ``batchlab export --format`` writes."""

CHECK_TOLERANCE = 1e-4
"""Largest absolute difference allowed between the written file's outputs and PyTorch's on the check inputs."""

METADATA_KEY = "batchlab"
"""The ONNX metadata key (and TorchScript extra file ``batchlab.json``) holding the deployment description."""


@dataclass(frozen=True)
class WrittenModel:
    """An exported file.

    Attributes:
        path: the file.
        format: ``onnx`` or ``torchscript``.
        exporter: how it was made (``torch.export``, ``TorchScript-based exporter``, ``torch.jit.trace``).
        max_difference: largest absolute difference from PyTorch's outputs on the check inputs.
        checked_by: what ran the file for that check (``onnxruntime``, ``torch.jit.load``), or ``None``
            when it was not run (onnxruntime missing).
    """

    path: Path
    format: str
    exporter: str
    max_difference: float | None
    checked_by: str | None


def example_inputs(spec: DeploymentSpec, *, batch: int = 3, time: int = 16, seed: int = 0) -> tuple[Any, ...]:
    """Inputs of the right kinds and shapes to trace and check an export (random, seeded).

    Sequences are ``min(time, max_length)`` steps long with ragged lengths (the first one full); token
    ids avoid the padding id 0.
    """
    generator = torch.Generator().manual_seed(seed)
    x_dtype, x_shape = spec.inputs[0][1], spec.inputs[0][2]
    time = max(1, min(spec.max_length or time, time))
    shape = [batch if d == "batch" else time if d == "time" else int(d) for d in x_shape]
    if x_dtype == "int64":
        x = torch.randint(1, max(2, spec.vocab_size or 2), shape, generator=generator)
    else:
        x = torch.randn(shape, generator=generator)
        if spec.kind == "image":
            x = x.abs() * 4.0  # pixels are not negative
    if "lengths" not in spec.input_names:
        return (x,)
    lengths = torch.randint(1, time + 1, (batch,), generator=generator)
    lengths[0] = time
    return (x, lengths)


def write_onnx(module: DeployedModel, spec: DeploymentSpec, path: str | Path, metadata: dict[str, Any]) -> WrittenModel:
    """Export ``module`` to the ONNX file ``path`` (atomically), with ``spec`` and ``metadata`` in its
    metadata, checked by the ONNX checker and, when installed, against PyTorch in onnxruntime.

    Raises:
        ConfigError: the ``onnx`` extra is not installed.
        BatchlabError: the model cannot be exported, or the exported file computes something else.
    """
    try:
        import onnx
    except ImportError:
        raise ConfigError("--format onnx needs onnx and onnxscript: pip install 'batchlab[onnx]'") from None
    path = Path(path)
    example = example_inputs(spec)
    recurrent = any(isinstance(m, nn.RNNBase) for m in module.modules())
    exporter = "TorchScript-based exporter" if recurrent else "torch.export"
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory(prefix="batchlab-export-") as scratch:
        # The exporter may write the weights to a side file: export in a scratch folder, then save one file.
        exported = Path(scratch) / "model.onnx"
        with _quiet():
            try:
                if recurrent:
                    _export_legacy(module, spec, example, exported)
                else:
                    _export_dynamo(module, spec, example, exported)
            except ImportError as exc:
                raise ConfigError(
                    f"--format onnx needs {exc.name or 'onnxscript'}: pip install 'batchlab[onnx]'"
                ) from None
            except Exception as exc:  # the exporters raise many kinds; the message is what helps
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise BatchlabError(
                    f"cannot export {type(module.network).__name__} to ONNX ({exporter}): {first}"
                ) from exc
        model = onnx.load(str(exported))  # external weights, if any, are read in
        description = {**metadata, **spec.to_dict()}
        del model.metadata_props[:]
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(description)
        model.doc_string = " ".join(spec.notes)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        difference, checker = _check_onnx(tmp, module, spec)
    return WrittenModel(path, "onnx", exporter, difference, checker)


def write_torchscript(
    module: DeployedModel, spec: DeploymentSpec, path: str | Path, metadata: dict[str, Any]
) -> WrittenModel:
    """Trace ``module`` with ``torch.jit.trace`` into ``path`` (atomically), the description in the extra file
    ``batchlab.json``; the saved file is loaded back and checked on inputs of another batch size and length.

    Raises:
        BatchlabError: the model cannot be traced, or the traced file computes something else.
    """
    path = Path(path)
    example = example_inputs(spec)
    description = json.dumps({**metadata, **spec.to_dict()})
    with atomic_path(path) as tmp:
        with _quiet():
            try:
                traced = torch.jit.trace(module, example, check_trace=False, strict=False)  # type: ignore[no-untyped-call]
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise BatchlabError(f"cannot trace {type(module.network).__name__} for TorchScript: {first}") from exc
            torch.jit.save(traced, str(tmp), _extra_files={"batchlab.json": description})
            loaded = torch.jit.load(str(tmp))  # type: ignore[no-untyped-call]
        difference = 0.0
        for inputs in _check_inputs(spec):
            with torch.no_grad():
                want = module(*inputs)
                got = _run_check(lambda inputs=inputs: loaded(*inputs), "torch.jit.load", inputs)
            difference = max(difference, _max_difference(want, got))
        _require_close(difference, "torch.jit.load")
    return WrittenModel(path, "torchscript", "torch.jit.trace", difference, "torch.jit.load")


def _export_dynamo(module: nn.Module, spec: DeploymentSpec, example: tuple[Any, ...], path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)
    dims: list[dict[int, Any]] = []
    time = torch.export.Dim("time", min=1, max=spec.max_length) if spec.max_length else torch.export.Dim("time", min=1)
    for _, _, shape in spec.inputs:
        dims.append({i: batch if d == "batch" else time for i, d in enumerate(shape) if d in ("batch", "time")})
    torch.onnx.export(
        module,
        example,
        str(path),
        dynamo=True,
        input_names=spec.input_names,
        output_names=spec.output_names,
        dynamic_shapes=tuple(dims),
        optimize=True,
        verify=False,
    )


def _export_legacy(module: nn.Module, spec: DeploymentSpec, example: tuple[Any, ...], path: Path) -> None:
    axes = {name: {i: d for i, d in enumerate(shape) if isinstance(d, str)} for name, _, shape in spec.inputs}
    axes.update({name: {i: d for i, d in enumerate(shape) if isinstance(d, str)} for name, _, shape in spec.outputs})
    torch.onnx.export(
        module,
        example,
        str(path),
        dynamo=False,
        input_names=spec.input_names,
        output_names=spec.output_names,
        dynamic_axes=axes,
        opset_version=17,
    )


def _check_onnx(path: Path, module: DeployedModel, spec: DeploymentSpec) -> tuple[float | None, str | None]:
    """Run the file in onnxruntime on inputs of other batch sizes and lengths than the traced ones."""
    try:
        import onnxruntime
    except ImportError:
        return None, None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    difference = 0.0
    for inputs in _check_inputs(spec):
        feeds = {name: value.numpy() for name, value in zip(spec.input_names, inputs, strict=True)}
        got = _run_check(lambda feeds=feeds: session.run(spec.output_names, feeds), "onnxruntime", inputs)
        with torch.no_grad():
            want = module(*inputs)
        difference = max(difference, _max_difference(want, tuple(torch.from_numpy(g) for g in got)))
    _require_close(difference, "onnxruntime")
    return difference, "onnxruntime"


def _check_inputs(spec: DeploymentSpec) -> list[tuple[Any, ...]]:
    """Inputs of other batch sizes (and, for sequences, lengths) than the traced ones: a shape frozen into
    the file by tracing shows up as an error or a difference."""
    return [example_inputs(spec, batch=5, time=11, seed=1), example_inputs(spec, batch=1, time=16, seed=2)]


def _run_check(run: Any, runner: str, inputs: tuple[Any, ...]) -> Any:
    """``run()``; an error there (a traced shape that does not generalize, say) becomes a one-line error."""
    try:
        return run()
    except Exception as exc:
        shape = "x".join(str(d) for d in inputs[0].shape)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BatchlabError(
            f"the exported model fails in {runner} on inputs of shape {shape}: {first[:300]}; nothing was written"
        ) from exc


def _max_difference(want: tuple[torch.Tensor, ...], got: tuple[torch.Tensor, ...]) -> float:
    if len(want) != len(got):
        return float("inf")
    worst = 0.0
    for a, b in zip(want, got, strict=True):
        if a.shape != b.shape:
            return float("inf")
        worst = max(worst, float((a.float() - b.float()).abs().max()) if a.numel() else 0.0)
    return worst


def _require_close(difference: float, runner: str) -> None:
    if not difference <= CHECK_TOLERANCE:
        raise BatchlabError(
            f"the exported model differs from PyTorch by {difference:.3g} in {runner} (more than "
            f"{CHECK_TOLERANCE:g}); nothing was written"
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters print progress and warn about experimental features: keep the command's output clean."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
