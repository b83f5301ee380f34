"""Audio data: recordings from a folder or manifest to prepared splits, features and augmentation.

Reading needs the ``audio`` extra (``pip install 'batchlab[audio]'``: soundfile, soxr, librosa),
imported only when recordings are read or features built.

* :func:`prepare_audio` / :func:`load_audio_for_inference`: config in, waveform splits out, with an
  :class:`AudioPreprocessor` fitted on the training split (classes, band statistics).
* :class:`AudioTransform`: the per-batch transform (waveform augmentation, :class:`Featurizer`,
  SpecAugment) that turns padded waveforms into feature frames on the batch's device;
  :func:`audio_transforms` builds a run's training and evaluation pair.
* :func:`load_audio_source`, :func:`is_audio_source`: listing, labelling and decoding recordings.
"""

from __future__ import annotations

from batchlab.data.audio.augment import AudioAugmenter, FeatureMasks
from batchlab.data.audio.features import FeatureSettings, Featurizer, fit_band_stats
from batchlab.data.audio.prepare import is_audio_source, load_audio_for_inference, prepare_audio
from batchlab.data.audio.preprocessor import AudioPreprocessor
from batchlab.data.audio.reading import AUDIO_SUFFIXES, read_recording, read_recordings
from batchlab.data.audio.sources import AudioListing, AudioSource, list_audio, load_audio_source
from batchlab.data.audio.transform import AudioTransform, audio_transforms

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioAugmenter",
    "AudioListing",
    "AudioPreprocessor",
    "AudioSource",
    "AudioTransform",
    "FeatureMasks",
    "FeatureSettings",
    "Featurizer",
    "audio_transforms",
    "fit_band_stats",
    "is_audio_source",
    "list_audio",
    "load_audio_for_inference",
    "load_audio_source",
    "prepare_audio",
    "read_recording",
    "read_recordings",
]
