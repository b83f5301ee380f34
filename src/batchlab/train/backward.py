"""``loss.backward()`` for the loop's scalar loss, without the Python layers around autograd's engine.

``Tensor.backward`` goes through ``torch.autograd.backward``, which checks for ``__torch_function__``
overrides, functorch transforms, nested tensors and gradient shapes before it hands the loss to the C++
engine: 12 µs of CPU per call on this project's 2-core machine (163 µs against 151 µs per forward and
backward of a 64→128→10 MLP at batch 32, one thread: ``python -m benchmarks.step_cpu``). For the loop's
loss (a plain scalar tensor with a gradient function) none of those checks can apply, so :func:`backward`
calls the engine as ``torch.autograd.backward`` would, with the same arguments; anything else goes
through ``loss.backward()``. Gradients are the same, bit for bit.
"""

from __future__ import annotations

import torch

__all__ = ["backward"]

try:  # the engine entry torch.autograd.backward ends in (torch >= 2.3)
    from torch.autograd.graph import _engine_run_backward
except ImportError:  # pragma: no cover - older or newer torch without it
    _engine_run_backward = None  # type: ignore[assignment]


def backward(loss: torch.Tensor) -> None:
    """Accumulate ``d loss / d leaf`` into every leaf's ``.grad`` and free the graph (``loss.backward()``).

    Args:
        loss: a 0-dimensional tensor; a non-scalar, a tensor subclass or a call inside a functorch
            transform takes ``loss.backward()`` (which raises where that is an error).
    """
    if (
        _engine_run_backward is None
        or type(loss) is not torch.Tensor
        or loss.grad_fn is None
        or loss.dim() != 0
        or torch._C._are_functorch_transforms_active()
    ):
        loss.backward()  # type: ignore[no-untyped-call]
        return
    seed = torch.ones((), dtype=loss.dtype, device=loss.device)  # d loss / d loss, as autograd makes it
    _engine_run_backward((loss,), (seed,), False, False, (), allow_unreachable=True, accumulate_grad=True)
