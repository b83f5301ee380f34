from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch

from batchlab.config import OptimizerConfig, ScheduleConfig
from batchlab.train.optim import build_optimizer, build_scheduler, lr_multiplier

# ------------------------------------------------------------------------------------------ optimizers


def _param() -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 3.0]))


def _grads() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(4, generator=g) for _ in range(3)]


def _run(cfg: OptimizerConfig, fused: bool | None) -> torch.Tensor:
    p = _param()
    opt = build_optimizer([p], cfg, fused=fused)
    for g in _grads():
        p.grad = g.clone()
        opt.step()
    return p.detach()


def _reference(cfg: OptimizerConfig) -> torch.Tensor:
    """The same three updates rebuilt from the published formulas."""
    w = _param().detach().clone()
    lr, wd, eps, mu = cfg.lr, cfg.weight_decay, cfg.eps, cfg.momentum
    b1, b2 = cfg.betas
    buf = m = v = torch.zeros_like(w)
    for t, g in enumerate(_grads(), start=1):
        if cfg.name == "sgd":
            g = g + wd * w
            buf = g.clone() if t == 1 else mu * buf + g
            w = w - lr * (g + mu * buf if cfg.nesterov else buf)
        elif cfg.name in ("adam", "adamw"):
            if cfg.name == "adamw":
                w = w * (1 - lr * wd)
            else:
                g = g + wd * w
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            w = w - lr * m_hat / (v_hat.sqrt() + eps)
        else:  # rmsprop, alpha = 0.99
            g = g + wd * w
            v = 0.99 * v + 0.01 * g * g
            step = g / (v.sqrt() + eps)
            buf = mu * buf + step
            w = w - lr * (buf if mu > 0 else step)
    return w


CONFIGS = [
    OptimizerConfig(name="sgd", lr=0.1, momentum=0.0),
    OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, weight_decay=0.01),
    OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    OptimizerConfig(name="adam", lr=0.01, weight_decay=0.1),
    OptimizerConfig(name="adamw", lr=0.01, weight_decay=0.1, betas=(0.8, 0.99), eps=1e-6),
    OptimizerConfig(name="rmsprop", lr=0.01, momentum=0.0),
    OptimizerConfig(name="rmsprop", lr=0.01, momentum=0.9, weight_decay=0.01, eps=1e-6),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.name}-m{c.momentum}-n{c.nesterov}-wd{c.weight_decay}")
@pytest.mark.parametrize("fused", [None, False])
def test_updates_match_the_formula(cfg: OptimizerConfig, fused: bool | None) -> None:
    torch.testing.assert_close(_run(cfg, fused), _reference(cfg), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_hyperparameters_are_passed_through(name: str) -> None:
    cfg = OptimizerConfig(name=name, lr=0.02, momentum=0.8, weight_decay=0.003, betas=(0.85, 0.95), eps=1e-7)  # type: ignore[arg-type]
    group: dict[str, Any] = build_optimizer([_param()], cfg).param_groups[0]
    assert group["lr"] == 0.02 and group["weight_decay"] == 0.003
    if name in ("sgd", "rmsprop"):
        assert group["momentum"] == 0.8
    if name in ("adam", "adamw"):
        assert group["betas"] == (0.85, 0.95)
    if name != "sgd":
        assert group["eps"] == 1e-7


def test_nesterov_is_passed_through() -> None:
    opt = build_optimizer([_param()], OptimizerConfig(name="sgd", momentum=0.9, nesterov=True))
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["nesterov"] is True


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("sgd", torch.optim.SGD),
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("rmsprop", torch.optim.RMSprop),
    ],
)
def test_builds_the_named_class(name: str, cls: type[torch.optim.Optimizer]) -> None:
    assert type(build_optimizer([_param()], OptimizerConfig(name=name))) is cls  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_auto_picks_fused_on_cpu_where_torch_has_it(name: str) -> None:
    group = build_optimizer([_param()], OptimizerConfig(name=name)).param_groups[0]  # type: ignore[arg-type]
    assert group["fused"] is True and not group["foreach"]


def test_rmsprop_falls_back_to_foreach() -> None:
    group = build_optimizer([_param()], OptimizerConfig(name="rmsprop")).param_groups[0]
    assert group["foreach"] is True


def test_fused_false_uses_foreach() -> None:
    group = build_optimizer([_param()], OptimizerConfig(name="adam"), fused=False).param_groups[0]
    assert group["foreach"] is True and not group["fused"]


def test_auto_falls_back_when_fused_rejects_the_parameters() -> None:
    # Fused kernels need floating-point parameters; complex ones are rejected at construction.
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    group = build_optimizer([p], OptimizerConfig(name="adam")).param_groups[0]
    assert group["foreach"] is True and not group["fused"]
    with pytest.raises(ValueError, match="fused adam is not supported"):
        build_optimizer([p], OptimizerConfig(name="adam"), fused=True)


def test_fused_true_for_rmsprop_raises() -> None:
    with pytest.raises(ValueError, match="no fused implementation"):
        build_optimizer([_param()], OptimizerConfig(name="rmsprop"), fused=True)


def test_accepts_a_generator_and_parameter_groups() -> None:
    model = torch.nn.Linear(3, 2)
    assert len(build_optimizer(model.parameters(), OptimizerConfig()).param_groups[0]["params"]) == 2
    groups = [{"params": [model.weight]}, {"params": [model.bias], "weight_decay": 0.0}]
    opt = build_optimizer(groups, OptimizerConfig(weight_decay=0.1))
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]


# ------------------------------------------------------------------------------------------- schedules


def _m(step: int, cfg: ScheduleConfig, total: int = 100, per_epoch: int = 10) -> float:
    return lr_multiplier(step, total_steps=total, steps_per_epoch=per_epoch, cfg=cfg)


def test_constant_is_one() -> None:
    cfg = ScheduleConfig(name="constant")
    assert [_m(s, cfg) for s in (0, 50, 99, 500)] == [1.0] * 4


def test_warmup_is_a_linear_ramp() -> None:
    cfg = ScheduleConfig(name="constant", warmup_steps=4)
    assert [_m(s, cfg) for s in range(7)] == pytest.approx([1 / 5, 2 / 5, 3 / 5, 4 / 5, 1.0, 1.0, 1.0])


def test_step_decays_on_epoch_boundaries() -> None:
    cfg = ScheduleConfig(name="step", step_epochs=3, gamma=0.5)
    period = 3 * 10
    for step in (0, period - 1, period, 2 * period - 1, 2 * period, 99):
        assert _m(step, cfg) == pytest.approx(0.5 ** (step // period))


def test_step_with_warmup_is_ramp_times_decay() -> None:
    cfg = ScheduleConfig(name="step", step_epochs=1, gamma=0.5, warmup_steps=15)
    for step in (0, 9, 10, 14, 15, 20, 99):
        assert _m(step, cfg) == pytest.approx(min(1, (step + 1) / 16) * 0.5 ** (step // 10))


@pytest.mark.parametrize("warmup", [0, 10])
@pytest.mark.parametrize("min_ratio", [0.0, 0.1])
def test_cosine_matches_the_closed_form(warmup: int, min_ratio: float) -> None:
    cfg = ScheduleConfig(name="cosine", warmup_steps=warmup, min_lr_ratio=min_ratio)
    total = 100

    def expected(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        t = min(1.0, (step - warmup) / (total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    for step in (0, max(warmup - 1, 0), warmup, (warmup + total) // 2, total - 1, total, total + 50):
        assert _m(step, cfg, total=total) == pytest.approx(expected(step), abs=1e-12)
    assert _m(warmup, cfg) == pytest.approx(1.0)
    assert _m((warmup + total) // 2, cfg) == pytest.approx((1 + min_ratio) / 2)
    assert _m(total, cfg) == pytest.approx(min_ratio)


def test_cosine_matches_torch_cosine_annealing() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50, eta_min=0.2)
    cfg = ScheduleConfig(name="cosine", min_lr_ratio=0.2)
    for step in range(50):
        assert _m(step, cfg, total=50) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-6)
        opt.step()
        ref.step()


@pytest.mark.parametrize(
    ("total", "pct", "div", "final_div"),
    [(100, 0.3, 25.0, 1e4), (37, 0.25, 10.0, 100.0), (10, 0.5, 5.0, 2.0)],
)
def test_onecycle_matches_torch(total: int, pct: float, div: float, final_div: float) -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    ref = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=1.0,
        total_steps=total,
        pct_start=pct,
        div_factor=div,
        final_div_factor=final_div,
        anneal_strategy="cos",
        three_phase=False,
        cycle_momentum=False,
    )
    cfg = ScheduleConfig(name="onecycle", pct_start=pct, div_factor=div, final_div_factor=final_div)
    for step in range(total):
        assert _m(step, cfg, total=total) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-6)
        opt.step()
        ref.step()


def test_onecycle_endpoints() -> None:
    cfg = ScheduleConfig(name="onecycle", pct_start=0.3, div_factor=25, final_div_factor=1e4)
    assert _m(0, cfg) == pytest.approx(1 / 25)
    assert _m(29, cfg) == pytest.approx(1.0)  # peak at pct_start * total - 1
    assert _m(99, cfg) == pytest.approx(1 / 25 / 1e4)
    assert _m(150, cfg) == pytest.approx(1 / 25 / 1e4)  # past the end: stays at the final value


def test_onecycle_ignores_warmup_with_a_warning() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    cfg = ScheduleConfig(name="onecycle", warmup_steps=50)
    assert _m(0, cfg) == _m(0, ScheduleConfig(name="onecycle"))
    with pytest.warns(UserWarning, match="warmup_steps=50 is ignored"):
        build_scheduler(opt, cfg, total_steps=100, steps_per_epoch=10)


def test_degenerate_onecycle_does_not_divide_by_zero() -> None:
    cfg = ScheduleConfig(name="onecycle", pct_start=0.5)
    values = [lr_multiplier(s, total_steps=t, steps_per_epoch=1, cfg=cfg) for t in (1, 2, 3) for s in range(t)]
    assert all(0 < v <= 1 for v in values)


def test_invalid_arguments_raise() -> None:
    cfg = ScheduleConfig()
    with pytest.raises(ValueError):
        lr_multiplier(-1, total_steps=10, steps_per_epoch=1, cfg=cfg)
    with pytest.raises(ValueError):
        lr_multiplier(0, total_steps=0, steps_per_epoch=1, cfg=cfg)


@pytest.mark.parametrize("name", ["constant", "step", "cosine", "onecycle"])
def test_scheduler_sets_the_rate_of_each_update(name: str) -> None:
    base = 0.3
    cfg = ScheduleConfig(name=name, warmup_steps=5 if name != "onecycle" else 0, step_epochs=1)  # type: ignore[arg-type]
    p = torch.nn.Parameter(torch.zeros(2))
    opt = build_optimizer([p], OptimizerConfig(name="sgd", lr=base, momentum=0.0))
    sched = build_scheduler(opt, cfg, total_steps=40, steps_per_epoch=8)
    for step in range(40):
        assert opt.param_groups[0]["lr"] == pytest.approx(
            base * lr_multiplier(step, total_steps=40, steps_per_epoch=8, cfg=cfg)
        )
        p.grad = torch.ones(2)
        opt.step()
        sched.step()


def test_scheduler_state_round_trips_for_resume() -> None:
    cfg = ScheduleConfig(name="cosine", warmup_steps=3)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], OptimizerConfig(lr=1.0, momentum=0.0))
    sched = build_scheduler(opt, cfg, total_steps=20, steps_per_epoch=5)
    for _ in range(7):
        opt.step()
        sched.step()
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None]  # nothing pickled beyond numbers

    opt2 = build_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimizerConfig(lr=1.0, momentum=0.0))
    sched2 = build_scheduler(opt2, cfg, total_steps=20, steps_per_epoch=5)
    sched2.load_state_dict(state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the optimizer did not step before the scheduler
        sched.step()
        sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
    assert opt.param_groups[0]["lr"] == pytest.approx(lr_multiplier(8, total_steps=20, steps_per_epoch=5, cfg=cfg))


def test_constant_schedule_counts_steps_like_lambda_lr() -> None:
    """The constant fast path advances the same step count (what checkpoints save) as LambdaLR does."""
    p = torch.nn.Parameter(torch.zeros(2))
    opt = build_optimizer([p], OptimizerConfig(name="sgd", lr=0.3, momentum=0.0))
    sched = build_scheduler(opt, ScheduleConfig(name="constant"), total_steps=10, steps_per_epoch=5)
    reference_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.3)
    reference = torch.optim.lr_scheduler.LambdaLR(reference_opt, lambda step: 1.0)
    for _ in range(7):
        p.grad = torch.ones(2)
        opt.step()
        sched.step()
        reference_opt.step()
        reference.step()
    assert sched.state_dict()["last_epoch"] == reference.state_dict()["last_epoch"] == 7
    assert sched.state_dict()["_step_count"] == reference.state_dict()["_step_count"]
    assert opt.param_groups[0]["lr"] == 0.3 and sched.get_last_lr() == [0.3]


def test_weight_decay_on_matrices_leaves_biases_and_norms_alone() -> None:
    from batchlab.config import OptimizerConfig
    from batchlab.train.optim import build_optimizer

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    for p in model.parameters():
        torch.nn.init.constant_(p, 1.0)
    cfg = OptimizerConfig(name="adamw", lr=0.1, weight_decay=0.5, decay="matrices")
    optimizer = build_optimizer(model.parameters(), cfg)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: only weight decay moves a parameter
    optimizer.step()
    weight, bias, norm_weight, norm_bias = model.parameters()
    assert torch.allclose(weight, torch.full_like(weight, 1 - 0.1 * 0.5))
    assert torch.equal(bias, torch.ones_like(bias)) and torch.equal(norm_weight, torch.ones_like(norm_weight))
    assert torch.equal(norm_bias, torch.ones_like(norm_bias))
