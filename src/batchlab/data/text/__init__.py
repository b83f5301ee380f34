"""Text data: tokenizers, labelled text tables and language-modelling corpora, prepared into splits.

Entry points for the data pipeline:

* :func:`text_source_kind`: whether a ``data`` config is a text table (``"text"``), a corpus
  (``"corpus"``) or neither (``None``);
* :func:`prepare_text` / :func:`prepare_corpus`: the :class:`~batchlab.data.prepared.PreparedData` of
  each (``SequenceSplit`` / ``TokenStream`` splits);
* :func:`load_text_for_inference` / :func:`load_corpus_for_evaluation`: new input for a trained run;
* :func:`text_preprocessor_from_state`: a run's saved text or corpus preprocessor.

Tokenizers (``char``, ``word``, ``bpe``) share the special ids :data:`PAD` = 0, :data:`UNK` = 1,
:data:`CLS` = 2 and :data:`EOS` = 3; :func:`build_tokenizer` makes one from ``data.tokenizer`` and
:func:`tokenizer_from_state` reloads one.
"""

from __future__ import annotations

from batchlab.data.text.corpus import FILE_SEPARATOR, Corpus, read_corpus, split_corpus
from batchlab.data.text.detect import TextSourceKind, text_source_kind
from batchlab.data.text.prepare import (
    load_corpus_for_evaluation,
    load_text_for_inference,
    prepare_corpus,
    prepare_text,
)
from batchlab.data.text.preprocessors import CorpusPreprocessor, TextPreprocessor, text_preprocessor_from_state
from batchlab.data.text.table import TextTable, read_text_table
from batchlab.data.text.tokenizer import (
    CLS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    Tokenizer,
    build_tokenizer,
    tokenizer_from_state,
)

__all__ = [
    "CLS",
    "EOS",
    "FILE_SEPARATOR",
    "PAD",
    "SPECIAL_TOKENS",
    "UNK",
    "Corpus",
    "CorpusPreprocessor",
    "TextPreprocessor",
    "TextSourceKind",
    "TextTable",
    "Tokenizer",
    "build_tokenizer",
    "load_corpus_for_evaluation",
    "load_text_for_inference",
    "prepare_corpus",
    "prepare_text",
    "read_corpus",
    "read_text_table",
    "split_corpus",
    "text_preprocessor_from_state",
    "text_source_kind",
    "tokenizer_from_state",
]
