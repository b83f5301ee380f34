"""The loop's backward pass: autograd's engine called directly, with the gradients of ``loss.backward()``."""

from __future__ import annotations

import pytest
import torch

from batchlab.train import backward as backward_module
from batchlab.train.backward import backward


def _model_and_loss(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.randn(5, 6), torch.tensor([0, 2, 1, 1, 0])
    return model, torch.nn.functional.cross_entropy(model(x), y)


def test_gradients_are_those_of_loss_backward_bit_for_bit() -> None:
    reference, loss = _model_and_loss()
    loss.backward()
    direct, loss = _model_and_loss()
    backward(loss)
    for expected, got in zip(reference.parameters(), direct.parameters(), strict=True):
        assert got.grad is not None and torch.equal(got.grad, expected.grad)


def test_gradients_accumulate_and_the_graph_is_freed() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    x = torch.randn(3, 4)
    backward(model(x).square().mean())
    once = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
    loss = model(x).square().mean()
    backward(loss)
    for p, g in zip(model.parameters(), once, strict=True):
        assert torch.equal(p.grad, 2 * g)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="second time"):
        backward(loss)


def test_the_engine_is_called_directly_for_a_plain_scalar_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = backward_module._engine_run_backward

    def engine(*args: object, **kwargs: object) -> object:
        calls.append("engine")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backward_module, "_engine_run_backward", engine)
    monkeypatch.setattr(torch.Tensor, "backward", lambda self, *a, **k: calls.append("tensor.backward"))
    _, loss = _model_and_loss()
    backward(loss)
    backward(torch.ones(3, requires_grad=True).sum())  # a leaf's sum: still a plain scalar with a grad_fn
    assert calls == ["engine", "engine"]


def test_anything_else_goes_through_loss_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch.Tensor, "backward", lambda self, *a, **k: calls.append(type(self).__name__))
    backward(torch.ones(3, requires_grad=True) * 2)  # not a scalar: backward() raises its own error
    backward(torch.ones((), requires_grad=True))  # a leaf: no gradient function
    assert calls == ["Tensor", "Tensor"]


def test_a_non_scalar_loss_gets_torchs_error() -> None:
    with pytest.raises(RuntimeError, match="scalar outputs"):
        backward(torch.ones(3, requires_grad=True) * 2)
