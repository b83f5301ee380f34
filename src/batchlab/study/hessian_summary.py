"""The Hessian-aware noise-scale measurement a report compares with the knee, and its one-line description.

A noise-scale run with ``--hessian`` stores its measurements in ``noise_scale.json`` under ``hessian``
(see :class:`~batchlab.train.callbacks.hessian_noise_scale.HessianNoiseScale`); earlier files have no such
key and give no summary.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["HESSIAN_ESTIMATES", "above_optimum", "hessian_line", "hessian_summary", "negative_curvature"]

#: The Hessian-aware estimates a summary reports (each with its interval), in samples.
HESSIAN_ESTIMATES = ("b_simple", "b_noise", "b_temperature")


def hessian_summary(
    noise: dict[str, Any], target_step: int | None, tokens_per_sample: float | None = None
) -> dict[str, Any] | None:
    """The Hessian-aware measurement to compare with the knee: the one taken when the target was first
    reached, else the last one at or before ``target_step``, else the last one.

    Returns:
        ``None`` without measurements; else ``step``, ``at_target``, ``samples``, ``groups``, ``optimizer``,
        ``lr`` (the plain-SGD step rate used for ``b_temperature``), ``eps_max``, ``level`` and, for each
        of ``b_simple``, ``b_noise`` and ``b_temperature`` (in samples), its value and ``<name>_interval``
        (``[low, high]``); on text the same in valid tokens (``<name>_tokens``, ``<name>_tokens_interval``,
        times ``tokens_per_sample``).
    """
    block = noise.get("hessian")
    measured = [m for m in (block or {}).get("measurements", []) if isinstance(m, dict)]
    if not measured:
        return None
    chosen = next((m for m in measured if m.get("at_target")), None)
    if chosen is None and target_step is not None:
        before = [m for m in measured if m.get("step", 0) <= target_step]
        chosen = before[-1] if before else None
    chosen = chosen or measured[-1]
    intervals = chosen.get("intervals", {})
    out: dict[str, Any] = {
        key: chosen.get(key)
        for key in ("step", "at_target", "samples", "groups", "optimizer", "lr", "eps_max", "grad_h_grad", "level")
    }
    for name in HESSIAN_ESTIMATES:
        out[name] = chosen.get(name)
        out[name + "_interval"] = intervals.get(name)
        if tokens_per_sample:
            value, bounds = out[name], out[name + "_interval"]
            out[name + "_tokens"] = value * tokens_per_sample if _is_number(value) else None
            out[name + "_tokens_interval"] = (
                [b * tokens_per_sample if _is_number(b) else b for b in bounds] if bounds else None
            )
    return out


def hessian_line(hessian: dict[str, Any] | None, b_crit: float | None = None, unit: str = "samples") -> str | None:
    """One sentence with the Hessian-aware estimates and their intervals (and ratios to ``b_crit``)."""
    if not hessian:
        return None
    suffix = "_tokens" if unit == "tokens" else ""
    if unit == "tokens" and hessian.get("b_noise_tokens") is None and hessian.get("b_noise") is not None:
        suffix = ""  # no token conversion: stay in samples, and a knee in tokens is not comparable
        unit, b_crit = "samples", None
    name = "valid tokens" if unit == "tokens" else "samples"
    level = hessian.get("level") or 0.9
    labels = {"b_simple": "B_simple", "b_noise": "B_noise", "b_temperature": "batch at the trained rate"}
    parts = []
    for key, label in labels.items():
        value = hessian.get(key + suffix)
        bounds = hessian.get(key + suffix + "_interval") or [None, None]
        if key == "b_temperature" and negative_curvature(hessian):
            parts.append(f"{label}: none (no optimal step under negative curvature)")
            continue
        if key == "b_temperature" and above_optimum(hessian):
            parts.append(f"{label}: none (the rate exceeds eps_max: no batch makes it the optimal step)")
            continue
        ratio = f", {value / b_crit:.2f} x B_crit" if b_crit and isinstance(value, (int, float)) else ""
        parts.append(f"{label} ≈ {_fmt(value)} [{_fmt(bounds[0])}–{_fmt(bounds[1])}]{ratio}")
    when = " when the target was first reached" if hessian.get("at_target") else ""
    rate = ""
    if _is_number(hessian.get("lr")) and _is_number(hessian.get("eps_max")):
        rate = f" (rate {hessian['lr']:.3g} as a plain-SGD step, eps_max {hessian['eps_max']:.3g})"
    if negative_curvature(hessian):
        rate = " (GᵀHG < 0: negative curvature along the gradient, outside the quadratic model behind B_noise)"
    return (
        f"Hessian-aware noise scale{when} (step {hessian.get('step')}, {hessian.get('samples')} examples in "
        f"{hessian.get('groups')} groups, {level:.0%} intervals, in {name}): " + "; ".join(parts) + rate + "."
    )


def above_optimum(hessian: dict[str, Any]) -> bool:
    """Whether the trained rate is at least ``eps_max``, the optimal step of the noiseless gradient (then the
    batch at the trained rate is infinite: JSON stores it as null)."""
    lr, eps_max = hessian.get("lr"), hessian.get("eps_max")
    return isinstance(lr, (int, float)) and isinstance(eps_max, (int, float)) and lr >= eps_max


def negative_curvature(hessian: dict[str, Any]) -> bool:
    """Whether ``G^T H G < 0`` at the measurement: the loss curves down along the gradient."""
    value = hessian.get("grad_h_grad")
    return isinstance(value, (int, float)) and value < 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:,.0f}" if _is_number(value) else "n/a"
