"""The sampler glue on cheap synthetic objectives (no training): grid coverage, seeds, Bayesian vs random."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import optuna
import pytest

from batchlab.config import make_config
from batchlab.tune.grid import grid_points, grid_product
from batchlab.tune.samplers import make_sampler, startup_trials
from batchlab.tune.settings import make_settings
from batchlab.tune.space import SearchSpace, parse_space

optuna.logging.set_verbosity(optuna.logging.ERROR)

# Two config fields that accept any number in [1, 11]; the objective is the distance to a point.
X, Y = "train.optimizer.lr", "train.schedule.div_factor"
PLANE = parse_space({X: {"uniform": [1, 11]}, Y: {"uniform": [1, 11]}})
OPTIMUM = (8.3, 3.1)


def _distance(params: dict[str, Any]) -> float:
    x, y = params[X], params[Y]
    return float(((x - OPTIMUM[0]) ** 2 + (y - OPTIMUM[1]) ** 2) ** 0.5)


def _run(
    space: SearchSpace,
    method: str,
    trials: int,
    seed: int = 0,
    stop: Callable[[float], bool] | None = None,
    **options: Any,
) -> list[tuple[dict[str, Any], float]]:
    """Run ``trials`` trials of ``_distance`` (or a constant) with batchlab's sampler for ``method``."""
    settings = make_settings(make_config({}), space, method=method, trials=trials, seed=seed, **options)
    study = optuna.create_study(sampler=make_sampler(settings), direction="minimize")
    done: list[tuple[dict[str, Any], float]] = []

    def objective(trial: optuna.trial.Trial) -> float:
        params = space.suggest(trial)
        value = _distance(params) if Y in params else 0.0
        done.append((params, value))
        if stop is not None and stop(value):
            trial.study.stop()
        return value

    study.optimize(objective, n_trials=trials)
    return done


def test_grid_runs_every_point_of_the_product_exactly_once() -> None:
    space = parse_space(
        {
            "train.batch_size": {"choice": [8, 16, "full"]},
            "model.hidden": {"choice": [[4], [8, 8]]},
            "train.optimizer.lr": {"log_uniform": [1e-3, 1e-1]},
        }
    )
    grid = grid_points(space, 3)
    size = len(grid_product(grid))
    assert size == 18
    done = _run(space, "grid", size, grid_points=3)
    encoded = {p.path: p for p in space.params}
    points = [tuple(_encode(encoded[name], params[name]) for name in sorted(grid)) for params, _ in done]
    assert sorted(points, key=repr) == sorted(grid_product(grid), key=repr)


def _encode(param: Any, value: Any) -> Any:
    return param.encoded_choices()[list(param.choices).index(value)] if param.kind == "choice" else value


@pytest.mark.parametrize(
    ("method", "trials", "options"), [("random", 10, {}), ("bayes", 10, {}), ("bayes", 6, {"sampler": "gp"})]
)
def test_a_seed_reproduces_the_trials(method: str, trials: int, options: dict[str, Any]) -> None:
    first = _run(PLANE, method, trials, seed=3, **options)  # the last trials are the model's (4 start at random)
    again = _run(PLANE, method, trials, seed=3, **options)
    other = _run(PLANE, method, trials, seed=4, **options)
    assert first == again
    assert first != other


def test_each_trial_draws_from_its_own_seed_so_a_resumed_study_does_not_replay_values() -> None:
    settings = make_settings(make_config({}), PLANE, method="random", trials=6, seed=0)
    study = optuna.create_study(sampler=make_sampler(settings))
    for _ in range(3):
        trial = study.ask()
        study.tell(trial, _distance(PLANE.suggest(trial)))
    resumed = optuna.create_study(sampler=make_sampler(settings))  # a new process: a new sampler object
    for frozen in study.trials:
        resumed.add_trial(frozen)
    trial = resumed.ask()
    values = PLANE.suggest(trial)
    assert all(values != frozen.params for frozen in study.trials)
    assert values == [p for p, _ in _run(PLANE, "random", 4, seed=0)][3]  # what trial 3 of one run draws


def test_bayesian_search_reaches_the_optimum_in_fewer_trials_than_random_search() -> None:
    budget, radius = 100, 0.3

    def trials_to_target(method: str, seed: int) -> int:
        done = _run(PLANE, method, budget, seed=seed, stop=lambda value: value <= radius)
        return len(done) if done[-1][1] <= radius else budget + 1

    seeds = range(5)
    bayes = statistics.median(trials_to_target("bayes", seed) for seed in seeds)
    random = statistics.median(trials_to_target("random", seed) for seed in seeds)
    assert bayes < random, (bayes, random)
    assert bayes <= 60


def test_bayesian_samplers_start_with_a_quarter_of_a_small_budget_at_random() -> None:
    assert [startup_trials(n) for n in (None, 8, 20, 40, 400)] == [10, 4, 5, 10, 10]
