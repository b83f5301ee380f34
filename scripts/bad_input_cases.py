"""The catalogue of bad inputs that ``scripts/bad_inputs.py`` tries on the command line.

Each :class:`Case` prepares a fresh temporary folder (files, a config, maybe a trained run) and returns
the command-line arguments to try there. Add a case for every bad input or fault found: the script and
``tests/e2e/test_bad_input_catalogue.py`` then check that it gets the expected exit code, no traceback
and leaves nothing half-written.
"""

from __future__ import annotations

import atexit
import gzip
import os
import pickle
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from batchlab.cli import app

__all__ = ["CASES", "Case"]

runner = CliRunner()


@dataclass(frozen=True)
class Case:
    """One bad input: how to prepare it in an empty folder and what the command line must do with it.

    Attributes:
        kind: the group it is listed under (config, file, checkpoint, ...).
        name: what is wrong, in a few words.
        prepare: writes the files into the folder it is given and returns the command-line arguments.
        exit: the expected exit code (2 for a user's mistake, 0 when it is a documented behaviour with a
            warning).
        changes: paths (relative, or shell patterns) the command may create or change; anything else
            created or changed counts as half-written.
        needs: ``"fsdd"`` when the case copies real recordings from ``../shared/data/fsdd``.
    """

    kind: str
    name: str
    prepare: Callable[[Path], list[str]]
    exit: int = 2
    changes: tuple[str, ...] = ()
    needs: str | None = None


REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def config(text: str, *sets: str, run_dir: str = "run") -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        (root / "c.yaml").write_text(text)
        args = ["train", "c.yaml", "--run-dir", run_dir, "-q"]
        for item in sets:
            args += ["--set", item]
        return args

    return prepare


def data_file(name: str, content: bytes | str, text: str) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        (root / "c.yaml").write_text(text)
        return ["train", "c.yaml", "--run-dir", "run", "-q"]

    return prepare


def custom(build: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    return build


TABLE = "a,b,color,y\n" + "".join(f"{i},{i % 7},{'red' if i % 2 else 'blue'},{i % 3}\n" for i in range(60))


def _idx(root: Path, truncated: bool) -> list[str]:
    images = struct.pack(">IIII", 2051, 10, 4, 4) + bytes(10 * 16)
    labels = struct.pack(">II", 2049, 10) + bytes(range(10))
    (root / "x-images-idx3-ubyte.gz").write_bytes(gzip.compress(images[:-40] if truncated else images))
    if not truncated:
        pass
    else:
        (root / "x-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    (root / "c.yaml").write_text("data: {source: x-images-idx3-ubyte.gz}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _images(root: Path) -> list[str]:
    from PIL import Image

    for cls, size in (("cat", (8, 8)), ("dog", (10, 10))):
        (root / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("L", size).save(root / "imgs" / cls / f"{i}.png")
    (root / "c.yaml").write_text("data: {source: imgs}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


_CACHE: dict[str, Path] = {}


def _cached(key: str, build: Callable[[Path], Path]) -> Path:
    """``build(folder)`` once per process in a folder of its own (removed at exit); its result after that."""
    if key not in _CACHE:
        folder = Path(tempfile.mkdtemp(prefix=f"bad-inputs-{key}-"))
        atexit.register(shutil.rmtree, folder, True)
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            _CACHE[key] = build(folder)
        finally:
            os.chdir(cwd)
    return _CACHE[key]


def _train_iris(folder: Path) -> Path:
    (folder / "t.yaml").write_text("data: {source: iris}\nmodel: {hidden: [16]}\ntrain: {epochs: 1, batch_size: 32}")
    result = runner.invoke(app, ["train", "t.yaml", "--run-dir", "trained", "-q", "--no-plots"])
    assert result.exit_code == 0, result.output
    return folder / "trained"


def _trained(root: Path) -> Path:
    """A copy of a 1-epoch iris run (trained once per process) as ``root / "trained"``."""
    shutil.copytree(_cached("iris", _train_iris), root / "trained")
    return root / "trained"


def _corrupt_weights(root: Path) -> list[str]:
    run = _trained(root)
    (run / "model.safetensors").write_bytes(b"\x00" * 20)
    return ["evaluate", str(run)]


def _pickle_checkpoint(root: Path) -> list[str]:
    import hashlib
    import json

    run = _trained(root)
    checkpoint = sorted((run / "checkpoints").glob("step-*"))[-1]
    for other in sorted((run / "checkpoints").glob("step-*"))[:-1]:
        import shutil

        shutil.rmtree(other)

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("touch pwned",))

    (checkpoint / "optimizer.pt").write_bytes(pickle.dumps({"optimizer": Exploit()}))
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    manifest["optimizer.pt"] = hashlib.sha256((checkpoint / "optimizer.pt").read_bytes()).hexdigest()
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))
    return ["train", "--resume", str(run), "-q"]


def _other_model(root: Path) -> list[str]:
    run = _trained(root)
    text = (run / "config.yaml").read_text().replace("hidden:\n  - 16\n", "hidden:\n  - 8\n")
    (run / "config.yaml").write_text(text)
    return ["evaluate", str(run)]


def _npz(root: Path) -> list[str]:
    np.savez(root / "d.npz", x=np.zeros((10, 3)), y=np.zeros(7))
    (root / "c.yaml").write_text("data: {source: d.npz}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


SMS = "".join(
    f"{label}\t{text}\n"
    for label, text in [("ham", "Ok lar... Joking wif u oni..."), ("spam", "WINNER!! Claim your prize, call now")] * 20
)
CORPUS = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20
SMS_CONFIG = (
    "data: {source: sms.tsv, header: false, columns: [label, message], text: message}\n"
    "model: {name: bag, embed: 8}\ntrain: {epochs: 1}\n"
)
LM_CONFIG = (
    "data: {source: corpus.txt, task: language_model, context: 16, split: {val: 0.2, test: 0}}\n"
    "model: {name: gpt, embed: 16, layers: 1, heads: 2}\ntrain: {batch_size: 4, epochs: null, max_steps: 2}\n"
)


def _text_run(root: Path, kind: str) -> Path:
    """A copy of a trained text classifier (``kind="classifier"``) or character language model in ``root``."""

    def build(folder: Path) -> Path:
        (folder / "sms.tsv").write_text(SMS)
        (folder / "corpus.txt").write_text(CORPUS)
        (folder / "t.yaml").write_text(
            SMS_CONFIG.replace("epochs: 1", "epochs: 1, batch_size: 8") if kind == "classifier" else LM_CONFIG
        )
        result = runner.invoke(app, ["train", "t.yaml", "--run-dir", kind, "-q", "--no-plots"])
        assert result.exit_code == 0, result.output
        return folder / kind

    shutil.copytree(_cached(kind, build), root / kind)
    return root / kind


def _predict_on_language_model(root: Path) -> list[str]:
    run = _text_run(root, "lm")
    (root / "texts.txt").write_text("Speak, speak.\n")
    return ["predict", str(run), "texts.txt", "-o", "out.csv"]


def _busy_run_dir(root: Path) -> list[str]:
    (root / "run").mkdir()
    (root / "run" / "keep.txt").write_text("mine")
    (root / "c.yaml").write_text("train: {epochs: 1}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


AUDIO = """\
data:
  source: rec
  label_pattern: '{label}'
  audio: {{sample_rate: 8000, n_mels: 20{audio}}}
{data}model: {{name: cnn, channels: [4], hidden: [8]}}
train: {{epochs: 1, batch_size: 8}}
"""


def recordings(
    make: Callable[[Path], object] = lambda rec: None, *, label: str = r"^(\d)_", audio: str = "", data: str = ""
) -> Callable[[Path], list[str]]:
    """120 short synthetic recordings (3 speakers x 10 digits x 4 takes, a tone per digit) in ``rec``,
    named like FSDD's ``{digit}_{speaker}_{take}.wav``, changed by ``make``, and a config."""

    def prepare(root: Path) -> list[str]:
        (root / "rec").mkdir()
        noise = np.random.default_rng(0)
        t = np.arange(800) / 8000
        for digit in range(10):
            for speaker in ("george", "jackson", "lucas"):
                for take in range(5, 9):
                    tone = 0.3 * np.sin(2 * np.pi * (200 + 50 * digit) * t) + 0.01 * noise.standard_normal(t.size)
                    _wav(root / "rec" / f"{digit}_{speaker}_{take}.wav", tone.astype(np.float32))
        make(root / "rec")
        (root / "c.yaml").write_text(AUDIO.format(label=label, audio=audio, data=data))
        return ["train", "c.yaml", "--run-dir", "run", "-q"]

    return prepare


def _no_recordings(root: Path) -> list[str]:
    (root / "rec").mkdir()
    (root / "rec" / "notes.txt").write_text("no audio here")
    (root / "rec" / "one.mp3").write_bytes(b"ID3")
    (root / "c.yaml").write_text(AUDIO.format(label=r"^(\d)_", audio="", data=""))
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _wav(path: Path, samples: np.ndarray) -> None:
    import soundfile

    soundfile.write(str(path), samples, 8000)


def _two_speakers(rec: Path) -> None:
    for path in rec.glob("*_lucas_*.wav"):
        path.unlink()


CASES: list[Case] = [
    Case("config", "unknown dataset name `digitz`", config("data: {source: digitz}")),
    Case("config", "unknown model `resnet`", config("model: {name: resnet}")),
    Case("config", "unknown optimizer `adma`", config("train: {optimizer: {name: adma}}")),
    Case("config", "unknown schedule `linear`", config("train: {schedule: {name: linear}}")),
    Case("config", "unknown key `train.batch_sise`", config("train: {batch_sise: 32}")),
    Case("config", "unknown section `trian`", config("trian: {epochs: 3}")),
    Case("config", "batch size 0", config("{}", "train.batch_size=0")),
    Case("config", "batch size -3", config("{}", "train.batch_size=-3")),
    Case("config", "batch size 12.5", config("{}", "train.batch_size=12.5")),
    Case("config", "batch size larger than the training split", config("{}", "train.batch_size=5000")),
    Case("config", "split fractions summing to 1 or more", config("data: {split: {val: 0.6, test: 0.5}}")),
    Case("config", "split fraction out of range", config("data: {split: {val: 1.2}}")),
    Case(
        "config", "early stopping on a metric that is not logged", config("train: {early_stopping: {monitor: val_f1}}")
    ),
    Case("config", "early stopping on val_loss without a validation split", config("data: {split: {val: 0}}")),
    Case("config", "augmentation on a table", config("data: {source: iris, augment: [hflip]}")),
    Case("config", "unknown augmentation `flip`", config("data: {augment: [flip]}")),
    Case("config", "CNN on tabular data", config("data: {source: iris}\nmodel: {name: cnn}")),
    Case("config", "invalid YAML", config("train: {batch_size: [1, 2\n")),
    Case(
        "config", "a loss that does not fit the task", config("data: {source: diabetes}\ntrain: {loss: cross_entropy}")
    ),
    Case("config", "unavailable device", config("train: {device: 'cuda:3'}")),
    Case("file", "missing CSV file", config("data: {source: missing.csv}")),
    Case("file", "empty CSV file", data_file("t.csv", "", "data: {source: t.csv}")),
    Case("file", "binary garbage named .csv", data_file("t.csv", b"\x00\xff\xfe" * 50, "data: {source: t.csv}")),
    Case("file", "unknown target column", data_file("t.csv", TABLE, "data: {source: t.csv, target: z}")),
    Case(
        "file",
        "text in a numeric column",
        data_file("t.csv", TABLE.replace("\n17,", "\nseventeen,", 1), "data: {source: t.csv, target: y}"),
    ),
    Case(
        "file",
        "missing value with `missing: error`",
        data_file("t.csv", TABLE.replace("\n5,5,", "\n5,,", 1), "data: {source: t.csv, target: y, missing: error}"),
    ),
    Case(
        "file",
        "infinite value with `missing: error`",
        data_file("t.csv", TABLE.replace("\n5,5,", "\n5,inf,", 1), "data: {source: t.csv, target: y, missing: error}"),
    ),
    Case(
        "file",
        "target with a single class",
        data_file("t.csv", "a,y\n" + "1,same\n" * 30, "data: {source: t.csv, target: y}"),
    ),
    Case(
        "file",
        "headerless CSV with the wrong number of column names",
        data_file("t.csv", "1,2,3\n4,5,6\n", "data: {source: t.csv, header: false, columns: [a, b]}"),
    ),
    Case("file", "corrupt Parquet", data_file("t.parquet", b"PAR1garbage", "data: {source: t.parquet}")),
    Case("file", "truncated IDX images", custom(lambda root: _idx(root, truncated=True))),
    Case("file", "IDX images without a labels file", custom(lambda root: _idx(root, truncated=False))),
    Case("file", "image folder with mixed sizes and no image_size", custom(_images)),
    Case("file", "npz whose label count differs from the images", custom(_npz)),
    Case("checkpoint", "damaged model.safetensors", custom(_corrupt_weights)),
    Case(
        "checkpoint",
        "checkpoint crafted to run code when unpickled",
        custom(_pickle_checkpoint),
        exit=0,
        changes=("trained",),
    ),
    Case("checkpoint", "weights that do not fit the config's model", custom(_other_model)),
    Case("checkpoint", "evaluate a folder that is not a run", custom(lambda root: ["evaluate", str(root)])),
    Case("audio", "folder with no audio files", custom(_no_recordings)),
    Case("audio", "label pattern that matches no file name", recordings(label=r"^([a-z]+)-")),
    Case(
        "audio",
        "class with one recording under a stratified split",
        recordings(
            lambda rec: (rec / "x_george_5.wav").write_bytes((rec / "0_george_5.wav").read_bytes()), label=r"^(\d|x)_"
        ),
    ),
    Case(
        "audio",
        "group split with fewer groups (2 speakers) than splits",
        recordings(_two_speakers, data="  group_pattern: '^\\d_([a-z]+)_'\n  split: {by_group: true}\n"),
    ),
    Case(
        "audio",
        "corrupt WAV header",
        recordings(lambda rec: (rec / "3_george_99.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 40)),
    ),
    Case(
        "audio", "zero-length recording", recordings(lambda rec: _wav(rec / "3_george_99.wav", np.zeros(0, np.float32)))
    ),
    Case(
        "audio",
        "stereo recording with `audio.channels: error`",
        recordings(
            lambda rec: _wav(rec / "3_george_99.wav", np.full((800, 2), 0.1, np.float32)), audio=", channels: error"
        ),
    ),
    Case("audio", "image augmentation on recordings", recordings(data="  augment: [specaugment, hflip]\n")),
    Case("audio", "audio augmentation on a table", config("data: {source: iris, augment: [specaugment]}")),
    Case("text", "empty corpus", data_file("corpus.txt", "  \n\n", LM_CONFIG)),
    Case("text", "corpus shorter than one context window", data_file("corpus.txt", "To be, or not to be\n", LM_CONFIG)),
    Case(
        "text",
        "validation section shorter than one context window",
        data_file("corpus.txt", CORPUS[:200], LM_CONFIG.replace("context: 16", "context: 64")),
    ),
    Case(
        "text",
        "label column that is all one class",
        data_file("sms.tsv", SMS.replace("spam\t", "ham\t"), SMS_CONFIG),
    ),
    Case(
        "text",
        "word vocabulary smaller than its special tokens",
        data_file(
            "sms.tsv",
            SMS,
            SMS_CONFIG.replace("text: message}", "text: message, tokenizer: {kind: word, vocab_size: 3}}"),
        ),
    ),
    Case(
        "text",
        "BPE vocabulary smaller than its special and byte tokens",
        data_file(
            "sms.tsv",
            SMS,
            SMS_CONFIG.replace("text: message}", "text: message, tokenizer: {kind: bpe, vocab_size: 100}}"),
        ),
    ),
    Case("text", "token budget on a table", config("data: {source: iris}\ntrain: {batch_size: 512tokens}")),
    Case("text", "table that is not UTF-8", data_file("sms.tsv", b"ham\tcaf\xe9 at 5?\n" + SMS.encode(), SMS_CONFIG)),
    Case("text", "corpus that is not UTF-8", data_file("corpus.txt", CORPUS.encode() + b"ma\xeetre\n", LM_CONFIG)),
    Case("text", "missing text column", data_file("sms.tsv", SMS, SMS_CONFIG.replace("text: message", "text: msg"))),
    Case(
        "text",
        "prompt with characters outside the vocabulary",
        custom(lambda root: ["generate", str(_text_run(root, "lm")), "--prompt", "First ☃ Citizen"]),
    ),
    Case(
        "text",
        "`generate` on a classification run",
        custom(lambda root: ["generate", str(_text_run(root, "classifier")), "--prompt", "hi"]),
    ),
    Case("text", "`predict` on a language-model run", custom(_predict_on_language_model)),
    Case("cli", "`--set` without `=`", config("{}", "train.batch_size")),
    Case("cli", "train without a config", custom(lambda root: ["train"])),
    Case("cli", "config file that does not exist", custom(lambda root: ["train", "nope.yaml"])),
    Case("cli", "run directory that is not empty", custom(_busy_run_dir)),
    Case("cli", "run directory that cannot be created", config("{}", run_dir="/proc/batchlab-run")),
]
