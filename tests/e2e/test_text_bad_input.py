"""Bad text input gets one line ``batchlab: error: ...`` naming the field and the value, exit code 2, no
traceback, and leaves nothing behind (no run directory, no output file)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from batchlab.cli import app

runner = CliRunner()

SMS = "".join(
    f"{label}\t{text}\n"
    for label, text in [
        ("ham", "Ok lar... Joking wif u oni..."),
        ("spam", "WINNER!! Claim your prize, call 09061701461 now"),
        ("ham", "I'll call you later"),
        ("spam", "Free entry in 2 a wkly comp to win FA Cup final tkts"),
    ]
    * 10
)
CORPUS = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20
CLASSIFIER = {
    "data": {"source": "sms.tsv", "header": False, "columns": ["label", "message"], "text": "message"},
    "model": {"name": "bag", "embed": 8},
    "train": {"batch_size": 8, "epochs": 1},
}
LANGUAGE_MODEL = {
    "data": {"source": "corpus.txt", "task": "language_model", "context": 16, "split": {"val": 0.2, "test": 0.0}},
    "model": {"name": "gpt", "embed": 16, "layers": 1, "heads": 2},
    "train": {"batch_size": 4, "epochs": None, "max_steps": 3},
}


def _one_line_error(args: list[str], *fragments: str) -> str:
    result = runner.invoke(app, args)
    err = result.stderr or result.output
    lines = [line for line in err.strip().splitlines() if line]
    assert result.exit_code == 2, err
    assert len(lines) == 1 and lines[0].startswith("batchlab: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _train_error(tmp_path: Path, config: dict, files: dict[str, str | bytes], *fragments: str) -> str:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    args = ["train", str(tmp_path / "config.yaml"), "--run-dir", str(tmp_path / "run"), "-q"]
    line = _one_line_error(args, *fragments)
    assert not (tmp_path / "run").exists()
    return line


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # data paths in the configs are relative to the working directory


def _with(config: dict, **data: object) -> dict:
    return {**config, "data": {**config["data"], **data}}


# ------------------------------------------------------------------------------------- training


@pytest.mark.parametrize("content", ["", "  \n\n\t\n"])
def test_an_empty_corpus(tmp_path: Path, content: str) -> None:
    _train_error(tmp_path, LANGUAGE_MODEL, {"corpus.txt": content}, "data.source", "corpus.txt", "the corpus is empty")


def test_a_corpus_shorter_than_one_context_window(tmp_path: Path) -> None:
    _train_error(
        tmp_path,
        LANGUAGE_MODEL,
        {"corpus.txt": "To be, or not to be\n"},
        "data.context",
        "the training section has 16 tokens",
        "data.context=16 + 1",
    )


def test_a_validation_section_shorter_than_one_context_window(tmp_path: Path) -> None:
    _train_error(
        tmp_path,
        _with(LANGUAGE_MODEL, context=64),
        {"corpus.txt": CORPUS[:200]},
        "data.context",
        "the validation section has 40 tokens",
        "data.split.val",
    )


def test_a_label_column_with_one_class(tmp_path: Path) -> None:
    one_class = "".join(f"ham\t{line.split(chr(9))[1]}" for line in SMS.splitlines(keepends=True))
    _train_error(tmp_path, CLASSIFIER, {"sms.tsv": one_class}, "data.target", "'label'", "only one class 'ham'")


@pytest.mark.parametrize(
    ("tokenizer", "fragments"),
    [
        ({"kind": "word", "vocab_size": 3}, ["data.tokenizer.vocab_size", "3", "4 special tokens", "at least 5"]),
        ({"kind": "bpe", "vocab_size": 100}, ["data.tokenizer.vocab_size", "100", "256 byte tokens", "at least 261"]),
    ],
)
def test_a_vocabulary_smaller_than_its_fixed_tokens(tmp_path: Path, tokenizer: dict, fragments: list[str]) -> None:
    _train_error(tmp_path, _with(CLASSIFIER, tokenizer=tokenizer), {"sms.tsv": SMS}, *fragments)


def test_a_token_budget_on_a_table(tmp_path: Path) -> None:
    config = {"data": {"source": "iris"}, "train": {"batch_size": "512tokens", "epochs": 1}}
    _train_error(tmp_path, config, {}, "train.batch_size", "'512tokens'", "a table of features")


@pytest.mark.parametrize(
    ("config", "name", "content"),
    [
        (CLASSIFIER, "sms.tsv", b"ham\tcaf\xe9 at 5?\n" + SMS.encode()),
        (LANGUAGE_MODEL, "corpus.txt", CORPUS.encode() + b"\nVIOLA: adieu, ma\xeetre\n"),
    ],
)
def test_a_file_that_is_not_utf8(tmp_path: Path, config: dict, name: str, content: bytes) -> None:
    _train_error(tmp_path, config, {name: content}, "data.source", name, "not valid utf-8", "data.encoding")


def test_a_latin1_file_reads_with_its_encoding(tmp_path: Path) -> None:
    (tmp_path / "sms.tsv").write_bytes(b"ham\tcaf\xe9 at 5?\n" + SMS.encode())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_with(CLASSIFIER, encoding="latin-1")))
    result = runner.invoke(app, ["train", "config.yaml", "--run-dir", "run", "-q", "--no-plots"])
    assert result.exit_code == 0, result.output


def test_a_missing_text_column(tmp_path: Path) -> None:
    line = _train_error(tmp_path, _with(CLASSIFIER, text="msg"), {"sms.tsv": SMS}, "data.text", "'msg'", "message")
    assert 'did you mean "message"' in line


def test_a_text_column_that_is_also_the_target(tmp_path: Path) -> None:
    _train_error(tmp_path, _with(CLASSIFIER, target="message"), {"sms.tsv": SMS}, "data.target", "'message'")


# ------------------------------------------------------------------------------ using trained runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A classifier run and a language-model run (one step of training each is enough here)."""
    root = tmp_path_factory.mktemp("text-runs")
    (root / "sms.tsv").write_text(SMS)
    (root / "corpus.txt").write_text(CORPUS)
    for name, config in (("classifier", CLASSIFIER), ("lm", LANGUAGE_MODEL)):
        raw = {**config, "data": {**config["data"], "source": str(root / config["data"]["source"])}}
        (root / f"{name}.yaml").write_text(yaml.safe_dump(raw))
        result = runner.invoke(app, ["train", str(root / f"{name}.yaml"), "--run-dir", str(root / name), "-q"])
        assert result.exit_code == 0, result.output
    return root / "classifier", root / "lm"


def test_a_prompt_with_characters_outside_the_vocabulary(runs: tuple[Path, Path]) -> None:
    _, lm = runs
    _one_line_error(["generate", str(lm), "--prompt", "First ☃ Citizen"], "--prompt", "'☃'", "vocabulary")


def test_generate_on_a_classification_run(runs: tuple[Path, Path]) -> None:
    classifier, _ = runs
    _one_line_error(["generate", str(classifier), "--prompt", "hi"], "generate", "classification run", "language_model")


@pytest.mark.parametrize(
    ("option", "value"), [("--tokens", "0"), ("--temperature", "-1"), ("--top-k", "-2"), ("--prompt", "")]
)
def test_generate_options_out_of_range(runs: tuple[Path, Path], option: str, value: str) -> None:
    _, lm = runs
    args = ["generate", str(lm), "--prompt", "First", option, value]
    _one_line_error(args, option)


def test_predict_on_a_language_model_run(runs: tuple[Path, Path], tmp_path: Path) -> None:
    _, lm = runs
    (tmp_path / "texts.txt").write_text("Speak, speak.\n")
    _one_line_error(["predict", str(lm), "texts.txt", "-o", "out.csv"], "is a language model", "batchlab generate")
    assert not (tmp_path / "out.csv").exists()


def test_evaluating_a_language_model_on_a_text_shorter_than_its_context(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    _, lm = runs
    (tmp_path / "short.txt").write_text("Speak.\n")
    _one_line_error(["evaluate", str(lm), "--data", "short.txt"], "--data", "short.txt", "data.context=16")


def test_predict_input_without_the_text_column(runs: tuple[Path, Path], tmp_path: Path) -> None:
    classifier, _ = runs
    (tmp_path / "texts.csv").write_text("a\tb\tc\nx\ty\tz\n")
    _one_line_error(["predict", str(classifier), "texts.csv", "-o", "out.csv"], "data.columns")
    assert not (tmp_path / "out.csv").exists()
