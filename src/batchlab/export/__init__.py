"""``batchlab export RUN_DIR --format onnx -o model.onnx``: a trained run as one file for deployment runtimes,
with its numeric preprocessing folded in (see :mod:`batchlab.export.deployed` for what is and what is not).

Example:
    >>> from batchlab.export import export_run
    >>> written = export_run("runs/digits", "digits.onnx")  # doctest: +SKIP
    >>> written.max_difference < 1e-4  # doctest: +SKIP
    True
"""

from __future__ import annotations

from pathlib import Path

from batchlab.export.writers import FORMATS, WrittenModel

__all__ = ["FORMATS", "WrittenModel", "check_output", "export_run"]


def check_output(output: str | Path, fmt: str) -> Path:
    """``output`` and ``fmt`` checked before a run is loaded.

    Raises:
        ConfigError: an unknown format; ``output`` is a directory or lies under a file.
    """
    from batchlab.errors import ConfigError, did_you_mean

    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format {fmt!r}; {did_you_mean(fmt, FORMATS)}")
    out = Path(output)
    if out.is_dir() or str(output).endswith(("/", "\\")):
        raise ConfigError(
            f"--output: {str(out)!r} is a directory; give a file name such as {str(out / ('model.' + fmt))!r}"
        )
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"--output: {str(parent)!r} is not a directory")
            break
    return out


def export_run(run_dir: str | Path, output: str | Path, fmt: str = "onnx") -> WrittenModel:
    """Export a finished run's model, preprocessing folded in, to ``output``.

    The file is written atomically, and only after it was run (onnxruntime, or ``torch.jit.load``) on
    inputs of other batch sizes and lengths than the traced ones and found to match PyTorch.

    Args:
        run_dir: a run directory written by ``batchlab train``.
        output: the file to write.
        fmt: ``onnx`` or ``torchscript``.

    Returns:
        What was written and how closely it matches PyTorch.

    Raises:
        ConfigError: a bad format or output path; the ``onnx`` extra is missing.
        CheckpointError: ``run_dir`` is not a finished run (or was trained on a custom module).
        BatchlabError: the model cannot be exported in this format.
    """
    import torch

    from batchlab.experiment.inference import load_run
    from batchlab.export.deployed import deployed_model
    from batchlab.export.writers import write_onnx, write_torchscript
    from batchlab.version import VERSION as __version__

    out = check_output(output, fmt)
    trained = load_run(run_dir)
    trained.model.to(torch.device("cpu")).eval()
    module, spec = deployed_model(trained)
    metadata = {
        "run": trained.run.path.name,
        "name": trained.config.name,
        "model": trained.config.model.name,
        "batchlab": __version__,
        "torch": torch.__version__,
    }
    writer = write_onnx if fmt == "onnx" else write_torchscript
    return writer(module, spec, out, metadata)
