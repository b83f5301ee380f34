"""Every workload batchlab serves against its bare-PyTorch-loop twin: training samples per second.

    python -m benchmarks.job workload NAME SYSTEM [--warmup 20] [--timed 200]

Workloads (:data:`WORKLOADS`): ``mlp`` (the throughput benchmark's MLP and data, batch 256), ``cnn`` and
``cnn-augment`` (``configs/mnist-cnn.yaml`` without and with its crop + rotation augmentation),
``text-bucketed`` and ``text-padded`` (``configs/sms-spam-transformer.yaml`` with ``train.bucket`` on and
off), ``char-gpt`` (``configs/shakespeare-char.yaml``) and ``speech-cnn`` (``configs/spoken-digits.yaml``:
noise, shift, log-mel features and SpecAugment computed per batch). Each runs on the CPU with the suite's
threads, ``train.max_steps = warmup + timed``, no checkpoints.

Systems:

* ``batchlab``: ``batchlab.fit`` of the config with the default callbacks (progress bar drawn to a
  terminal that writes to ``/dev/null``, validation after each epoch, metrics CSV, NaN guard, early
  stopping): the span from the end of step ``warmup`` to the end of the last step, so a validation pass
  at an epoch's end that falls inside it counts;
* ``bare``: the twin. The same data and the same ``nn.Module`` (prepared by batchlab, untimed), then a plain
  loop: its own batches (``torch.randperm`` and indexing; sequences padded to the batch's longest with
  ``pad_sequence``, in random order: no bucketing; language-model windows at random offsets), the same
  augmentation or audio transform called on each batch, ``F.cross_entropy`` (with one logit for two
  classes: ``F.binary_cross_entropy_with_logits``, as batchlab), ``zero_grad``, ``backward``
  and ``step`` of torch's optimizer of the same name and hyperparameters (torch's defaults otherwise, no
  schedule, no validation).

The result is training samples per second over the timed steps (windows of ``context`` tokens for the
character GPT); ``python -m benchmarks.run --sections workloads`` puts both systems of every workload
in one table, with their ratio taken within each round.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.workload import HIDDEN, LR, MOMENTUM, THREADS, workload_data

ROOT = Path(__file__).resolve().parents[1]

WORKLOADS: dict[str, tuple[str | None, list[str]]] = {
    "mlp": (None, ["train.batch_size=256"]),
    "cnn": ("configs/mnist-cnn.yaml", ["data.augment=[]"]),
    "cnn-augment": ("configs/mnist-cnn.yaml", []),
    "text-bucketed": ("configs/sms-spam-transformer.yaml", ["train.bucket=true"]),
    "text-padded": ("configs/sms-spam-transformer.yaml", ["train.bucket=false"]),
    "char-gpt": ("configs/shakespeare-char.yaml", []),
    "speech-cnn": ("configs/spoken-digits.yaml", []),
}
"""Workload name → (config file, or ``None`` for the MLP's generated one; overrides)."""

SYSTEMS = ("batchlab", "bare")


def _config(name: str, steps: int) -> Any:
    from batchlab.config import load_config, make_config

    path, overrides = WORKLOADS[name]
    common = [
        f"train.max_steps={steps}",
        "train.epochs=null",
        f"train.threads={THREADS}",
        "train.device=cpu",
        "train.checkpoint.every_epochs=null",
        "train.checkpoint.every_seconds=null",
    ]
    if path is None:
        data = workload_data(1)
        base = {
            "name": "mlp",
            "data": {"source": str(data.train_file), "split": {"val_source": str(data.val_file), "test": 0.0}},
            "model": {"name": "mlp", "hidden": list(HIDDEN), "activation": "relu"},
            "train": {"optimizer": {"name": "sgd", "lr": LR, "momentum": MOMENTUM}, "seed": 0},
        }
        base["data"]["scale"] = "none"  # the files are standardized already
        return make_config(base, [*overrides, *common])
    return load_config(ROOT / path, [*overrides, *common])


def _console() -> Any:
    from rich.console import Console

    return Console(file=open(os.devnull, "w"), force_terminal=True, width=120)


def run(name: str, system: str, warmup: int, timed: int) -> dict[str, float]:
    """Samples per second of ``system`` on workload ``name`` over ``timed`` steps after ``warmup``."""
    import torch

    torch.set_num_threads(THREADS)
    config = _config(name, warmup + timed)
    if system == "batchlab":
        return _batchlab(config, warmup)
    if system == "bare":
        return _bare(config, warmup, timed)
    raise ValueError(f"unknown system {system!r}; expected one of {', '.join(SYSTEMS)}")


def _batchlab(config: Any, warmup: int) -> dict[str, float]:
    import batchlab
    from batchlab.train.callbacks import Callback

    marks: dict[str, float] = {}
    samples = {"n": 0}

    class StepTimer(Callback):
        def on_step_end(self, state: Any) -> None:
            now = time.perf_counter()
            if state.step == warmup:
                marks["from"] = now
            elif state.step > warmup:
                samples["n"] += _step_samples(config)
            marks["to"] = now

    with tempfile.TemporaryDirectory() as run_dir:
        batchlab.fit(config, run_dir=Path(run_dir) / "run", callbacks=[StepTimer()], console=_console(), plots=False)
    seconds = marks["to"] - marks["from"]
    return {"samples_per_s": samples["n"] / seconds, "seconds": seconds}


def _step_samples(config: Any) -> int:
    size = config.train.batch_size
    return int(size) if isinstance(size, int) else 0


def _bare(config: Any, warmup: int, timed: int) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from batchlab.experiment.builder import _sequence_transforms, build_run
    from batchlab.experiment.components import image_augmentation

    parts = build_run(config)  # the same data and module, untimed
    model = parts.module
    model.train()
    transform = _sequence_transforms(config, parts.data, torch.device("cpu"))[0] or image_augmentation(config)
    optimizer = _plain_optimizer(config, model)
    batches = _plain_batches(config, parts.data)
    start = 0.0
    for step in range(warmup + timed):
        if step == warmup:
            start = time.perf_counter()
        batch = next(batches)
        if transform is not None:
            batch = transform(batch, 0, step)
        out = model(*batch.inputs)
        if out.shape[-1] == 1:  # two classes: one logit
            loss = F.binary_cross_entropy_with_logits(out.squeeze(-1), batch.y.to(out.dtype))
        else:
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), batch.y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    return {"samples_per_s": timed * _step_samples(config) / seconds, "seconds": seconds}


def _plain_optimizer(config: Any, model: Any) -> Any:
    import torch

    opt = config.train.optimizer
    params = model.parameters()
    if opt.name == "sgd":
        return torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay)
    if opt.name in ("adam", "adamw"):
        cls = torch.optim.AdamW if opt.name == "adamw" else torch.optim.Adam
        return cls(params, lr=opt.lr, weight_decay=opt.weight_decay)
    raise ValueError(f"no bare twin for optimizer {opt.name!r}")


def _plain_batches(config: Any, data: Any) -> Any:
    """Endless batches of the training split, made the plain way (see the module doc)."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    from batchlab.data.batch import Batch
    from batchlab.data.prepared import SequenceSplit, TokenStream

    size = int(config.train.batch_size)
    split = data.train
    if isinstance(split, TokenStream):
        windows = split.ids.unfold(0, config.data.context + 1, 1)
        while True:
            rows = windows[torch.randint(0, windows.shape[0], (size,))]
            yield Batch(rows[:, :-1].contiguous(), rows[:, 1:].contiguous())
    pad = float(data.input_spec.pad_id) if data.input_spec.kind == "tokens" else 0.0
    while True:
        order = torch.randperm(len(split))
        for i in range(0, len(order) - size + 1, size):
            index = order[i : i + size]
            if isinstance(split, SequenceSplit):
                values, offsets = split.x.values, split.x.offsets
                pieces = [values[offsets[j] : offsets[j + 1]] for j in index.tolist()]
                lengths = torch.tensor([len(p) for p in pieces], dtype=torch.int64)
                x = pad_sequence(pieces, batch_first=True, padding_value=pad)
                yield Batch(x, split.y[index], lengths)
            else:
                yield Batch(split.x[index], split.y[index])
