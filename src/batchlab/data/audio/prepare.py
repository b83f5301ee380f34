"""From an audio ``data`` config to prepared splits: read, split (stratified or by group), fit, encode.

Splits hold waveforms (:class:`~batchlab.data.prepared.SequenceSplit` with a
:class:`~batchlab.data.sequences.ragged.Ragged` of float32 samples at ``data.audio.sample_rate``);
features are computed per batch by the preprocessor's featurizer (see
:mod:`~batchlab.data.audio.transform`). The preprocessor learns the classes and the per-band
feature statistics from the training split only.

Example (FSDD: ``{digit}_{speaker}_{index}.wav``, a speaker-independent split):
    >>> from batchlab.config import DataConfig
    >>> cfg = DataConfig(
    ...     source="../shared/data/fsdd/recordings",
    ...     label_pattern=r"^(\\d)_",
    ...     group_pattern=r"^\\d_([a-z]+)_",
    ...     split={"by_group": True},
    ...     audio={"sample_rate": 8000},
    ... )
    >>> data = prepare_audio(cfg)  # doctest: +SKIP
    >>> len(data.classes), data.input_spec.kind  # doctest: +SKIP
    (10, 'frames')
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from batchlab.data.audio.preprocessor import AudioPreprocessor
from batchlab.data.audio.sources import AudioSource, is_audio_source, load_audio_source
from batchlab.data.prepared import InferenceData, PreparedData, SequenceSplit
from batchlab.data.split import group_split_indices, split_indices
from batchlab.errors import ConfigError

if TYPE_CHECKING:
    from batchlab.config import DataConfig

__all__ = ["is_audio_source", "load_audio_for_inference", "prepare_audio"]

logger = logging.getLogger(__name__)


def prepare_audio(cfg: DataConfig, preprocessor: AudioPreprocessor | None = None) -> PreparedData:
    """Read the recordings of ``cfg.source``, split them, fit the preprocessor on the training split.

    The split is stratified by class (``data.split.stratify``, the default) or, with
    ``data.split.by_group``, keeps each group (speaker) inside one split, the fractions applying to
    the number of groups (see :func:`~batchlab.data.split.group_split_indices`).
    ``data.split.val_source`` / ``test_source`` replace a fraction with a separate folder or manifest.

    Args:
        cfg: the ``data`` section.
        preprocessor: a fitted preprocessor (a run's saved state): the same splits are rebuilt (same
            seed) and encoded with it, without refitting, e.g. to evaluate a run on its test split.

    Returns:
        :class:`PreparedData` of :class:`SequenceSplit` objects: ``x`` waveforms, ``y`` int64 class
        indices, ``ids`` file ids, ``groups`` the groups when ``data.group_pattern`` or ``data.group``
        is set (also without ``by_group``, e.g. for leave-one-group-out folds), else ``None``.

    Raises:
        ConfigError: ``data.task`` is not a classification task; ``data.split.by_group`` without groups.
        DataError: the recordings cannot be listed, read, labelled or split (see the modules).
    """
    if cfg.task not in ("auto", "classification"):
        raise ConfigError(f"data.task: recordings are classified; got '{cfg.task}', use auto or classification")
    split = cfg.split
    source = load_audio_source(cfg)
    val = 0.0 if split.val_source else split.val
    test = 0.0 if split.test_source else split.test
    if split.by_group:
        if source.groups is None:
            raise ConfigError(
                "data.split.by_group: true needs the group of each recording; set data.group_pattern "
                "(a regular expression on file names whose group 1 is the group) or data.group (a manifest column)"
            )
        rows = group_split_indices(source.groups, val=val, test=test, seed=split.seed)
    else:
        labels = np.asarray(source.labels) if split.stratify else None
        rows = split_indices(len(source), val=val, test=test, seed=split.seed, stratify_labels=labels)
    train = source.take(rows[0])
    assert train.labels is not None  # load_audio_source requires labels by default
    fitted = preprocessor or AudioPreprocessor.from_config(cfg).fit(train.waveforms, train.labels)

    def encoded(part: AudioSource, where: str) -> SequenceSplit:
        assert part.labels is not None
        return SequenceSplit(part.waveforms, fitted.encode_labels(part.labels, where=where), part.files, part.groups)

    def held_out(index: np.ndarray, other: str | None, name: str) -> SequenceSplit | None:
        if other is not None:
            field = f"data.split.{name}_source"
            return encoded(load_audio_source(cfg, other, with_groups=False, field=field), f"{field} '{other}'")
        return encoded(source.take(index), f"data.source '{cfg.source}' ({name} split)") if index.size else None

    data = PreparedData(
        train=encoded(train, f"data.source '{cfg.source}'"),
        val=held_out(rows[1], split.val_source, "val"),
        test=held_out(rows[2], split.test_source, "test"),
        preprocessor=fitted,
    )
    _log_summary(source, data, by_group=split.by_group)
    return data


def load_audio_for_inference(
    cfg: DataConfig, preprocessor: AudioPreprocessor, source: str, *, require_target: bool, field: str = "input"
) -> InferenceData:
    """Read new recordings (``evaluate --data``, ``predict RUN FOLDER``) as the run read its training data.

    Recordings are read with the run's ``data.audio`` options, at the preprocessor's sample rate
    and fixed length. A recording longer than the longest training recording is kept whole, with a
    warning (a model with learned positions cannot take it; ``data.audio.max_seconds`` crops it).

    Args:
        cfg: the ``data`` section of the run's config.
        preprocessor: the run's fitted preprocessor.
        source: a folder of recordings (class sub-folders or ``data.label_pattern`` give labels), a
            manifest CSV or one audio file.
        require_target: ``True`` for evaluation (labels must be found and be training classes);
            ``False`` for prediction: labels are not read and ``y`` is ``None``.
        field: how error messages name ``source``.

    Returns:
        :class:`InferenceData` with ``x`` the waveforms (:class:`Ragged`), ``y`` int64 class indices or
        ``None``, and ``ids`` each recording's path relative to the folder (or as in the manifest).

    Raises:
        DataError: the recordings cannot be listed or read, or hold a label that is not a class.
    """
    audio = cfg.audio.model_copy(
        update={"sample_rate": preprocessor.sample_rate, "fixed_seconds": preprocessor.fixed_seconds}
    )
    options = cfg.model_copy(update={"audio": audio})
    data = load_audio_source(options, source, require_target=require_target, with_groups=False, field=field)
    longest = (preprocessor.max_frames_ - 1) * preprocessor.settings.hop_length
    frames = data.waveforms.lengths // preprocessor.settings.hop_length + 1
    longer = int((frames > preprocessor.max_frames_).sum())
    if longer:
        logger.warning(
            "%d of %d recordings of %s are longer than the longest training recording (about %.2f s); "
            "set data.audio.max_seconds to crop them",
            longer,
            len(data),
            source,
            longest / preprocessor.sample_rate,
        )
    y = None
    if require_target:
        assert data.labels is not None
        y = preprocessor.encode_labels(data.labels, where=f"{field} '{source}'")
    return InferenceData(data.waveforms, y, data.files)


def _log_summary(source: AudioSource, data: PreparedData, *, by_group: bool) -> None:
    parts = []
    for name in ("train", "val", "test"):
        part = getattr(data, name)
        if part is None:
            continue
        detail = ""
        if part.groups is not None:
            groups = sorted(set(part.groups))
            shown = (
                ", ".join(groups) if by_group and len(groups) <= 8 else f"{len(groups)} group{'s' * (len(groups) != 1)}"
            )
            detail = f" ({shown})"
        parts.append(f"{name} {len(part)}{detail}")
    logger.info(
        "audio: %d recordings (%.1f s at %d Hz), %d classes; split%s: %s",
        len(source),
        source.seconds,
        source.sample_rate,
        len(data.classes or []),
        " by group" if by_group else "",
        ", ".join(parts),
    )
