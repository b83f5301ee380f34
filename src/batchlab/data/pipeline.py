"""From a ``data`` config to tensors: load, split, fit the preprocessor on train, transform each split.

Example:
    >>> from batchlab.config import DataConfig
    >>> data = prepare_data(DataConfig(source="iris"))
    >>> len(data.train), len(data.val), len(data.test), data.num_outputs, data.input_shape
    (104, 23, 23, 3, (4,))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from batchlab.data.mapped import is_mapped
from batchlab.data.prepared import InferenceData, PreparedData, Split
from batchlab.data.preprocess import Preprocessor, drop_unlabelled, target_values
from batchlab.data.sources import RawArrays, RawTable, load_source
from batchlab.data.split import split_indices
from batchlab.data.target import distinct_value_strings, resolve_task
from batchlab.errors import DataError

if TYPE_CHECKING:
    from batchlab.config import DataConfig

__all__ = [
    "InferenceData",
    "PreparedData",
    "Split",
    "load_for_inference",
    "prepare_data",
    "preprocessor_from_state",
    "raw_test_split",
    "source_kind",
]


def source_kind(cfg: DataConfig) -> str:
    """What ``data.source`` holds: ``stream``, ``text`` (a table with a text column), ``corpus`` (text for a
    language model), ``audio`` (recordings: a folder of them or a manifest), else ``table`` (tables,
    arrays, IDX files, image folders and the built-in datasets)."""
    if cfg.stream.enabled:
        return "stream"
    from batchlab.data.text.detect import text_source_kind

    text = text_source_kind(cfg)
    if text is not None:
        return text
    from batchlab.data.audio.sources import is_audio_source

    return "audio" if is_audio_source(cfg) else "table"


def preprocessor_from_state(state: dict[str, Any]) -> Any:
    """The fitted preprocessor a run saved in ``preprocess.json``, of whichever kind it is."""
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind in ("text", "corpus"):
        from batchlab.data.text import text_preprocessor_from_state

        return text_preprocessor_from_state(state)
    if kind == "audio":
        from batchlab.data.audio import AudioPreprocessor

        return AudioPreprocessor.from_state(state)
    return Preprocessor.from_state(state)


def prepare_data(cfg: DataConfig, *, preprocessor: Any = None) -> PreparedData:
    """Load ``cfg.source``, split it, fit the preprocessor on the training rows and transform every split.

    Rows with a missing target are dropped first (with a warning). The task is resolved on the
    whole target column, so the split knows whether to stratify (``cfg.split.stratify``, for
    classification). ``cfg.split.val_source`` / ``test_source`` replace the validation / test
    fractions with separate files read with the same options.

    Args:
        cfg: the ``data`` section.
        preprocessor: an already fitted preprocessor (a run's saved state) to use instead of
            fitting a new one; the splits are then rebuilt exactly as in training (same seed)
            and transformed with it, e.g. to evaluate a run on its test split.

    Raises:
        DataError: the data cannot be loaded, split or encoded as configured.

    With ``cfg.stream.enabled`` the splits are :class:`~batchlab.data.stream.prepare.StreamedSplit`
    objects read from disk batch by batch (see :func:`~batchlab.data.stream.prepare.prepare_stream`).
    """
    kind = source_kind(cfg)
    if kind == "stream":  # splits that stay on disk (data larger than memory)
        from batchlab.data.stream.prepare import prepare_stream

        return prepare_stream(cfg, preprocessor=preprocessor)
    if kind == "text":
        from batchlab.data.text import prepare_text

        text: PreparedData = prepare_text(cfg, preprocessor=preprocessor)
        return text
    if kind == "corpus":
        from batchlab.data.text import prepare_corpus

        corpus: PreparedData = prepare_corpus(cfg, preprocessor=preprocessor)
        return corpus
    if kind == "audio":
        from batchlab.data.audio import prepare_audio

        audio: PreparedData = prepare_audio(cfg, preprocessor=preprocessor)
        return audio
    raw, train_raw, (val_rows, test_rows), fitted = _raw_splits(cfg, preprocessor)

    def transformed(part: RawTable | RawArrays) -> Split:
        x, y = fitted.transform(part, in_place=True)  # every part is a fresh copy (take) or a fresh load
        assert y is not None  # with_target=True always returns targets
        return Split(x, y)

    return PreparedData(
        train=transformed(train_raw),
        val=_held_out(cfg, raw, fitted, val_rows, "val_source", transformed),
        test=_held_out(cfg, raw, fitted, test_rows, "test_source", transformed),
        preprocessor=fitted,
    )


def raw_test_split(cfg: DataConfig, preprocessor: Preprocessor) -> RawTable | RawArrays | None:
    """The test split of a table or array source before preprocessing, as in training (same seed).

    It is what an exported model (see :mod:`batchlab.export`) takes in, before its folded-in scaling.

    Args:
        cfg: the ``data`` section of the run's config (a table, arrays or images; not text or audio).
        preprocessor: the run's fitted preprocessor (it gives the task, hence the stratification).

    Returns:
        The raw test rows with their targets, or ``None`` when the run has no test split.
    """
    raw, _, (_, test_rows), fitted = _raw_splits(cfg, preprocessor)
    test: RawTable | RawArrays | None = _held_out(cfg, raw, fitted, test_rows, "test_source", lambda part: part)
    return test


def _raw_splits(
    cfg: DataConfig, preprocessor: Preprocessor | None
) -> tuple[RawTable | RawArrays, RawTable | RawArrays, tuple[np.ndarray, np.ndarray], Preprocessor]:
    """The loaded source, its raw training rows, the validation and test row indices, and the preprocessor
    (``preprocessor`` itself, or a new one fitted on the training rows)."""
    split = cfg.split
    raw = drop_unlabelled(load_source(cfg), where=f"'{cfg.source}'")
    values = target_values(raw)
    task = preprocessor.task_ if preprocessor is not None else resolve_task(cfg.task, values)
    labels = None
    if task == "classification" and split.stratify:
        texts, inverse = distinct_value_strings(values)  # no Python string per row for numeric labels
        labels = texts.astype(str)[inverse]
    train_rows, val_rows, test_rows = split_indices(
        len(raw),
        val=0.0 if split.val_source else split.val,
        test=0.0 if split.test_source else split.test,
        seed=split.seed,
        stratify_labels=labels,
    )
    train_raw = raw.take(train_rows)
    fitted = preprocessor if preprocessor is not None else Preprocessor.from_config(cfg, task=task).fit(train_raw)
    return raw, train_raw, (val_rows, test_rows), fitted


def _held_out(
    cfg: DataConfig,
    raw: RawTable | RawArrays,
    fitted: Preprocessor,
    rows: np.ndarray,
    key: str,
    transformed: Callable[[RawTable | RawArrays], Any],
) -> Any:
    """A validation or test split: its own file (``data.split.<key>``) or the given rows of ``raw``, passed
    through ``transformed``; ``None`` when it is empty."""
    source = getattr(cfg.split, key)
    if source is not None:
        shape = fitted.input_shape_ if fitted.is_image_ else None  # a folder's images fit the training ones
        extra = load_source(cfg, source, require_target=True, field=f"data.split.{key}", image_shape=shape)
        if isinstance(extra, RawArrays) and is_mapped(extra.x):  # a writable copy, scaled in place
            extra = extra.take(np.arange(len(extra)))
        return transformed(drop_unlabelled(extra, where=f"'{source}'"))
    return transformed(raw.take(rows)) if rows.size else None


def load_for_inference(
    cfg: DataConfig, preprocessor: Any, source: str, *, require_target: bool, field: str = "input"
) -> InferenceData:
    """Load new samples (``evaluate --data FILE``, ``predict INPUT``) with a fitted preprocessor.

    The file is read with the format options of ``cfg`` (separator, header, column names); the target
    column is the one used in training, and ``cfg.drop`` is not needed since only the training feature
    columns are used. The images of a folder are converted to the trained channels (gray or RGB) and
    resized to the trained height and width. A 2-D ``.npy`` with one column more than the training
    features has its last column taken as the target.

    Args:
        cfg: the ``data`` section of the run's config.
        preprocessor: the run's fitted preprocessor (``Preprocessor.from_state``).
        source: the file, folder or built-in name to load.
        require_target: ``True`` for evaluation: targets must be present (rows without one are
            dropped with a warning). ``False`` for prediction: ``y`` is ``None``.
        field: how error messages name ``source``.

    Raises:
        DataError: the input cannot be loaded or does not match the training data.
    """
    kind = preprocessor.state_dict().get("kind") if hasattr(preprocessor, "state_dict") else None
    if kind == "text":
        from batchlab.data.text import load_text_for_inference

        texts: InferenceData = load_text_for_inference(cfg, preprocessor, source, require_target=require_target)
        return texts
    if kind == "audio":
        from batchlab.data.audio import load_audio_for_inference

        recordings: InferenceData = load_audio_for_inference(cfg, preprocessor, source, require_target=require_target)
        return recordings
    options = cfg.model_copy(
        update={"target": preprocessor.target_name_, "drop": [], "categorical": None, "numeric": None}
    )
    image_shape = tuple(preprocessor.input_shape_) if getattr(preprocessor, "is_image_", False) else None
    raw = load_source(options, source, require_target=require_target, field=field, image_shape=image_shape)
    if isinstance(raw, RawArrays) and not raw.image and raw.x.ndim == 2:
        features = preprocessor.input_shape_[0]
        if raw.y is None and raw.x.shape[1] == features + 1:
            raw = RawArrays(raw.x[:, :-1], raw.x[:, -1] if require_target else None, False)
        elif require_target and raw.y is not None and raw.x.shape[1] == features - 1:
            raise DataError(
                f"{field}: '{source}' has no labels: its {features} columns are the features, but the last "
                "column of a 2-D .npy is read as the target; save an .npz with arrays x and y instead"
            )
    ids = raw.files if isinstance(raw, RawArrays) else None
    if require_target:
        raw = drop_unlabelled(raw, where=f"'{source}'")
        ids = raw.files if isinstance(raw, RawArrays) else None
    x, y = preprocessor.transform(raw, with_target=require_target)
    return InferenceData(x, y, ids)
