"""Audio data: recordings from a folder or manifest to waveforms with labels and groups.

Reading needs the ``audio`` extra (``pip install 'batchlab[audio]'``: soundfile, soxr, librosa),
imported only when recordings are read.
"""

from __future__ import annotations

from batchlab.data.audio.reading import AUDIO_SUFFIXES, read_recording, read_recordings
from batchlab.data.audio.sources import AudioListing, AudioSource, is_audio_source, list_audio, load_audio_source

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioListing",
    "AudioSource",
    "is_audio_source",
    "list_audio",
    "load_audio_source",
    "read_recording",
    "read_recordings",
]
