"""From a ``data`` config to prepared text splits: labelled texts or a language-modelling corpus.

* :func:`prepare_text`: a table with a text column (``data.text``) becomes :class:`SequenceSplit`
  splits of token ids and encoded labels, split like tables (seeded, stratified for classes).
* :func:`prepare_corpus`: a ``.txt`` corpus becomes contiguous :class:`TokenStream` sections.
* :func:`load_text_for_inference` / :func:`load_corpus_for_evaluation`: new input for ``predict`` and
  ``evaluate --data``, tokenized with a run's saved preprocessor.

:func:`~batchlab.data.text.detect.text_source_kind` says which of the two a config asks for.

Example:
    >>> from batchlab.config import DataConfig
    >>> data = prepare_corpus(DataConfig(source="input.txt", context=64))  # doctest: +SKIP
    >>> data.task, data.input_spec.max_length, len(data.train) + len(data.val) + len(data.test)  # doctest: +SKIP
    ('language_model', 64, 1115394)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from batchlab.data.prepared import InferenceData, PreparedData, SequenceSplit, TokenStream
from batchlab.data.split import split_indices
from batchlab.data.target import resolve_task, value_strings
from batchlab.data.text.corpus import SECTION_NAMES, check_window, read_corpus, split_corpus
from batchlab.data.text.preprocessors import CorpusPreprocessor, TextPreprocessor, label_series
from batchlab.data.text.table import TextTable, read_text_table
from batchlab.data.text.tokenizer import UNK
from batchlab.errors import ConfigError, DataError

if TYPE_CHECKING:
    from batchlab.config import DataConfig

__all__ = ["load_corpus_for_evaluation", "load_text_for_inference", "prepare_corpus", "prepare_text"]

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ text tables


def prepare_text(cfg: DataConfig, preprocessor: TextPreprocessor | None = None) -> PreparedData:
    """Read a labelled text table, split it, fit the preprocessor on the training rows, tokenize every split.

    The split is :func:`~batchlab.data.split.split_indices` with ``data.split`` (stratified by class
    for classification when ``data.split.stratify``); ``val_source`` / ``test_source`` replace the
    validation / test fractions with separate files read with the same options. Texts longer than
    the preprocessor's ``max_length_`` are cut, and the counts are logged per split.

    Args:
        cfg: the ``data`` section, with ``data.text`` set.
        preprocessor: a fitted preprocessor (a run's saved state) to use instead of fitting one; the
            splits are then rebuilt exactly as in training (same file, same seed), e.g. to evaluate
            a run on its test split.

    Returns:
        :class:`PreparedData` whose splits are :class:`SequenceSplit` (``x``: int64 token ids of each
        text, end to end; ``y``: ``(n,)`` int64 class indices or float32 scaled regression labels),
        and whose ``preprocessor`` is a :class:`TextPreprocessor`.

    Raises:
        ConfigError: ``data.text`` unset, ``data.task: language_model``, bad tokenizer settings.
        DataError: the table cannot be read, has a single class, or too few rows to split.

    Example:
        >>> from batchlab.config import DataConfig
        >>> cfg = DataConfig(source="SMSSpamCollection", header=False, columns=["label", "message"],
        ...                  text="message", target="label")
        >>> data = prepare_text(cfg)  # doctest: +SKIP
        >>> data.classes, data.input_spec.kind, len(data.train)  # doctest: +SKIP
        (['ham', 'spam'], 'tokens', 3902)
    """
    if cfg.task == "language_model":
        raise ConfigError(
            "data.task: language_model needs a .txt corpus, but data.text names a text column; "
            "unset data.text, or set data.task to auto, classification or regression"
        )
    _check_unsupported(cfg, "text tables")
    split = cfg.split
    options = cfg if preprocessor is None else _saved_columns(cfg, preprocessor)
    table = read_text_table(options)
    assert table.labels is not None  # require_target=True
    values = label_series(table.labels, table.rows)
    task = preprocessor.task_ if preprocessor is not None else resolve_task(cfg.task, values)
    stratify = None
    if task == "classification":
        classes = value_strings(values).to_numpy(dtype=str)
        if preprocessor is None:
            _require_two_classes(classes, table)
        stratify = classes if split.stratify else None
    train_rows, val_rows, test_rows = split_indices(
        len(table),
        val=0.0 if split.val_source else split.val,
        test=0.0 if split.test_source else split.test,
        seed=split.seed,
        stratify_labels=stratify,
    )
    train = table.take(train_rows)
    assert train.labels is not None
    if preprocessor is None:
        fitted = TextPreprocessor.from_config(cfg, task=task)
        x, y, cut = fitted.fit_transform(
            train.texts, train.labels, text_column=table.text_column, target_column=table.target_column, rows=train.rows
        )
        options = _saved_columns(cfg, fitted)
    else:
        fitted = preprocessor
        x, y_or_none, cut = fitted.transform(train.texts, train.labels, rows=train.rows)
        assert y_or_none is not None
        y = y_or_none
    truncated = {"train": (cut, len(train))}

    def held_out(rows: np.ndarray, source: str | None, key: str) -> SequenceSplit | None:
        if source is not None:
            part = read_text_table(options, source, field=f"data.split.{key}_source")
        elif rows.size:
            part = table.take(rows)
        else:
            return None
        x_part, y_part, cut_part = fitted.transform(part.texts, part.labels, rows=part.rows)
        assert y_part is not None
        truncated[key] = (cut_part, len(part))
        return SequenceSplit(x_part, y_part)

    val = held_out(val_rows, split.val_source, "val")
    test = held_out(test_rows, split.test_source, "test")
    _log_truncation(truncated, fitted, cfg)
    notes = {"truncated": {"max_length": fitted.max_length_, **{k: list(v) for k, v in truncated.items()}}}
    return PreparedData(train=SequenceSplit(x, y), val=val, test=test, preprocessor=fitted, notes=notes)


def load_text_for_inference(
    cfg: DataConfig, preprocessor: TextPreprocessor, source: str, *, require_target: bool, field: str = "input"
) -> InferenceData:
    """Read new texts (``predict RUN texts.csv``, ``evaluate RUN --data texts.csv``) and tokenize them.

    The file is read with the format options of ``cfg`` (separator, header, column names, encoding,
    missing values) and the text and label columns of training; empty texts are dropped (with a
    warning), so ``ids`` says which data row each sample is.

    Args:
        cfg: the ``data`` section of the run's config.
        preprocessor: the run's fitted :class:`TextPreprocessor`.
        source: the file to read.
        require_target: ``True`` for evaluation: labels must be present (rows without one are
            dropped with a warning). ``False`` for prediction: ``y`` is ``None``.
        field: how messages name ``source``.

    Returns:
        :class:`InferenceData` with ``x`` a :class:`~batchlab.data.sequences.ragged.Ragged` of int64
        token ids (cut to ``preprocessor.max_length_``), ``y`` as in training or ``None``, and
        ``ids`` the 1-based data row of each text in the file, as strings.

    Raises:
        DataError: the file cannot be read, lacks the text column (or the labels, when required), or
            holds a class not seen in training.
    """
    table = read_text_table(
        _saved_columns(cfg, preprocessor),
        source,
        require_target=require_target,
        field=field,
        classes=None if require_target else preprocessor.classes_,
    )
    x, y, cut = preprocessor.transform(table.texts, table.labels if require_target else None, rows=table.rows)
    if cut:
        logger.info(
            "%d of %d texts of %s are longer than %d tokens and were cut to that length",
            cut,
            len(table),
            table.where,
            preprocessor.max_length_,
        )
    return InferenceData(x, y, tuple(str(r) for r in table.rows.tolist()))


def _saved_columns(cfg: DataConfig, preprocessor: TextPreprocessor) -> DataConfig:
    """``cfg`` reading the text and label columns that ``preprocessor`` was trained on."""
    return cfg.model_copy(update={"text": preprocessor.text_column_, "target": preprocessor.target_column_})


def _require_two_classes(classes: np.ndarray, table: TextTable) -> None:
    distinct = np.unique(classes)
    if distinct.size < 2:
        raise DataError(
            f"data.target: column '{table.target_column}' of {table.where} has only one class "
            f"'{distinct[0] if distinct.size else ''}' ({len(table)} rows); classification needs at least 2"
        )


def _log_truncation(truncated: dict[str, tuple[int, int]], pre: TextPreprocessor, cfg: DataConfig) -> None:
    counts = ", ".join(f"{SECTION_NAMES[k]} {cut} of {n}" for k, (cut, n) in truncated.items())
    limit = "the longest training text" if cfg.max_length is None or pre.max_length_ < cfg.max_length else ""
    reason = limit or f"data.max_length={cfg.max_length}"
    logger.info("texts cut to %d tokens (%s): %s", pre.max_length_, reason, counts)


def _check_unsupported(cfg: DataConfig, what: str) -> None:
    """Refuse options that text does not support yet, rather than ignore them."""
    if cfg.stream.enabled:
        raise ConfigError(
            f"data.stream.enabled: {what} are read into memory (streaming is for .npy and Parquet arrays); "
            "set data.stream.enabled: false"
        )
    if cfg.split.by_group:
        raise ConfigError(f"data.split.by_group: group splits are not supported for {what}; set it to false")


# ----------------------------------------------------------------------------------------- corpus


def prepare_corpus(cfg: DataConfig, preprocessor: CorpusPreprocessor | None = None) -> PreparedData:
    """Read a corpus, cut it into contiguous sections, fit the tokenizer on the head and tokenize each.

    The text is cut by characters into ``[train | val | test]`` (fractions ``data.split.val`` and
    ``data.split.test``; see :mod:`batchlab.data.text.corpus`); ``val_source`` / ``test_source``
    replace a section with a separate file. Each section is tokenized on its own.

    Args:
        cfg: the ``data`` section: ``source`` (a ``.txt`` file or a folder of them), ``encoding``,
            ``tokenizer``, ``context``, ``split``.
        preprocessor: a fitted preprocessor (a run's saved state) to use instead of fitting one.

    Returns:
        :class:`PreparedData` whose splits are :class:`TokenStream` (``ids``: ``(tokens,)`` int64);
        a section with fraction 0 (and no separate file) is ``None``.

    Raises:
        DataError: the corpus cannot be read or is empty, or a section is shorter than one window of
            ``data.context + 1`` tokens.
        ConfigError: bad tokenizer settings.
    """
    _check_unsupported(cfg, "corpora")
    corpus = read_corpus(cfg.source, encoding=cfg.encoding)
    split = cfg.split
    train_text, val_text, test_text = split_corpus(
        corpus.text, val=0.0 if split.val_source else split.val, test=0.0 if split.test_source else split.test
    )
    fitted = preprocessor if preprocessor is not None else CorpusPreprocessor.from_config(cfg).fit(train_text)
    context = cfg.context if preprocessor is None else preprocessor.context
    sections: dict[str, TokenStream | None] = {}
    for key, text, source in (
        ("train", train_text, None),
        ("val", val_text, split.val_source),
        ("test", test_text, split.test_source),
    ):
        if source is not None:
            text = read_corpus(source, encoding=cfg.encoding, field=f"data.split.{key}_source").text
        elif key != "train" and not text:
            sections[key] = None
            continue
        ids = fitted.transform(text)
        check_window(len(ids), context, key, source=source)
        sections[key] = TokenStream(ids)
    _log_sections(sections, len(corpus))
    return PreparedData(train=sections["train"], val=sections["val"], test=sections["test"], preprocessor=fitted)


def load_corpus_for_evaluation(
    cfg: DataConfig, preprocessor: CorpusPreprocessor, source: str, *, field: str = "input"
) -> TokenStream:
    """A whole ``.txt`` file or folder (``evaluate RUN --data book.txt``) tokenized with a run's tokenizer.

    Raises:
        DataError: the corpus cannot be read, is empty, or is shorter than one window of
            ``context + 1`` tokens.
    """
    ids = preprocessor.transform(read_corpus(source, encoding=cfg.encoding, field=field).text)
    if len(ids) < preprocessor.context + 1:
        raise DataError(
            f"{field}: '{source}' has {len(ids)} tokens, fewer than one window of data.context="
            f"{preprocessor.context} + 1; use a longer text"
        )
    return TokenStream(ids)


def _log_sections(sections: dict[str, TokenStream | None], characters: int) -> None:
    parts = []
    for key, stream in sections.items():
        if stream is None:
            continue
        unknown = int((stream.ids == UNK).sum()) if len(stream) else 0
        parts.append(f"{SECTION_NAMES[key]} {len(stream)}" + (f" ({unknown} unknown)" if unknown else ""))
    logger.info("corpus of %d characters; tokens per section: %s", characters, ", ".join(parts))
