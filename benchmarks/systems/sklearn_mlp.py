"""scikit-learn ``MLPClassifier`` (numpy backprop): ``solver="sgd"`` for throughput, ``"adam"`` for digits.

One ``partial_fit`` call is one shuffled epoch; L2 penalty off (``alpha=0``) like every other system.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.workload import DIGITS_BATCH, DIGITS_HIDDEN, DIGITS_LR, HIDDEN, LR, MOMENTUM, N_CLASSES, Arrays


def throughput(data: Arrays, batch_size: int, warmup: int, timed: int) -> dict[str, float]:
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        solver="sgd",
        learning_rate_init=LR,
        momentum=MOMENTUM,
        nesterovs_momentum=False,
        batch_size=batch_size,
        alpha=0.0,
        shuffle=True,
        random_state=0,
    )
    classes = np.arange(N_CLASSES)
    ends = []
    for _ in range(warmup + timed):
        model.partial_fit(data.x_train, data.y_train, classes=classes)
        ends.append(time.perf_counter())
    seconds = ends[-1] - ends[warmup - 1]
    return {"samples_per_s": timed * len(data.x_train) / seconds, "seconds": seconds}


def time_to_accuracy(data: Arrays, target: float, max_epochs: int) -> dict[str, float]:
    """Epochs of ``partial_fit`` until validation accuracy reaches ``target``; only training is timed.

    The strict protocol: the clock runs during ``partial_fit`` calls alone (the scoring after each
    epoch is left out), while batchlab's seconds include its validation passes.
    """
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=DIGITS_HIDDEN,
        solver="adam",
        learning_rate_init=DIGITS_LR,
        batch_size=DIGITS_BATCH,
        alpha=0.0,
        shuffle=True,
        random_state=0,
    )
    classes = np.arange(10)
    training = 0.0
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        model.partial_fit(data.x_train, data.y_train, classes=classes)
        training += time.perf_counter() - start
        if model.score(data.x_val, data.y_val) >= target:
            return {"seconds": training, "epochs": epoch, "reached": 1}
    return {"seconds": training, "epochs": max_epochs, "reached": 0}


def prepare() -> None:
    """Import scikit-learn's MLP before timing."""
    import sklearn.neural_network  # noqa: F401
