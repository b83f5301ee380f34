"""CPU time per training step of ideas for a cheaper batch-32 step, on one thread.

    .venv/bin/python -m benchmarks.step_cpu [--steps 1500] [--rounds 3]

Wall time at batch 32 with 2 threads swings by 2x from one hour to the next on a shared machine; CPU
time of a single-threaded process (``time.process_time``) moves far less, so small differences can be
read from it. Each idea is measured in this one process, interleaved with its reference, round by round;
a cell is the median over steps of the faster half (µs per step).

* ``forward``: the MLP 64→256→256→10 (SGD with momentum, fused) as ``nn.Sequential``, as a functional
  forward (``F.linear`` / ``F.relu``, no module calls), and as one ``autograd.Function`` for the whole
  dense stack (``addmm``, ``relu``, a hand-written backward);
* ``backward``: ``loss.backward()`` against :func:`batchlab.train.backward.backward` (the digits MLP
  64→128→10, forward and backward only);
* ``sums``: the running loss and correct count as two in-place tensor kernels against Python numbers.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
import torch.nn.functional as F

BATCH = 32


class _DenseStack(torch.autograd.Function):
    """Linear → ReLU → ... → Linear over ``(weight, bias)`` pairs, one autograd node in all."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        layers = len(params) // 2
        activations, h = [x], x
        for i in range(layers):
            h = torch.addmm(params[2 * i + 1], h, params[2 * i].t())
            if i < layers - 1:
                h = torch.relu_(h)
            activations.append(h)
        ctx.save_for_backward(*activations, *params)
        ctx.layers = layers
        return h

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        layers = ctx.layers
        saved = ctx.saved_tensors
        activations, params = saved[: layers + 1], saved[layers + 1 :]
        grads: list[torch.Tensor | None] = [None] * (2 * layers)
        for i in reversed(range(layers)):
            grads[2 * i] = grad.t().mm(activations[i])
            grads[2 * i + 1] = grad.sum(0)
            if i > 0:
                grad = torch.ops.aten.threshold_backward(grad.mm(params[2 * i]), activations[i], 0)
        return (None, *grads)


def _mlp(widths: tuple[int, ...]) -> torch.nn.Sequential:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _per_step(step: Callable[[int], None], steps: int) -> float:
    """Median CPU µs of the faster half of ``steps`` calls."""
    times = []
    for i in range(steps):
        start = time.process_time()
        step(i)
        times.append(time.process_time() - start)
    times.sort()
    return statistics.median(times[: steps // 2]) * 1e6


def forward_ideas(steps: int) -> dict[str, float]:
    x, y = torch.randn(8192, 64), torch.randint(0, 10, (8192,))
    results = {}
    for name in ("sequential", "functional", "one autograd node"):
        model = _mlp((64, 256, 256, 10))
        params = list(model.parameters())
        linears = [m for m in model if isinstance(m, torch.nn.Linear)]
        optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.9, fused=True)

        def forward(xb: torch.Tensor, name: str = name, model: Any = model, linears: Any = linears) -> Any:
            if name == "sequential":
                return model(xb)
            if name == "functional":
                h = F.relu(F.linear(xb, linears[0].weight, linears[0].bias))
                h = F.relu(F.linear(h, linears[1].weight, linears[1].bias))
                return F.linear(h, linears[2].weight, linears[2].bias)
            return _DenseStack.apply(xb, *[t for m in linears for t in (m.weight, m.bias)])

        def step(i: int, forward: Any = forward, optimizer: Any = optimizer) -> None:
            rows = slice((i * BATCH) % 8000, (i * BATCH) % 8000 + BATCH)
            loss = F.cross_entropy(forward(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        results[name] = _per_step(step, steps)
    return results


def backward_ideas(steps: int) -> dict[str, float]:
    from batchlab.train.backward import backward

    model = _mlp((64, 128, 10))
    x, y = torch.randn(BATCH, 64), torch.randint(0, 10, (BATCH,))
    results = {}
    for name, run in (("loss.backward()", lambda loss: loss.backward()), ("engine directly", backward)):

        def step(i: int, run: Any = run) -> None:
            run(F.cross_entropy(model(x), y))
            for p in model.parameters():
                p.grad = None

        results[name] = _per_step(step, steps)
    return results


def sums_ideas(steps: int) -> dict[str, float]:
    loss, correct = torch.tensor(0.5), torch.tensor(7)
    loss_sum, correct_sum = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.int64)
    numbers = [0.0, 0]

    def kernels(i: int) -> None:
        loss_sum.add_(loss, alpha=BATCH)
        correct_sum.add_(correct)

    def python(i: int) -> None:
        numbers[0] += float(loss) * BATCH
        numbers[1] += int(correct)

    return {"two in-place kernels": _per_step(kernels, steps), "Python numbers": _per_step(python, steps)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_cpu")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cells: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for group, ideas in (("forward", forward_ideas), ("backward", backward_ideas), ("sums", sums_ideas)):
            for name, micros in ideas(args.steps).items():
                cells.setdefault((group, name), []).append(micros)
    print(f"CPU µs per step, one thread, {args.rounds} rounds: median (min–max)\n")
    print("| part | way | µs |\n|---|---|---:|")
    for (group, name), values in cells.items():
        print(f"| {group} | {name} | {statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f}) |")


if __name__ == "__main__":
    main()
