"""Mixed precision and device placement (the CUDA tests run only where a GPU exists)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from batchlab.data.batching import MiniBatches
from batchlab.train.callbacks import Callback, Checkpointing
from batchlab.train.checkpoint import load_checkpoint
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.precision import Precision
from batchlab.train.state import LoopSettings, LoopState

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class _Watch(Callback):
    """Records what the loop does: the dtype of the first layer's output, the gradient scaler and its scale."""

    def __init__(self, model: nn.Module) -> None:
        self.dtypes: set[torch.dtype] = set()
        self.scales: list[float] = []
        self.scaler: object = "not seen"
        model[0].register_forward_hook(lambda _m, _i, out: self.dtypes.add(out.dtype))

    def on_train_begin(self, state: LoopState) -> None:
        self.scaler = self.context.components["precision"].scaler  # type: ignore[attr-defined]

    def on_step_end(self, state: LoopState) -> None:
        if isinstance(self.scaler, torch.amp.GradScaler):
            self.scales.append(float(self.scaler.get_scale()))


def _model(device: str = "cpu") -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).to(device)


def _fit(
    precision: str,
    device: str = "cpu",
    *,
    callbacks: tuple[Callback, ...] = (),
    state: LoopState | None = None,
    epochs: int = 8,
    **batch_options: object,
) -> tuple[LoopState, nn.Module, _Watch]:
    torch.manual_seed(0)
    x = torch.randn(256, 6)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    model = _model(device)
    watch = _Watch(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, fused=True)
    batches = MiniBatches(x, y, 32, seed=0, **batch_options)  # type: ignore[arg-type]
    state = fit(
        model,
        batches,
        objective=make_objective("classification", 3),
        optimizer=optimizer,
        settings=LoopSettings(epochs=epochs, precision=precision, grad_clip=5.0),
        callbacks=(watch, *callbacks),
        state=state,
    )
    return state, model, watch


def _fp16_on_cpu() -> None:
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            torch.nn.Linear(2, 2)(torch.ones(1, 2))
    except RuntimeError as exc:  # pragma: no cover - depends on the torch build
        pytest.skip(f"float16 autocast is not available on this CPU build: {exc}")


def test_fp32_autocast_is_a_no_op_and_unknown_names_are_rejected() -> None:
    precision = Precision("fp32", torch.device("cpu"))
    with precision.autocast():
        assert torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.float32
    assert precision.scaler is None
    with pytest.raises(ValueError, match="fp32, bf16, fp16"):
        Precision("fp8", torch.device("cpu"))


def test_bf16_runs_the_forward_pass_in_bfloat16_and_keeps_float32_weights() -> None:
    _, model, watch = _fit("bf16", epochs=1)
    assert watch.dtypes == {torch.bfloat16}
    assert watch.scaler is None  # bfloat16 has float32's exponent range: no loss scaling
    assert all(p.dtype == torch.float32 for p in model.parameters())
    _, _, plain = _fit("fp32", epochs=1)
    assert plain.dtypes == {torch.float32}


def test_bf16_changes_the_numbers_and_still_learns() -> None:
    state16, model16, _ = _fit("bf16")
    state32, model32, _ = _fit("fp32")
    # Same data, order and initial weights: only the forward pass's precision differs.
    pairs = zip(model16.parameters(), model32.parameters(), strict=True)
    gaps = [float((a - b).detach().abs().max()) for a, b in pairs]
    assert max(gaps) > 1e-3, gaps
    assert state16.history[0]["train_loss"] != state32.history[0]["train_loss"]
    assert state16.history[-1]["train_accuracy"] > 0.8
    assert abs(state16.history[-1]["train_loss"] - state32.history[-1]["train_loss"]) < 0.1


def test_fp16_scales_the_loss_and_learns() -> None:
    _fp16_on_cpu()
    state, _, watch = _fit("fp16")
    assert watch.dtypes == {torch.float16}
    assert isinstance(watch.scaler, torch.amp.GradScaler)
    assert watch.scales and min(watch.scales) > 1.0  # the loss was multiplied before backward
    assert state.history[-1]["train_accuracy"] > 0.8


def test_fp16_saves_the_gradient_scaler_in_checkpoints_and_resumes_it(tmp_path: Path) -> None:
    _fp16_on_cpu()
    checkpoints = Checkpointing(tmp_path, every_epochs=1, keep=1)
    _, _, watch = _fit("fp16", epochs=2, callbacks=(checkpoints,))
    assert isinstance(watch.scaler, torch.amp.GradScaler)
    saved = load_checkpoint(checkpoints.saved[-1]).state["components"]["precision"]
    assert saved == {k: v for k, v in watch.scaler.state_dict().items()}
    assert saved["scale"] == watch.scales[-1] and saved["_growth_tracker"] == 16  # steps since the last overflow

    class _ScalerAtStart(Callback):
        def on_train_begin(self, state: LoopState) -> None:
            self.state = self.context.components["precision"].scaler.state_dict()  # type: ignore[attr-defined]

    resumed = LoopState()
    resumed.load_state_dict(load_checkpoint(checkpoints.saved[-1]).state)
    start = _ScalerAtStart()
    _fit("fp16", epochs=3, callbacks=(start,), state=resumed)
    assert start.state == saved  # a fresh scaler would count from 0


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
    state, model, _ = _fit(precision, "cuda", device="cuda")
    assert next(model.parameters()).is_cuda
    assert state.history[-1]["train_accuracy"] > 0.8
