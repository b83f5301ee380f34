"""The optimizer step of the training loop: torch's fused kernels without torch.optim's per-call Python.

``torch.optim.Optimizer.step()`` rebuilds the lists of parameters, gradients and state tensors, groups
them by device and dtype and runs profiler and hook bookkeeping on every call. For a small model that
costs as much as the update itself (about 60 µs per step on a CPU core for a 3-layer MLP, next to about
30 µs in the fused SGD kernel). :class:`OptimizerStep` caches those lists once and calls the same
fused kernel (``torch._fused_sgd_``, ``torch._fused_adam_``, ``torch._fused_adamw_``) with the
group's current hyperparameters, so a learning-rate schedule still applies. The update is the one
``optimizer.step()`` computes, bit for bit.

It falls back to ``optimizer.step()`` whenever the cache cannot be trusted: any optimizer other than
torch's SGD, Adam and AdamW with ``fused=True``; the first step (torch creates the state there); a
state replaced by ``load_state_dict``; registered step hooks; a missing or sparse gradient; a tensor
learning rate; AMP grad scaling. Gradients are then released (``set_to_none``).

Example:
    >>> import torch
    >>> model = torch.nn.Linear(4, 2)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, fused=True)
    >>> step = OptimizerStep(opt)
    >>> for _ in range(3):
    ...     model(torch.ones(1, 4)).sum().backward()
    ...     step()
    >>> all(p.grad is None for p in model.parameters())
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

__all__ = ["OptimizerStep"]

_FUSED_KINDS = {torch.optim.SGD: "sgd", torch.optim.Adam: "adam", torch.optim.AdamW: "adam"}


class OptimizerStep:
    """``step()`` then ``zero_grad(set_to_none=True)`` for one optimizer, as cheaply as torch allows.

    Args:
        optimizer: any ``torch.optim.Optimizer``; only torch's own SGD, Adam and AdamW built with
            ``fused=True`` (what :func:`~batchlab.train.optim.build_optimizer` gives on CPU and CUDA)
            take the direct path, the rest always run ``optimizer.step()``.

    Attributes:
        direct_steps: steps taken through the cached fused kernel (the rest went through torch.optim).
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.kind = _FUSED_KINDS.get(type(optimizer))
        self.direct_steps = 0
        self._state: Any = None  # the optimizer.state object the cache was built from
        self._groups: list[_Group] = []
        self._generic_zero = type(optimizer).zero_grad is not torch.optim.Optimizer.zero_grad
        self._params = [p for group in optimizer.param_groups for p in group["params"]]

    def __call__(self) -> None:
        """Apply the current gradients, then drop them."""
        if not self._step_directly():
            self.optimizer.step()
            self._build_cache()
        self.zero_grad()

    def _step_directly(self) -> bool:
        optimizer = self.optimizer
        if self._state is not optimizer.state or not self._groups:
            return False
        if optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks:
            return False
        if _global_optimizer_pre_hooks or _global_optimizer_post_hooks:
            return False
        if getattr(optimizer, "grad_scale", None) is not None or getattr(optimizer, "found_inf", None) is not None:
            return False
        grads_per_group = []
        for cached in self._groups:
            grads = [p.grad for p in cached.params]
            if any(g is None or g.is_sparse for g in grads):
                return False
            if isinstance(cached.group["lr"], torch.Tensor):
                return False
            grads_per_group.append(grads)
        with torch.no_grad():
            for cached, grads in zip(self._groups, grads_per_group, strict=True):
                cached.apply(grads)  # type: ignore[arg-type]
        optimizer._opt_called = True  # type: ignore[attr-defined]  # what LR schedulers check for
        self.direct_steps += 1
        return True

    def _build_cache(self) -> None:
        """Cache parameter and state lists after a regular step, when the direct path applies."""
        self._groups, self._state = [], None
        if self.kind is None:
            return
        groups = []
        for group in self.optimizer.param_groups:
            cached = _Group.build(self.kind, group, self.optimizer.state)
            if cached is None:
                return
            groups.append(cached)
        self._groups, self._state = groups, self.optimizer.state

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (``optimizer.zero_grad(set_to_none=True)``)."""
        if self._generic_zero:
            self.optimizer.zero_grad(set_to_none=True)
            return
        for p in self._params:
            p.grad = None


class _Group:
    """One parameter group's tensors and the fused kernel that updates them."""

    def __init__(self, kind: str, group: dict[str, Any], params: list[torch.Tensor], state: list[list[Any]]) -> None:
        self.kind = kind
        self.group = group
        self.params = params
        self.state = state

    @classmethod
    def build(cls, kind: str, group: dict[str, Any], optimizer_state: Any) -> _Group | None:
        """The cache of ``group``, or ``None`` when the direct path does not apply to it."""
        params = list(group["params"])
        if not group.get("fused") or group.get("differentiable") or not params:
            return None
        if len({(p.device, p.dtype) for p in params}) != 1 or any(p.is_complex() for p in params):
            return None
        if kind == "sgd" and group["momentum"] == 0:
            return cls(kind, group, params, [[]])  # plain SGD keeps no state
        states = [optimizer_state.get(p) for p in params]
        if any(not s for s in states):
            return None  # a parameter without a gradient at the last step has no state yet
        if kind == "sgd":
            return cls(kind, group, params, [[s["momentum_buffer"] for s in states]])
        if group.get("capturable") or any(isinstance(b, torch.Tensor) for b in group["betas"]):
            return None
        columns = [[s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]]
        columns.append([s["max_exp_avg_sq"] for s in states] if group["amsgrad"] else [])
        columns.append([s["step"] for s in states])
        return cls(kind, group, params, columns)

    def apply(self, grads: list[torch.Tensor]) -> None:
        group = self.group
        if self.kind == "sgd":
            torch._fused_sgd_(
                self.params,
                grads,
                self.state[0],
                weight_decay=group["weight_decay"],
                momentum=group["momentum"],
                lr=group["lr"],
                dampening=group["dampening"],
                nesterov=group["nesterov"],
                maximize=group["maximize"],
                is_first_step=False,
                grad_scale=None,
                found_inf=None,
            )
            return
        exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = self.state
        torch._foreach_add_(steps, 1)
        kernel = torch._fused_adamw_ if group.get("decoupled_weight_decay") else torch._fused_adam_
        beta1, beta2 = group["betas"]
        kernel(
            self.params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            max_exp_avg_sqs,
            steps,
            amsgrad=group["amsgrad"],
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
            grad_scale=None,
            found_inf=None,
        )
