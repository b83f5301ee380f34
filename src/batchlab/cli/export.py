"""``batchlab export RUN_DIR --format onnx -o model.onnx``: a trained run as one file for deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batchlab.cli.app import app, console, user_errors

__all__ = ["export"]


@app.command()
@user_errors
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `batchlab train`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write (model.onnx, model.pt).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="onnx or torchscript.")] = "onnx",
) -> None:
    """Export the run's model with its numeric preprocessing folded in, checked against PyTorch."""
    from batchlab.export import check_output, export_run

    check_output(output, fmt)  # before the run is loaded: a bad flag costs nothing
    written = export_run(run_dir, output, fmt)
    checked = (
        f"; {written.checked_by} matches PyTorch within {written.max_difference:.1e}"
        if written.max_difference is not None
        else "; not run (install onnxruntime to check it)"
    )
    console.print(
        f"Exported {written.format} ({written.exporter}) to {written.path}{checked}", markup=False, soft_wrap=True
    )
