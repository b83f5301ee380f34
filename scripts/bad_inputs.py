"""Try every catalogued bad input on the command line and write docs/bad-inputs.md with what each gets.

    .venv/bin/python scripts/bad_inputs.py

Each case runs in a fresh temporary folder; the table records the exit code, the one line printed, and
whether anything was left behind.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from batchlab.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
Case = tuple[str, str, Callable[[Path], list[str]]]


def config(text: str, *sets: str) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        (root / "c.yaml").write_text(text)
        args = ["train", "c.yaml", "--run-dir", "run", "-q"]
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


def _trained(root: Path) -> Path:
    (root / "t.yaml").write_text("data: {source: iris}\ntrain: {epochs: 1}")
    result = runner.invoke(app, ["train", "t.yaml", "--run-dir", "trained", "-q", "--no-plots"])
    assert result.exit_code == 0, result.output
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
    text = (run / "config.yaml").read_text().replace("- 256\n  - 256", "- 128\n  - 256")
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
    """A trained text classifier (``kind="classifier"``) or character language model in ``root``."""
    (root / "sms.tsv").write_text(SMS)
    (root / "corpus.txt").write_text(CORPUS)
    (root / "t.yaml").write_text(
        SMS_CONFIG.replace("epochs: 1", "epochs: 1, batch_size: 8") if kind == "classifier" else LM_CONFIG
    )
    result = runner.invoke(app, ["train", "t.yaml", "--run-dir", kind, "-q", "--no-plots"])
    assert result.exit_code == 0, result.output
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


FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"
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
    """120 FSDD recordings (3 speakers x 10 digits x 4 takes) in ``rec``, changed by ``make``, and a config."""

    def prepare(root: Path) -> list[str]:
        import shutil

        (root / "rec").mkdir()
        for digit in range(10):
            for speaker in ("george", "jackson", "lucas"):
                for take in range(5, 9):
                    name = f"{digit}_{speaker}_{take}.wav"
                    shutil.copyfile(FSDD / name, root / "rec" / name)
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


def lr_find(text: str, *options: str) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        (root / "c.yaml").write_text(text)
        return ["lr-find", "c.yaml", "--run-dir", "run", "--no-plots", *options]

    return prepare


def lr_study(text: str, *options: str) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        (root / "c.yaml").write_text(text)
        return ["study", "lr-vs-batch", "c.yaml", "--study-dir", "run", *options]

    return prepare


def _lr_find_into_a_folder(root: Path) -> list[str]:
    (root / "mine").mkdir()
    (root / "mine" / "notes.txt").write_text("keep")
    (root / "c.yaml").write_text("data: {source: digits}")
    return ["lr-find", "c.yaml", "--run-dir", "mine"]


def _lr_study_in_a_batch_size_study(root: Path) -> list[str]:
    (root / "study").mkdir()
    (root / "study" / "study.json").write_text('{"kind": "batch-size", "fingerprint": "0"}')
    (root / "c.yaml").write_text("data: {source: iris}")
    return ["study", "lr-vs-batch", "c.yaml", "--study-dir", "study"]


CASES: list[Case] = [
    ("config", "unknown dataset name `digitz`", config("data: {source: digitz}")),
    ("config", "unknown model `resnet`", config("model: {name: resnet}")),
    ("config", "unknown optimizer `adma`", config("train: {optimizer: {name: adma}}")),
    ("config", "unknown schedule `linear`", config("train: {schedule: {name: linear}}")),
    ("config", "unknown key `train.batch_sise`", config("train: {batch_sise: 32}")),
    ("config", "unknown section `trian`", config("trian: {epochs: 3}")),
    ("config", "batch size 0", config("{}", "train.batch_size=0")),
    ("config", "batch size -3", config("{}", "train.batch_size=-3")),
    ("config", "batch size 12.5", config("{}", "train.batch_size=12.5")),
    ("config", "batch size larger than the training split", config("{}", "train.batch_size=5000")),
    ("config", "split fractions summing to 1 or more", config("data: {split: {val: 0.6, test: 0.5}}")),
    ("config", "split fraction out of range", config("data: {split: {val: 1.2}}")),
    ("config", "early stopping on a metric that is not logged", config("train: {early_stopping: {monitor: val_f1}}")),
    ("config", "early stopping on val_loss without a validation split", config("data: {split: {val: 0}}")),
    ("config", "augmentation on a table", config("data: {source: iris, augment: [hflip]}")),
    ("config", "unknown augmentation `flip`", config("data: {augment: [flip]}")),
    ("config", "CNN on tabular data", config("data: {source: iris}\nmodel: {name: cnn}")),
    ("config", "invalid YAML", config("train: {batch_size: [1, 2\n")),
    ("config", "a loss that does not fit the task", config("data: {source: diabetes}\ntrain: {loss: cross_entropy}")),
    ("config", "unavailable device", config("train: {device: 'cuda:3'}")),
    ("file", "missing CSV file", config("data: {source: missing.csv}")),
    ("file", "empty CSV file", data_file("t.csv", "", "data: {source: t.csv}")),
    ("file", "binary garbage named .csv", data_file("t.csv", b"\x00\xff\xfe" * 50, "data: {source: t.csv}")),
    ("file", "unknown target column", data_file("t.csv", TABLE, "data: {source: t.csv, target: z}")),
    (
        "file",
        "text in a numeric column",
        data_file("t.csv", TABLE.replace("\n17,", "\nseventeen,", 1), "data: {source: t.csv, target: y}"),
    ),
    (
        "file",
        "missing value with `missing: error`",
        data_file("t.csv", TABLE.replace("\n5,5,", "\n5,,", 1), "data: {source: t.csv, target: y, missing: error}"),
    ),
    (
        "file",
        "infinite value with `missing: error`",
        data_file("t.csv", TABLE.replace("\n5,5,", "\n5,inf,", 1), "data: {source: t.csv, target: y, missing: error}"),
    ),
    (
        "file",
        "target with a single class",
        data_file("t.csv", "a,y\n" + "1,same\n" * 30, "data: {source: t.csv, target: y}"),
    ),
    (
        "file",
        "headerless CSV with the wrong number of column names",
        data_file("t.csv", "1,2,3\n4,5,6\n", "data: {source: t.csv, header: false, columns: [a, b]}"),
    ),
    ("file", "corrupt Parquet", data_file("t.parquet", b"PAR1garbage", "data: {source: t.parquet}")),
    ("file", "truncated IDX images", custom(lambda root: _idx(root, truncated=True))),
    ("file", "IDX images without a labels file", custom(lambda root: _idx(root, truncated=False))),
    ("file", "image folder with mixed sizes and no image_size", custom(_images)),
    ("file", "npz whose label count differs from the images", custom(_npz)),
    ("checkpoint", "damaged model.safetensors", custom(_corrupt_weights)),
    ("checkpoint", "checkpoint crafted to run code when unpickled", custom(_pickle_checkpoint)),
    ("checkpoint", "weights that do not fit the config's model", custom(_other_model)),
    ("checkpoint", "evaluate a folder that is not a run", custom(lambda root: ["evaluate", str(root)])),
    ("audio", "folder with no audio files", custom(_no_recordings)),
    ("audio", "label pattern that matches no file name", recordings(label=r"^([a-z]+)-")),
    (
        "audio",
        "class with one recording under a stratified split",
        recordings(
            lambda rec: (rec / "x_george_5.wav").write_bytes((rec / "0_george_5.wav").read_bytes()), label=r"^(\d|x)_"
        ),
    ),
    (
        "audio",
        "group split with fewer groups (2 speakers) than splits",
        recordings(_two_speakers, data="  group_pattern: '^\\d_([a-z]+)_'\n  split: {by_group: true}\n"),
    ),
    (
        "audio",
        "corrupt WAV header",
        recordings(lambda rec: (rec / "3_george_99.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 40)),
    ),
    ("audio", "zero-length recording", recordings(lambda rec: _wav(rec / "3_george_99.wav", np.zeros(0, np.float32)))),
    (
        "audio",
        "stereo recording with `audio.channels: error`",
        recordings(
            lambda rec: _wav(rec / "3_george_99.wav", np.full((800, 2), 0.1, np.float32)), audio=", channels: error"
        ),
    ),
    ("audio", "image augmentation on recordings", recordings(data="  augment: [specaugment, hflip]\n")),
    ("audio", "audio augmentation on a table", config("data: {source: iris, augment: [specaugment]}")),
    ("text", "empty corpus", data_file("corpus.txt", "  \n\n", LM_CONFIG)),
    ("text", "corpus shorter than one context window", data_file("corpus.txt", "To be, or not to be\n", LM_CONFIG)),
    (
        "text",
        "validation section shorter than one context window",
        data_file("corpus.txt", CORPUS[:200], LM_CONFIG.replace("context: 16", "context: 64")),
    ),
    (
        "text",
        "label column that is all one class",
        data_file("sms.tsv", SMS.replace("spam\t", "ham\t"), SMS_CONFIG),
    ),
    (
        "text",
        "word vocabulary smaller than its special tokens",
        data_file(
            "sms.tsv",
            SMS,
            SMS_CONFIG.replace("text: message}", "text: message, tokenizer: {kind: word, vocab_size: 3}}"),
        ),
    ),
    (
        "text",
        "BPE vocabulary smaller than its special and byte tokens",
        data_file(
            "sms.tsv",
            SMS,
            SMS_CONFIG.replace("text: message}", "text: message, tokenizer: {kind: bpe, vocab_size: 100}}"),
        ),
    ),
    ("text", "token budget on a table", config("data: {source: iris}\ntrain: {batch_size: 512tokens}")),
    ("text", "table that is not UTF-8", data_file("sms.tsv", b"ham\tcaf\xe9 at 5?\n" + SMS.encode(), SMS_CONFIG)),
    ("text", "corpus that is not UTF-8", data_file("corpus.txt", CORPUS.encode() + b"ma\xeetre\n", LM_CONFIG)),
    ("text", "missing text column", data_file("sms.tsv", SMS, SMS_CONFIG.replace("text: message", "text: msg"))),
    (
        "text",
        "prompt with characters outside the vocabulary",
        custom(lambda root: ["generate", str(_text_run(root, "lm")), "--prompt", "First ☃ Citizen"]),
    ),
    (
        "text",
        "`generate` on a classification run",
        custom(lambda root: ["generate", str(_text_run(root, "classifier")), "--prompt", "hi"]),
    ),
    ("text", "`predict` on a language-model run", custom(_predict_on_language_model)),
    ("cli", "`--set` without `=`", config("{}", "train.batch_size")),
    ("cli", "train without a config", custom(lambda root: ["train"])),
    ("cli", "config file that does not exist", custom(lambda root: ["train", "nope.yaml"])),
    ("cli", "run directory that is not empty", custom(_busy_run_dir)),
    ("cli", "run directory that cannot be created", config("{}")),
    ("lr-find", "`--min` not below `--max`", lr_find("data: {source: digits}", "--min", "1", "--max", "0.1")),
    ("lr-find", "fewer than 10 steps", lr_find("data: {source: digits}", "--steps", "5")),
    ("lr-find", "unknown spacing `--mode log`", lr_find("data: {source: digits}", "--mode", "log")),
    ("lr-find", "unknown suggestion rule", lr_find("data: {source: digits}", "--rule", "valley")),
    ("lr-find", "a folder that holds neither a run nor a range test", custom(_lr_find_into_a_folder)),
    (
        "lr-find",
        "a schedule other than constant (a note; the test runs)",
        lr_find("data: {source: digits}\ntrain: {schedule: {name: cosine, warmup_steps: 40}}"),
    ),
    (
        "lr-find",
        "a training split smaller than steps x batch (a note; the test runs)",
        lr_find("data: {source: iris}\ntrain: {batch_size: 32}"),
    ),
    ("lr-find", "a single batch size in `study lr-vs-batch`", lr_study("data: {source: iris}", "--sizes", "16")),
    ("lr-find", "`study lr-vs-batch` in a batch-size study's folder", custom(_lr_study_in_a_batch_size_study)),
    # ---- normalization (model.norm) ----
    (
        "config",
        "`norm: group` with channels not divisible by `norm_groups`",
        config("data: {source: digits}\nmodel: {name: cnn, norm: group, norm_groups: 8, channels: [12]}"),
    ),
    (
        "config",
        "`norm: ghost` with a ghost batch larger than the batch",
        config("data: {source: iris}\nmodel: {norm: ghost, ghost_batch_size: 64}\ntrain: {batch_size: 16}"),
    ),
    (
        "config",
        "`norm: batch` with a batch of one sample in training",
        config("data: {source: iris}\nmodel: {norm: batch}\ntrain: {batch_size: 1}"),
    ),
    # ---- end of normalization ----
]


def main() -> None:
    rows = []
    for kind, name, prepare in CASES:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            cwd = os.getcwd()
            os.chdir(root)
            try:
                args = prepare(root)
                if name == "run directory that cannot be created":
                    args[3] = "/proc/batchlab-run"
                result = runner.invoke(app, args)
            finally:
                os.chdir(cwd)
            lines = [line for line in (result.stderr or result.output).strip().splitlines() if line]
            if result.exit_code == 0 and kind == "lr-find":  # a range test that ran: its notes are the point
                lines = [line for line in lines if line.startswith("Note: ")]
            message = " / ".join(lines)
            message = message.replace("|", "\\|")
            message = message.replace(str(root), "DIR").replace(folder, "DIR")
            leftover = "run" if (root / "run").exists() and name != "run directory that is not empty" else "nothing"
            leftover = "out.csv" if (root / "out.csv").exists() else leftover
            if result.exit_code == 0 and kind == "lr-find":
                leftover = "the test's results (run)"
            pwned = (root / "pwned").exists()
            rows.append(
                f"| {kind} | {name} | {result.exit_code} | `{message}` | {leftover}{' (CODE RAN!)' if pwned else ''} |"
            )
            print(f"{result.exit_code} {name}: {message}", file=sys.stderr)
    text = (REPO / "docs" / "bad-inputs.md").read_text() if (REPO / "docs" / "bad-inputs.md").exists() else ""
    head = text.split("<!-- table -->")[0] if "<!-- table -->" in text else HEAD
    (REPO / "docs" / "bad-inputs.md").write_text(
        head
        + "<!-- table -->\n| kind | input | exit | what it prints | left behind |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


HEAD = """# Bad inputs and what they get

Every input below was tried on the command line by `scripts/bad_inputs.py` (re-run it to refresh this
table). A user's mistake gets one line naming the field or file, the value and what is allowed, exit
code 2, no traceback, and leaves no run directory behind. The property-based tests in
`tests/e2e/test_fuzz_inputs.py` (hypothesis) generate configs and small CSV files, malformed ones
included, and check the same rule for each: a valid run or one `batchlab: error: ...` line.

"""

if __name__ == "__main__":
    main()
