"""Example spectrograms of audio runs: which recordings are picked, what is computed for them, the figure."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from batchlab.data.prepared import SequenceSplit
from batchlab.data.sequences.ragged import Ragged
from batchlab.experiment.examples import SpectrogramExample, audio_examples, pick_examples
from batchlab.report.plots import plot_spectrograms, spectrogram_figure
from batchlab.train.objective import make_objective

pytest.importorskip("librosa", reason="the audio extra is not installed")


def _example(k: int, *, wrong: bool = False) -> SpectrogramExample:
    rng = np.random.default_rng(k)
    return SpectrogramExample(
        logmel=rng.normal(-5.0, 2.0, (20, 30 + k)).astype(np.float32),
        hop_seconds=0.01,
        true=str(k % 10),
        predicted=str((k + wrong) % 10),
        probability=0.9,
        file=f"{k}_ann_0.wav",
    )


def test_pick_examples_shows_every_class_before_any_class_twice() -> None:
    labels = np.repeat(np.arange(4), [10, 2, 1, 5])
    for count, seed in [(3, 0), (4, 1), (7, 2)]:
        picked = pick_examples(labels, count, seed=seed)
        classes = Counter(labels[picked].tolist())
        assert len(set(picked)) == count
        assert len(classes) == min(count, 4) and max(classes.values()) - min(classes.values()) <= 1
    assert pick_examples(labels, 100) == sorted(range(18), key=lambda p: (labels[p], p))  # all of them
    assert pick_examples(labels, 5, seed=3) == pick_examples(labels, 5, seed=3)
    assert any(pick_examples(labels, 5, seed=s) != pick_examples(labels, 5, seed=0) for s in range(1, 5))


@pytest.mark.parametrize(("count", "columns", "grid"), [(5, 4, (2, 4)), (8, 4, (2, 4)), (3, 4, (1, 3)), (1, 4, (1, 1))])
def test_the_figure_has_one_spectrogram_panel_per_example(count: int, columns: int, grid: tuple[int, int]) -> None:
    examples = [_example(k, wrong=k == 1) for k in range(count)]
    fig = spectrogram_figure(examples, columns=columns, title="t")
    panels = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert len(panels) == count
    assert [ax.get_title().split(" (")[0] for ax in panels] == [
        f"true {e.true} · predicted {e.predicted}" for e in examples
    ]
    assert len(fig.axes) == count + 1  # the panels and one colour bar; empty grid cells are removed
    assert panels[0].get_subplotspec().get_geometry()[:2] == grid
    if count > 1:
        assert "wrong" in panels[1].get_title() and panels[1].title.get_color() == "tab:red"
    image = panels[0].images[0].get_array()
    assert image.shape == examples[0].logmel.shape  # bands x frames, not transposed
    assert panels[0].get_xlim()[1] == pytest.approx(examples[0].logmel.shape[1] * 0.01)  # seconds


def test_plot_spectrograms_writes_a_png_sized_for_its_grid(tmp_path: Path) -> None:
    sizes = {}
    for count in (2, 8):
        path = plot_spectrograms([_example(k) for k in range(count)], tmp_path / f"s{count}.png", title="t")
        with Image.open(path) as png:
            assert png.format == "PNG"
            sizes[count] = png.size
    assert sizes[8][0] > 1.5 * sizes[2][0] and sizes[8][1] > 1.5 * sizes[2][1]  # 2x4 panels against 1x2
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically
    with pytest.raises(ValueError, match="at least one example"):
        spectrogram_figure([])


class _Fixed(nn.Module):
    """Predicts class 2 for every recording of more than 26 frames, else class 0 (from its lengths)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 3)
        logits[torch.arange(x.shape[0]), torch.where(lengths > 26, 2, 0)] = 3.0
        return logits + self.weight


def test_audio_examples_hold_unnormalized_log_mel_and_the_models_prediction() -> None:
    from batchlab.data.audio import AudioPreprocessor, audio_transforms

    rng = np.random.default_rng(0)
    lengths = [1600, 2400, 4000, 1200, 3200, 800]
    waves = Ragged.from_sequences([torch.from_numpy(rng.standard_normal(n).astype(np.float32)) for n in lengths])
    labels = ["a", "b", "c", "a", "b", "c"]
    pre = AudioPreprocessor(sample_rate=8000, features="mfcc", n_mels=24, n_mfcc=12).fit(waves, labels)
    split = SequenceSplit(waves, pre.encode_labels(labels), tuple(f"r{i}.wav" for i in range(6)))
    model = _Fixed().train()
    _, transform = audio_transforms(pre, [], seed=0)
    objective = make_objective("classification", 3, "auto")
    examples = audio_examples(model, transform, objective, split, pre, count=4, seed=0)
    assert model.training  # its mode is restored
    assert len(examples) == 4 and len({e.true for e in examples}) == 3
    for example in examples:
        row = int(example.file[1]) if example.file else -1
        assert example.true == labels[row]
        assert example.logmel.shape == (24, 1 + lengths[row] // 80)  # log-mel bands, not the 12 MFCCs
        assert example.predicted == ("c" if 1 + lengths[row] // 80 > 26 else "a")
        assert example.probability == pytest.approx(float(np.exp(3) / (np.exp(3) + 2)), rel=1e-5)
        assert example.hop_seconds == pytest.approx(0.01)
    assert min(float(e.logmel.min()) for e in examples) < -1.0  # natural-log energies, not standardized
