"""One batchlab run of ``configs/shakespeare-char.yaml`` for the text benchmark, printing each evaluation.

    python -m benchmarks.text_gpt_job --steps 4000 --eval-every 250 --target 1.88

The run is the config's, with ``train.max_steps`` and ``train.val_every_steps`` set from the flags (the
schedule decays over ``--steps``, as the bare script's does) and a stop at the first evaluation whose
``val_loss`` reaches ``--target``. Each evaluation prints ``{"step", "val_loss", "seconds"}`` as a JSON
line; ``seconds`` are the run's wall seconds in ``fit``, evaluation included.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import batchlab
from batchlab.study.callbacks import StopAtTarget
from batchlab.study.targets import Target
from batchlab.train.callbacks import Callback
from batchlab.train.state import LoopState

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "shakespeare-char.yaml"


class _Print(Callback):
    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        row = {"step": logs["step"], "val_loss": logs["val_loss"], "seconds": logs["seconds"]}
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--target", type=float, default=1.88)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    overrides = [
        f"train.max_steps={args.steps}",
        "train.epochs=null",
        f"train.val_every_steps={args.eval_every}",
        f"train.seed={args.seed}",
        "train.threads=2",
    ]
    target = Target("val_loss", args.target, "min")
    run_dir = Path(tempfile.mkdtemp(prefix="batchlab-gpt-")) / "run"
    batchlab.fit(str(CONFIG), overrides=overrides, run_dir=run_dir, callbacks=[StopAtTarget(target), _Print()],
                 progress=False, plots=False)  # fmt: skip


if __name__ == "__main__":
    main()
