"""The schedule policies: ramps, the step rule, adaptive growth, and the learning rate that follows."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from batchlab.data.scheduled import BatchSizer
from batchlab.train.batch_schedule import BatchScheduler, LRClock, SchedulePolicy, lr_scale_factor, ramp_size
from batchlab.train.callbacks.base import TrainingContext
from batchlab.train.state import LoopSettings, LoopState


def test_ramp_shapes_meet_both_ends() -> None:
    for shape in ("linear", "geometric"):
        assert ramp_size(0.0, start=8, end=512, shape=shape) == 8
        assert ramp_size(1.0, start=8, end=512, shape=shape) == 512
        assert ramp_size(7.0, start=8, end=512, shape=shape) == 512
    assert ramp_size(0.5, start=8, end=512) == pytest.approx(64.0)  # geometric: equal ratios
    assert ramp_size(0.5, start=8, end=512, shape="linear") == pytest.approx(260.0)


def test_rounding_keeps_sizes_within_bounds_and_multiples() -> None:
    policy = SchedulePolicy(kind="ramp", start=10, end=100, multiple_of=8)
    assert [policy.rounded(s) for s in (3, 10, 17, 33.9, 99, 400)] == [10, 10, 16, 32, 96, 100]


@pytest.mark.parametrize(("rule", "expected"), [("none", 1.0), ("linear", 8.0), ("sqrt", 8**0.5)])
def test_the_rate_follows_the_scaling_rule(rule: str, expected: float) -> None:
    assert lr_scale_factor(256, 32, rule) == pytest.approx(expected)


def _scheduler(
    policy: SchedulePolicy, noise: object = None, rule: str = "sqrt"
) -> tuple[BatchScheduler, torch.optim.Optimizer]:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    clock = LRClock(lambda step: 1.0, policy.start, rule)
    scheduler = BatchScheduler(policy, BatchSizer(policy.start), clock, noise=noise)  # type: ignore[arg-type]
    scheduler.context = TrainingContext(model, optimizer)
    return scheduler, optimizer


def _noise(value: float, count: int = 5) -> SimpleNamespace:
    return SimpleNamespace(ema=SimpleNamespace(noise_scale=value, count=count))


def test_adaptive_grows_towards_the_noise_scale_by_at_most_factor_and_never_shrinks() -> None:
    noise = _noise(1000.0)
    policy = SchedulePolicy(kind="adaptive", start=16, end=200, factor=2.0, every_steps=5)
    scheduler, optimizer = _scheduler(policy, noise)
    state = LoopState()
    scheduler.on_train_begin(state)
    sizes = []
    for step in range(1, 31):
        state.step = step
        scheduler.on_step_end(state)
        sizes.append(scheduler.sizer.size)
    assert sizes[3] == 16 and sizes[4] == 32  # decisions only every 5 steps, x2 at most
    assert sizes[-1] == 200  # bounded by end
    noise.ema.noise_scale = 5.0  # the estimate falls: the batch stays
    state.step = 35
    scheduler.on_step_end(state)
    assert scheduler.sizer.size == 200
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * (200 / 16) ** 0.5)
    assert [c["size"] for c in scheduler.changes] == [16, 32, 64, 128, 200]


def test_adaptive_waits_for_enough_measurements_and_ignores_small_wiggles() -> None:
    noise = _noise(100.0, count=2)
    policy = SchedulePolicy(kind="adaptive", start=95, end=1000, every_steps=1, warmup_measurements=3)
    scheduler, _ = _scheduler(policy, noise)
    state = LoopState(step=1)
    scheduler.on_train_begin(state)
    scheduler.on_step_end(state)
    assert scheduler.sizer.size == 95  # two measurements only
    noise.ema.count = 3
    scheduler.on_step_end(state)
    assert scheduler.sizer.size == 95  # 100 is within 10% of 95
    noise.ema.noise_scale = 150.0
    scheduler.on_step_end(state)
    assert scheduler.sizer.size == 150


def test_the_step_rule_multiplies_the_batch_after_its_milestones() -> None:
    policy = SchedulePolicy(kind="step", start=32, end=10_000, milestones=(2, 4), factor=4.0, epoch_samples=100)
    scheduler, optimizer = _scheduler(policy, rule="none")
    state = LoopState()
    scheduler.on_train_begin(state)
    sizes = []
    for epoch in range(6):
        state.epoch = epoch
        scheduler.on_epoch_begin(state)
        sizes.append(scheduler.sizer.size)
    assert sizes == [32, 32, 128, 128, 512, 512]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)  # rule none: the rate stays


def test_a_ramp_counted_in_steps_reaches_its_end_and_the_checkpoint_round_trips() -> None:
    policy = SchedulePolicy(kind="ramp", start=4, end=64, ramp_length=4, ramp_unit="steps")
    scheduler, _ = _scheduler(policy, rule="linear")
    state = LoopState()
    scheduler.on_train_begin(state)
    sizes = []
    for step in range(1, 7):
        state.step = step
        scheduler.on_step_end(state)
        sizes.append(scheduler.sizer.size)
    assert sizes == [8, 16, 32, 64, 64, 64]
    saved = scheduler.state_dict()
    again, _ = _scheduler(policy, rule="linear")
    again.load_state_dict(saved)
    again.on_train_begin(state)  # a resumed run keeps its size and history
    assert again.sizer.size == 64 and again.changes == scheduler.changes


def test_micro_batches_keep_every_forward_pass_under_the_cap() -> None:
    settings = LoopSettings(max_micro_batch=100)
    assert [settings.micro_batches(n) for n in (50, 100, 101, 1000)] == [1, 1, 2, 10]
