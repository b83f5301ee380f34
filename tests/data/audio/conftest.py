"""Fixtures of the audio tests: small synthetic recordings written with soundfile, and the FSDD folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile", reason="the audio extra is not installed")

WriteWav = Callable[..., Path]


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    """A sine of ``freq`` Hz, ``(round(seconds * rate),)`` float32."""
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def write_wav() -> WriteWav:
    """``write_wav(path, samples, rate=8000, subtype="PCM_16")``: write a WAV (``(n,)`` or ``(n, channels)``)."""

    def write(path: Path, samples: np.ndarray, rate: int = 8000, subtype: str = "PCM_16") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), samples, rate, subtype=subtype)
        return path

    return write


@pytest.fixture
def digit_folder(tmp_path: Path, write_wav: WriteWav) -> Path:
    """A flat FSDD-like folder: ``{digit}_{speaker}_{take}.wav``, 3 digits x 4 speakers x 3 takes, 0.1-0.3 s.

    Digit ``d`` is a tone of ``400 * (d + 1)`` Hz; lengths vary with the take.
    """
    root = tmp_path / "recordings"
    for digit in range(3):
        for speaker in ("ann", "bob", "cy", "dee"):
            for take in range(3):
                seconds = 0.1 + 0.1 * take
                write_wav(root / f"{digit}_{speaker}_{take}.wav", tone(400.0 * (digit + 1), seconds, 8000))
    return root


@pytest.fixture
def fsdd(shared_data: Path) -> Path:
    """The FSDD recordings folder of the shared data (skips when absent)."""
    folder = shared_data / "fsdd" / "recordings"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return folder
