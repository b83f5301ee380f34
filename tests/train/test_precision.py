"""Mixed precision and device placement (the CUDA tests run only where a GPU exists)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from batchlab.data.batching import MiniBatches
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.precision import Precision
from batchlab.train.state import LoopSettings, LoopState

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _fit(precision: str, device: str = "cpu", **batch_options: object) -> tuple[LoopState, nn.Module]:
    torch.manual_seed(0)
    x = torch.randn(256, 6)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, fused=True)
    batches = MiniBatches(x, y, 32, seed=0, **batch_options)  # type: ignore[arg-type]
    state = fit(
        model,
        batches,
        objective=make_objective("classification", 3),
        optimizer=optimizer,
        settings=LoopSettings(epochs=8, precision=precision, grad_clip=5.0),
    )
    return state, model


def test_fp32_autocast_is_a_no_op_and_unknown_names_are_rejected() -> None:
    precision = Precision("fp32", torch.device("cpu"))
    with precision.autocast():
        assert torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.float32
    assert precision.scaler is None
    with pytest.raises(ValueError, match="fp32, bf16, fp16"):
        Precision("fp8", torch.device("cpu"))


def test_bf16_training_learns_and_keeps_float32_weights() -> None:
    state, model = _fit("bf16")
    assert state.history[-1]["train_accuracy"] > 0.8
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_fp16_training_scales_the_loss() -> None:
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            torch.nn.Linear(2, 2)(torch.ones(1, 2))
    except RuntimeError as exc:  # pragma: no cover - depends on the torch build
        pytest.skip(f"float16 autocast is not available on this CPU build: {exc}")
    state, _ = _fit("fp16")
    assert state.history[-1]["train_accuracy"] > 0.8


@cuda
def test_cuda_batches_are_gathered_on_the_device_and_staged_ones_match() -> None:
    x, y = torch.randn(100, 3), torch.arange(100)
    on_device = MiniBatches(x.cuda(), y.cuda(), 16, seed=0)
    staged = MiniBatches(x, y, 16, seed=0, device="cuda")  # data kept in host memory, pinned copies
    for a, b in zip(on_device.epoch(1), staged.epoch(1), strict=True):
        xa, ya, xb, yb = a.x, a.y, b.x, b.y
        assert xa.is_cuda and xb.is_cuda and torch.equal(xa, xb) and torch.equal(ya, yb)


@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_training_in_every_precision(precision: str) -> None:
    state, model = _fit(precision, "cuda", device="cuda")
    assert next(model.parameters()).is_cuda
    assert state.history[-1]["train_accuracy"] > 0.8
