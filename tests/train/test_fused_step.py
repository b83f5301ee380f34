"""The loop's optimizer step: torch's fused kernels called directly give torch.optim's update bit for bit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from batchlab.train.fused_step import OptimizerStep

Factory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]

FUSED: dict[str, Factory] = {
    "sgd momentum nesterov decay": lambda p: torch.optim.SGD(
        p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3, fused=True
    ),
    "sgd plain": lambda p: torch.optim.SGD(p, lr=0.1, fused=True),
    "adam decay": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-3, fused=True),
    "adam amsgrad": lambda p: torch.optim.Adam(p, lr=0.01, amsgrad=True, fused=True),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, fused=True),
}


def _train(
    factory: Factory, direct: bool, *, schedule: bool = False, steps: int = 15
) -> tuple[list[torch.Tensor], int]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = factory(list(model.parameters()))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 1 / (1 + k)) if schedule else None
    step = OptimizerStep(optimizer)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        model(torch.randn(5, 6, generator=generator)).square().mean().backward()
        if direct:
            step()
        else:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if scheduler is not None:
            scheduler.step()
    return [p.detach().clone() for p in model.parameters()], step.direct_steps


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("schedule", [False, True])
def test_direct_fused_steps_equal_optimizer_step_bit_for_bit(name: str, schedule: bool) -> None:
    expected, _ = _train(FUSED[name], direct=False, schedule=schedule)
    got, direct = _train(FUSED[name], direct=True, schedule=schedule)
    assert direct == 14  # all but the first step, which creates the optimizer state
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


def test_other_optimizers_and_hooks_go_through_torch_optim() -> None:
    rmsprop: Factory = lambda p: torch.optim.RMSprop(p, lr=0.01)  # noqa: E731
    expected, _ = _train(rmsprop, direct=False)
    got, direct = _train(rmsprop, direct=True)
    assert direct == 0 and all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))

    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, fused=True)
    calls: list[int] = []
    optimizer.register_step_post_hook(lambda *_: calls.append(1))
    step = OptimizerStep(optimizer)
    for _ in range(3):
        model(torch.ones(1, 2)).sum().backward()
        step()
    assert len(calls) == 3 and step.direct_steps == 0


def test_a_loaded_state_is_picked_up_and_gradients_are_released() -> None:
    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, fused=True)
    step = OptimizerStep(optimizer)
    for _ in range(3):
        model(torch.ones(2, 3)).sum().backward()
        step()
    assert all(p.grad is None for p in model.parameters())
    optimizer.load_state_dict(optimizer.state_dict())  # a resume replaces the state tensors
    model(torch.ones(2, 3)).sum().backward()
    step()  # through torch.optim again, which rebuilds the cache from the new state
    assert step.direct_steps == 2
    assert int(optimizer.state[next(iter(model.parameters()))]["step"]) == 4
