"""The catalogue of bad inputs that ``scripts/bad_inputs.py`` tries on the command line.

Each :class:`Case` prepares a fresh temporary folder (files, a config, maybe a trained run) and returns
the command-line arguments to try there. Add a case for every bad input or fault found: the script and
``tests/e2e/test_bad_input_catalogue.py`` then check that it gets the expected exit code, no traceback
and leaves nothing half-written.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import gzip
import os
import pickle
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        fault: a context manager in force while the command runs (a disk that fails, say).
    """

    kind: str
    name: str
    prepare: Callable[[Path], list[str]]
    exit: int = 2
    changes: tuple[str, ...] = ()
    fault: Callable[[], contextlib.AbstractContextManager[None]] | None = None


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
    info = json.loads((run / "run.json").read_text())  # as if killed: a finished run's resume reads no checkpoint
    (run / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
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
    """90 short synthetic recordings (3 speakers x 10 digits x 3 takes, a tone per digit) in ``rec``,
    named like FSDD's ``{digit}_{speaker}_{take}.wav``, changed by ``make``, and a config."""

    def prepare(root: Path) -> list[str]:
        (root / "rec").mkdir()
        noise = np.random.default_rng(0)
        t = np.arange(800) / 8000
        for digit in range(10):
            for speaker in ("george", "jackson", "lucas"):
                for take in range(5, 8):
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


# ------------------------------------------------------------------------------ runs, disks and faults


def _iris_csv(path: Path) -> None:
    """The iris features (no target column) as a CSV file, input for ``predict``."""
    from sklearn.datasets import load_iris

    load_iris(as_frame=True).data.head(10).to_csv(path, index=False)


def on_run(command: str, damage: Callable[[Path], object] = lambda run: None) -> Callable[[Path], list[str]]:
    """A trained iris run, changed by ``damage(run)``, and ``command`` (evaluate, report or predict) on it."""

    def prepare(root: Path) -> list[str]:
        run = _trained(root)
        damage(run)
        if command == "predict":
            _iris_csv(root / "new.csv")
            return ["predict", str(run), "new.csv", "-o", "out.csv"]
        return [command, str(run)]

    return prepare


def _write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        target = run / name
        if target.is_dir():
            shutil.rmtree(target)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())

    return damage


def _predict_to(output: str, make: Callable[[Path], object] = lambda root: None) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        run = _trained(root)
        _iris_csv(root / "new.csv")
        make(root)
        return ["predict", str(run), "new.csv", "-o", output]

    return prepare


@contextlib.contextmanager
def _failing(target: str, error: BaseException) -> Iterator[None]:
    """``target`` (``module:attribute``) raises ``error`` while the command runs (a disk that fails)."""
    import importlib

    module_name, attribute = target.split(":")
    module = importlib.import_module(module_name)
    original = getattr(module, attribute)

    def fail(*args: object, **kwargs: object) -> object:
        raise error

    setattr(module, attribute, fail)
    try:
        yield
    finally:
        setattr(module, attribute, original)


def _disk_full(target: str) -> Callable[[], contextlib.AbstractContextManager[None]]:
    return lambda: _failing(target, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))


def _read_only(target: str) -> Callable[[], contextlib.AbstractContextManager[None]]:
    return lambda: _failing(target, OSError(errno.EROFS, os.strerror(errno.EROFS)))


def _safetensors_full() -> contextlib.AbstractContextManager[None]:
    """``safetensors.torch.save_file`` fails as it does on a full disk (an error raised in Rust)."""
    from safetensors import SafetensorError

    return _failing(
        "batchlab.train.checkpoint:save_file",
        SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        ),
    )


def _interrupted_iris(folder: Path) -> Path:
    """An iris run stopped by a signal at step 6 of 12: checkpoints at steps 4 and 6, resumable."""
    from batchlab.train.callbacks import graceful_stop

    (folder / "t.yaml").write_text(
        "data: {source: iris}\nmodel: {hidden: [16]}\ntrain: {epochs: 3, batch_size: 32, "
        "early_stopping: {enabled: false}}"
    )
    original = graceful_stop.GracefulStop.on_step_end

    def signal_at_step_6(self: graceful_stop.GracefulStop, state: Any) -> None:
        if state.step == 6:
            self.received = "SIGINT"
        original(self, state)

    graceful_stop.GracefulStop.on_step_end = signal_at_step_6  # type: ignore[method-assign]
    try:
        result = runner.invoke(app, ["train", "t.yaml", "--run-dir", "interrupted", "-q", "--no-plots"])
    finally:
        graceful_stop.GracefulStop.on_step_end = original  # type: ignore[method-assign]
    assert result.exit_code == 130, result.output
    return folder / "interrupted"


def crafted(name: str, content: Callable[[Path], bytes] | bytes | str) -> Callable[[Path], list[str]]:
    """An interrupted run whose latest checkpoint holds a crafted ``name`` (with a matching manifest hash);
    then ``train --resume``."""

    def prepare(root: Path) -> list[str]:
        import hashlib
        import json

        shutil.copytree(_cached("interrupted", _interrupted_iris), root / "interrupted")
        latest = sorted((root / "interrupted" / "checkpoints").glob("step-*"))[-1]
        data = content(latest) if callable(content) else content
        (latest / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        if name != "manifest.json":
            manifest = json.loads((latest / "manifest.json").read_text())
            manifest[name] = hashlib.sha256((latest / name).read_bytes()).hexdigest()
            (latest / "manifest.json").write_text(json.dumps(manifest))
        return ["train", "--resume", "interrupted", "-q", "--no-plots"]

    return prepare


def _checkpoints_file(root: Path) -> list[str]:
    shutil.copytree(_cached("interrupted", _interrupted_iris), root / "interrupted")
    shutil.rmtree(root / "interrupted" / "checkpoints")
    (root / "interrupted" / "checkpoints").write_text("not a folder")
    return ["train", "--resume", "interrupted", "-q", "--no-plots"]


def _torch_bytes(value: object) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _other_param_groups(checkpoint: Path) -> bytes:
    import torch

    state = torch.load(checkpoint / "optimizer.pt", weights_only=True)
    groups = state["optimizer"]["param_groups"] if "optimizer" in state else state["param_groups"]
    groups.append({**groups[0], "params": [99, 100]})
    return _torch_bytes(state)


SPACE = "train.optimizer.lr: {log_uniform: [0.01, 0.1]}\n"
TUNE_CONFIG = "data: {source: iris}\nmodel: {hidden: [8]}\ntrain: {epochs: 1, batch_size: 32}\n"


def _tuned(folder: Path) -> Path:
    (folder / "c.yaml").write_text(TUNE_CONFIG)
    (folder / "space.yaml").write_text(SPACE)
    args = ["tune", "c.yaml", "--space", "space.yaml", "--method", "random", "--trials", "2", "--study-dir", "st"]
    result = runner.invoke(app, [*args, "-q"])
    assert result.exit_code == 0, result.output
    return folder / "st"


def journal(damage: Callable[[bytes], bytes]) -> Callable[[Path], list[str]]:
    """A finished 2-trial study whose ``optuna.journal`` is changed by ``damage``; then one more trial."""

    def prepare(root: Path) -> list[str]:
        shutil.copytree(_cached("tuned", _tuned), root / "st", symlinks=True)
        path = root / "st" / "optuna.journal"
        path.write_bytes(damage(path.read_bytes()))
        (root / "c.yaml").write_text(TUNE_CONFIG)
        (root / "space.yaml").write_text(SPACE)
        return ["tune", "c.yaml", "--space", "space.yaml", "--method", "random", "--trials", "3", "--study-dir", "st"]

    return prepare


def tune_space(space: str, config_text: str = TUNE_CONFIG) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        (root / "c.yaml").write_text(config_text)
        (root / "space.yaml").write_text(space)
        return ["tune", "c.yaml", "--space", "space.yaml", "--trials", "1", "--study-dir", "st", "-q"]

    return prepare


def _nested(depth: int) -> str:
    return "a: " + "[" * depth + "]" * depth


def _bomb(root: Path) -> list[str]:
    from PIL import Image

    for cls in ("cat", "dog"):
        (root / "imgs" / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("L", (8, 8)).save(root / "imgs" / cls / f"{i}.png")
    Image.new("1", (20000, 10000)).save(root / "imgs" / "cat" / "big.png")
    (root / "c.yaml").write_text("data: {source: imgs, image_size: [8, 8]}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _tiny_images(root: Path) -> None:
    from PIL import Image

    for cls in ("cat", "dog"):
        (root / "imgs" / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (8, 8), color=i * 40).save(root / "imgs" / cls / f"{i}.png")


def images(text: str) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        _tiny_images(root)
        (root / "c.yaml").write_text(text)
        return ["train", "c.yaml", "--run-dir", "run", "-q"]

    return prepare


def _npy_header(root: Path) -> list[str]:
    np.save(root / "x.npy", np.zeros((20, 3), np.float32))
    raw = bytearray((root / "x.npy").read_bytes())
    raw[10:30] = b"{'descr': '<q9', 'fo"
    (root / "x.npy").write_bytes(bytes(raw))
    np.save(root / "y.npy", np.arange(20) % 2)
    (root / "c.yaml").write_text("data: {source: x.npy, labels: y.npy}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _parquet_lists(root: Path) -> list[str]:
    import pandas as pd

    frame = pd.DataFrame({"a": [[1.0, 2.0]] * 40, "b": np.arange(40.0), "y": np.arange(40) % 2})
    frame.to_parquet(root / "t.parquet")
    (root / "c.yaml").write_text("data: {source: t.parquet, target: y, stream: {enabled: true, block_rows: 4}}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _parquet_columns(root: Path) -> list[str]:
    import pandas as pd

    pd.DataFrame({"b": np.arange(40.0), "y": np.arange(40) % 2}).to_parquet(root / "t.parquet")
    (root / "c.yaml").write_text("data: {source: t.parquet, header: false, columns: [y, b], target: y}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _jsonl_columns(root: Path) -> list[str]:
    rows = "".join(f'{{"text": "message {i}", "label": "{"ab"[i % 2]}"}}\n' for i in range(40))
    (root / "t.jsonl").write_text(rows)
    (root / "c.yaml").write_text("data: {source: t.jsonl, columns: [label, text], text: text, target: label}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _complex_npz(root: Path) -> list[str]:
    np.savez(root / "d.npz", x=np.ones((30, 3)) * (1 + 2j), y=np.arange(30) % 2)
    (root / "c.yaml").write_text("data: {source: d.npz}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _labels_folder(root: Path) -> list[str]:
    images_ = struct.pack(">IIII", 2051, 10, 4, 4) + bytes(10 * 16)
    (root / "x-images-idx3-ubyte.gz").write_bytes(gzip.compress(images_))
    (root / "labels").mkdir()
    (root / "c.yaml").write_text("data: {source: x-images-idx3-ubyte.gz, labels: labels}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _idx_truncated_gzip(root: Path) -> list[str]:
    images_ = struct.pack(">IIII", 2051, 10, 4, 4) + bytes(range(160))
    labels = struct.pack(">II", 2049, 10) + bytes(range(10))
    (root / "x-images-idx3-ubyte.gz").write_bytes(gzip.compress(images_)[:30])
    (root / "x-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    (root / "c.yaml").write_text("data: {source: x-images-idx3-ubyte.gz}")
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _run_dir_under_file(root: Path) -> list[str]:
    (root / "f").write_text("a file")
    (root / "c.yaml").write_text("data: {source: iris}")
    return ["train", "c.yaml", "--run-dir", "f/sub", "-q"]


def _default_run_dir(text: str) -> Callable[[Path], list[str]]:
    """A config trained without ``--run-dir`` (so the run goes to runs/<name>-<time>)."""

    def prepare(root: Path) -> list[str]:
        (root / "c.yaml").write_text(text)
        return ["train", "c.yaml", "-q"]

    return prepare


def _huge_config(root: Path) -> list[str]:
    with open(root / "c.yaml", "w") as handle:
        handle.write("data: {source: iris}\ntrain: {epochs: 1}\nnotes:\n")
        line = "  - " + "x" * 60 + "\n"
        handle.write(line * (12 * 2**20 // len(line)))
    return ["train", "c.yaml", "--run-dir", "run", "-q"]


def _swap_for_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    from safetensors.numpy import save

    return bytes(save(tensors))


def _billion_laughs() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        previous = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 10)}]")
    return "\n".join(lines) + "\n"


def config_bytes(content: bytes) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        (root / "c.yaml").write_bytes(content)
        return ["train", "c.yaml", "--run-dir", "run", "-q"]

    return prepare


def _many_processes(root: Path) -> list[str]:
    (root / "c.yaml").write_text("data: {source: iris}")
    return ["train", "c.yaml", "--run-dir", "run", "--nproc", "100000"]


TINY = ("train.max_steps=3", "model.hidden=[8]")
NOT_UTF8 = b"data: {source: iris}\nname: caf\xe9\n"
GARBAGE_CSV = b"\x00\x01garbage,,,\n\xff\xfe\n"

CASES += [
    # --- the disk and the operating system
    Case("disk", "`predict -o` to a directory", _predict_to("outdir", lambda root: (root / "outdir").mkdir())),
    Case("disk", "`predict -o` into /proc", _predict_to("/proc/batchlab-out.csv")),
    Case("disk", "`predict -o` into a folder that does not exist", _predict_to("no/such/folder/out.csv")),
    Case("disk", "`predict -o` under a file", _predict_to("f/out.csv", lambda root: (root / "f").write_text("x"))),
    Case("disk", "`predict -o` on a read-only disk", _predict_to("out.csv"), fault=_read_only("tempfile:mkstemp")),
    Case("disk", "`predict -o` on a full disk", _predict_to("out.csv"), fault=_disk_full("os:fsync")),
    Case(
        "disk",
        "disk full while writing weights during training (safetensors)",
        config("data: {source: iris}\ntrain: {epochs: 2}"),
        changes=("run",),
        fault=_safetensors_full,
    ),
    Case(
        "disk",
        "disk full while writing a checkpoint (fsync)",
        config("data: {source: iris}\ntrain: {epochs: 2}"),
        changes=("run",),
        fault=_disk_full("os:fsync"),
    ),
    Case(
        "disk",
        "read-only disk for the run directory",
        config("data: {source: iris}\ntrain: {epochs: 2}"),
        changes=("run",),
        fault=_read_only("tempfile:mkstemp"),
    ),
    Case("disk", "300-character --run-dir", config("data: {source: iris}", run_dir="r" * 300)),
    Case("disk", "--run-dir under a file", custom(_run_dir_under_file)),
    Case("disk", "--run-dir in /proc", config("data: {source: iris}", run_dir="/proc/self/batchlab-run")),
    # --- run directories damaged or edited by hand
    *[
        Case(
            "run files",
            f"`{command}` on a run whose {what}",
            on_run(command, damage),
            exit=0 if command in skip else 2,
            changes=("trained/plots",) if command == "report" else ("out.csv",) if command in skip else (),
        )
        for command in ("evaluate", "report", "predict")
        for what, damage, skip in (
            ("config.yaml is not YAML", _write("config.yaml", "data: {source: [iris\n"), "report"),
            ("config.yaml is a list", _write("config.yaml", "- data\n- model\n"), "report"),
            ("config.yaml is not UTF-8", _write("config.yaml", NOT_UTF8), "report"),
            ("config.yaml is empty", _write("config.yaml", ""), "report"),
            ("run.json is {}", _write("run.json", "{}"), "report"),
            ("run.json is []", _write("run.json", "[]"), ""),
            ("run.json is not JSON", _write("run.json", "{'task': "), ""),
            ("metrics.csv is garbage", _write("metrics.csv", GARBAGE_CSV), "evaluate predict"),
            ("preprocess.json is a list", _write("preprocess.json", "[1, 2]"), "report"),
            ("model.safetensors is a folder", lambda run: _swap_for_folder(run / "model.safetensors"), "report"),
        )
    ],
    # --- YAML and values beyond any sensible size
    Case("limits", "config nested 10000 levels deep", config(_nested(10000))),
    Case("limits", "--set value nested 10000 levels deep", config("{}", "train.seed=" + "[" * 10000 + "]" * 10000)),
    Case(
        "limits",
        "--space nested 10000 levels deep",
        tune_space("train.optimizer.lr: " + "[" * 10000 + "]" * 10000 + "\n"),
    ),
    Case("limits", "config nested 100 levels deep", config("a: " + "[" * 100 + "]" * 100)),
    Case("limits", "config file of 12 MB", custom(_huge_config)),
    Case("limits", "train.seed=10**23", config("data: {source: iris}", f"train.seed={10**23}")),
    Case(
        "limits",
        "train.seed=-1 (accepted)",
        config("data: {source: iris}", "train.seed=-1", *TINY),
        exit=0,
        changes=("run",),
    ),
    Case("limits", "data.split.seed=10**23", config("data: {source: iris}", f"data.split.seed={10**23}")),
    Case("limits", "train.threads=100000", config("data: {source: iris}", "train.threads=100000")),
    Case("limits", "model.hidden=[1e7, 1e7]", config("data: {source: iris}", "model.hidden=[10000000, 10000000]")),
    Case(
        "limits", "model.hidden=[1e5, 1e5, 1e5]", config("data: {source: iris}", "model.hidden=[100000,100000,100000]")
    ),
    Case(
        "limits",
        "model.embed of 10**9 on text",
        data_file(
            "sms.tsv",
            SMS,
            SMS_CONFIG.replace("embed: 8", "embed: 1000000000").replace("epochs: 1", "epochs: 1, batch_size: 8"),
        ),
    ),
    Case("limits", "data.image_size=[0, 0]", images("data: {source: imgs, image_size: [0, 0]}")),
    Case("limits", "data.image_size=[-4, 8]", images("data: {source: imgs, image_size: [-4, 8]}")),
    Case("limits", "data.image_size of 100000 x 100000", images("data: {source: imgs, image_size: [100000, 100000]}")),
    Case("limits", "20000 x 10000 PNG (decompression bomb)", custom(_bomb)),
    Case(
        "limits",
        "train.epochs=10**12 with max_steps (accepted)",
        config("data: {source: iris}", "train.epochs=1000000000000", *TINY),
        exit=0,
        changes=("run",),
    ),
    Case("limits", "train.checkpoint.keep=10**23", config("data: {source: iris}", f"train.checkpoint.keep={10**23}")),
    Case("limits", "--nproc 100000", custom(_many_processes)),
    # --- files that look right and are not
    Case("file", "`.npy` with a corrupt header", custom(_npy_header)),
    Case("file", "streamed Parquet file with a list column", custom(_parquet_lists)),
    Case("file", "`data.columns` on a Parquet table (it names its own)", custom(_parquet_columns)),
    Case("file", "`data.columns` on a JSON-lines text table (it names its own)", custom(_jsonl_columns)),
    Case("file", "truncated .gz IDX file", custom(_idx_truncated_gzip)),
    # --- crafted checkpoint contents (valid hashes): fall back to the previous checkpoint with a warning
    Case(
        "checkpoint", "manifest.json that is a list", crafted("manifest.json", "[]"), exit=0, changes=("interrupted",)
    ),
    Case(
        "checkpoint", "manifest.json that is not JSON", crafted("manifest.json", "{"), exit=0, changes=("interrupted",)
    ),
    Case("checkpoint", "state.json of {}", crafted("state.json", "{}"), exit=0, changes=("interrupted",)),
    Case(
        "checkpoint",
        "state.json with only a step",
        crafted("state.json", '{"step": 6}'),
        exit=0,
        changes=("interrupted",),
    ),
    Case("checkpoint", "state.json of []", crafted("state.json", "[]"), exit=0, changes=("interrupted",)),
    Case(
        "checkpoint",
        "state.json with a negative step",
        crafted("state.json", lambda c: (c / "state.json").read_text().replace('"step": 6', '"step": -6')),
        exit=0,
        changes=("interrupted",),
    ),
    Case(
        "checkpoint",
        "rng.pt of another kind",
        crafted("rng.pt", _torch_bytes({"torch": [1, 2]})),
        exit=0,
        changes=("interrupted",),
    ),
    Case(
        "checkpoint",
        "rng.pt that is a list",
        crafted("rng.pt", _torch_bytes([1, 2, 3])),
        exit=0,
        changes=("interrupted",),
    ),
    Case(
        "checkpoint",
        "optimizer state with other parameter groups",
        crafted("optimizer.pt", _other_param_groups),
        exit=0,
        changes=("interrupted",),
    ),
    Case(
        "checkpoint", "optimizer.pt of {}", crafted("optimizer.pt", _torch_bytes({})), exit=0, changes=("interrupted",)
    ),
    Case(
        "checkpoint",
        "extra.safetensors holding another tensor",
        crafted("extra.safetensors", lambda c: _safetensors_bytes({"x": np.zeros(3, np.float32)})),
        exit=0,
        changes=("interrupted",),
    ),
    Case(
        "checkpoint",
        "model.safetensors of another shape (an error naming the tensors)",
        crafted("model.safetensors", lambda c: _safetensors_bytes({"0.weight": np.zeros((2, 2), np.float32)})),
    ),
    Case("checkpoint", "`checkpoints` is a file", custom(_checkpoints_file)),
    # --- tuning studies
    Case(
        "tuning",
        "torn last record in optuna.journal",
        journal(lambda data: data + b'{"op_code": 5, "worker_id": "x", "trial_id": 0, "sta'),
        exit=0,
        changes=("st",),
    ),
    Case(
        "tuning",
        "random bytes at the end of optuna.journal",
        journal(lambda data: data + bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8))),
        exit=0,
        changes=("st",),
    ),
    Case(
        "tuning",
        "random bytes in the middle of optuna.journal",
        journal(lambda data: data[: len(data) // 2] + b"\x8f\x00garbage\n" + data[len(data) // 2 :]),
    ),
    Case("tuning", "optuna.journal that is empty", journal(lambda data: b""), changes=("st/optuna.journal",)),
    Case("tuning", "search space that is a list", tune_space("- train.optimizer.lr\n")),
    Case("tuning", "search space on an unknown field", tune_space("train.lrr: {uniform: [0.1, 0.2]}\n")),
    Case("tuning", "search space with an inverted range", tune_space("train.optimizer.lr: {uniform: [0.2, 0.1]}\n")),
    Case("tuning", "search space that is not YAML", tune_space("train.optimizer.lr: {uniform: [0.1\n")),
    Case("tuning", "search space with a NaN bound", tune_space("train.optimizer.lr: {uniform: [.nan, 0.1]}\n")),
    Case("tuning", "empty search space", tune_space("")),
    # --- mistakes that were accepted in silence
    Case(
        "silent",
        "data.drop holding the target",
        data_file("t.csv", TABLE, "data: {source: t.csv, target: y, drop: [y]}"),
    ),
    Case(
        "silent",
        "data.drop holding the default (last) target: a warning names the new target",
        data_file(
            "t.csv",
            TABLE,
            "data: {source: t.csv, drop: [y]}\nmodel: {hidden: [8]}\ntrain: {max_steps: 3, batch_size: 8}",
        ),
        exit=0,
        changes=("run",),
    ),
    Case(
        "silent",
        "data.drop naming a column that does not exist",
        data_file("t.csv", TABLE, "data: {source: t.csv, drop: [zz]}"),
    ),
    Case("silent", "data.image_size on a table", config("data: {source: iris, image_size: [8, 8]}")),
    Case("silent", "data.labels pointing at a folder", custom(_labels_folder)),
    Case("silent", "data.labels on a CSV table", data_file("t.csv", TABLE, "data: {source: t.csv, labels: t.csv}")),
    Case("silent", "complex-valued .npz", custom(_complex_npz)),
    Case("silent", "duplicate YAML keys", config("train: {epochs: 1}\ntrain: {epochs: 3}\n")),
    Case("silent", "duplicate nested YAML keys", config("train:\n  epochs: 1\n  batch_size: 8\n  epochs: 2\n")),
    Case("silent", "duplicate keys in a search space", tune_space("train.optimizer.lr: {uniform: [0.1, 0.2]}\n" * 2)),
    Case("silent", "empty config file", config("")),
    Case("silent", "config file of comments only", config("# nothing here\n")),
    Case("silent", "name: ../../../escaped", _default_run_dir("name: ../../../escaped\ndata: {source: iris}")),
    Case("silent", "name with a slash", _default_run_dir("name: a/b\ndata: {source: iris}")),
    Case("silent", "name with a NUL byte", _default_run_dir('name: "a\\0b"\ndata: {source: iris}')),
    Case("silent", "name of 300 characters", _default_run_dir(f"name: {'n' * 300}\ndata: {{source: iris}}")),
    Case("silent", "empty name", _default_run_dir("name: ''\ndata: {source: iris}")),
    Case("silent", "name '..'", _default_run_dir("name: '..'\ndata: {source: iris}")),
    Case("silent", "lr: .inf", config("train: {optimizer: {lr: .inf}}")),
    Case("silent", "lr: .nan", config("train: {optimizer: {lr: .nan}}")),
    Case("silent", "weight_decay: .inf", config("train: {optimizer: {weight_decay: .inf}}")),
    Case("silent", "grad_clip: .inf", config("train: {grad_clip: .inf}")),
    Case("silent", "min_delta: .nan", config("train: {early_stopping: {min_delta: .nan}}")),
    Case("silent", "checkpoint.every_seconds: .inf", config("train: {checkpoint: {every_seconds: .inf}}")),
    Case("silent", "eps: .inf", config("train: {optimizer: {name: adam, eps: .inf}}")),
    # --- messages that said the wrong thing
    Case("messages", "streaming a built-in dataset", config("data: {source: iris, stream: {enabled: true}}")),
    Case("messages", "unknown augmentation key", config("data: {augment: [{hflip: {probability: 0.5}}]}")),
    Case("messages", "unknown augmentation key in a mapping", config("data: {augment: [{name: crop, pad: 2}]}")),
    Case("messages", "`sep` of several characters", data_file("t.csv", TABLE, "data: {source: t.csv, sep: abc}")),
    Case("messages", "`sep` that is empty", data_file("t.csv", TABLE, "data: {source: t.csv, sep: ''}")),
    # --- more config values
    Case("config", "epochs: 0", config("train: {epochs: 0}")),
    Case("config", "epochs and max_steps both null", config("train: {epochs: null, max_steps: null}")),
    Case("config", "momentum: 1", config("train: {optimizer: {momentum: 1}}")),
    Case("config", "dropout: 1", config("model: {dropout: 1}")),
    Case("config", "even kernel size", config("model: {name: cnn, kernel_size: 4}")),
    Case("config", "heads that do not divide embed", config("model: {name: transformer, embed: 10, heads: 3}")),
    Case("config", "a section that is a list", config("train: [1, 2]")),
    Case("config", "a section that is a string", config("train: fast")),
    Case("config", "config that is a list", config("- data\n- train\n")),
    Case("config", "config that is a number", config("42\n")),
    Case("config", "YAML tag that names a Python object", config("train: !!python/object:os.system {}\n")),
    Case("config", "YAML anchors expanded a billion times", config(_billion_laughs())),
    Case("config", "config file that is not UTF-8", config_bytes(b"data: {source: caf\xe9}\n")),
    Case(
        "config", "config file that is a folder", custom(lambda root: (root / "c.yaml").mkdir() or ["train", "c.yaml"])
    ),
    Case("config", "batch size `full` with a token budget text", config("train: {batch_size: 0tokens}")),
    Case("config", "negative warmup", config("train: {schedule: {warmup_steps: -1}}")),
    Case("config", "betas outside [0, 1)", config("train: {optimizer: {name: adam, betas: [0.9, 1.5]}}")),
    Case("config", "nesterov without momentum", config("train: {optimizer: {nesterov: true, momentum: 0}}")),
    Case("config", "unknown precision", config("train: {precision: fp8}")),
    Case("config", "unknown task", config("data: {task: clustering}")),
    Case("config", "unknown scale", config("data: {scale: robust}")),
    Case("config", "unknown encoding", data_file("t.csv", TABLE, "data: {source: t.csv, encoding: klingon}")),
    Case("config", "label_pattern that is not a regular expression", recordings(label=r"^(\d_")),
    Case("cli", "`--set` on a key that is not a section", config("{}", "train.epochs.x=1")),
    Case("cli", "`--set` with an empty key", config("{}", "=3")),
    Case("cli", "`--resume` of a folder that does not exist", custom(lambda root: ["train", "--resume", "nope"])),
    Case(
        "cli", "`--resume` with `--set` and no config", custom(lambda root: ["train", "--resume", "x", "--set", "a=1"])
    ),
    Case(
        "cli",
        "`evaluate --data` with a file that does not exist",
        custom(lambda root: ["evaluate", str(_trained(root)), "--data", "nope.csv"]),
    ),
    Case("cli", "`report` on a file", custom(lambda root: (root / "f.txt").write_text("x") and ["report", "f.txt"])),
    Case("cli", "`report` on a folder that does not exist", custom(lambda root: ["report", "nope"])),
    Case("cli", "`predict` on a missing input file", _predict_to("out.csv", lambda root: (root / "new.csv").unlink())),
]


# ------------------------------------------------------------------ range tests, export, resume, locks


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


def _resume_finished_twice(root: Path) -> list[str]:
    run = _trained(root)
    first = runner.invoke(app, ["train", "--resume", str(run), "-q"])
    assert first.exit_code == 0, first.output
    return ["train", "--resume", str(run), "-q"]


def _resume_other_batch(root: Path) -> list[str]:
    return ["train", "--resume", str(_trained(root)), "--set", "train.batch_size=16", "-q"]


def _resume_edited_config(root: Path) -> list[str]:
    import yaml

    run = _trained(root)
    edited = yaml.safe_load((run / "config.yaml").read_text())
    edited["train"]["batch_size"] = 16
    edited["train"]["optimizer"]["lr"] = 0.5
    (run / "config.yaml").write_text(yaml.safe_dump(edited))
    return ["train", "--resume", str(run), "-q"]


@contextlib.contextmanager
def _locked(folder: str, what: str) -> Iterator[None]:
    """Another process's lock on ``folder`` (relative to the case's folder) while the command runs."""
    from batchlab.locking import DirectoryLock

    lock = DirectoryLock(Path(folder), what).acquire()
    try:
        yield
    finally:
        lock.release()


def _busy_study(root: Path) -> list[str]:
    (root / "study").mkdir()
    (root / "c.yaml").write_text("data: {source: iris}\ntrain: {epochs: 1}")
    return ["study", "batch-size", "c.yaml", "--sizes", "8", "--study-dir", "study"]


def _busy_tuning(root: Path) -> list[str]:
    (root / "tune").mkdir()
    (root / "c.yaml").write_text("data: {source: iris}\ntrain: {epochs: 1}")
    (root / "space.yaml").write_text("train.optimizer.lr: {log_uniform: [0.01, 0.1]}")
    return ["tune", "c.yaml", "--space", "space.yaml", "--trials", "1", "--study-dir", "tune"]


CASES += [
    Case("lr-find", "`--min` not below `--max`", lr_find("data: {source: digits}", "--min", "1", "--max", "0.1")),
    Case("lr-find", "fewer than 10 steps", lr_find("data: {source: digits}", "--steps", "5")),
    Case("lr-find", "unknown spacing `--mode log`", lr_find("data: {source: digits}", "--mode", "log")),
    Case("lr-find", "unknown suggestion rule", lr_find("data: {source: digits}", "--rule", "valley")),
    Case("lr-find", "a folder that holds neither a run nor a range test", custom(_lr_find_into_a_folder)),
    Case(
        "lr-find",
        "a schedule other than constant (a note; the test runs)",
        lr_find("data: {source: digits}\ntrain: {schedule: {name: cosine, warmup_steps: 40}}"),
        exit=0,
        changes=("run",),
    ),
    Case(
        "lr-find",
        "a training split smaller than steps x batch (a note; the test runs)",
        lr_find("data: {source: iris}\ntrain: {batch_size: 32}"),
        exit=0,
        changes=("run",),
    ),
    Case("lr-find", "a single batch size in `study lr-vs-batch`", lr_study("data: {source: iris}", "--sizes", "16")),
    Case("lr-find", "`study lr-vs-batch` in a batch-size study's folder", custom(_lr_study_in_a_batch_size_study)),
    Case(
        "export",
        "unknown export format `tflite`",
        custom(lambda root: ["export", "run", "--format", "tflite", "-o", "m.onnx"]),
    ),
    Case("export", "export a folder that is not a run", custom(lambda root: ["export", str(root), "-o", "m.onnx"])),
    Case("export", "export to a path that is a directory", custom(lambda root: ["export", str(root), "-o", str(root)])),
    Case(
        "report",
        "`report --html` to a path that is a directory",
        custom(lambda root: ["report", str(root), "--html", "."]),
    ),
    Case(
        "resume",
        "`--resume` of a finished run, a second time (exit 0, nothing changes)",
        custom(_resume_finished_twice),
        exit=0,
    ),
    Case("resume", "`--resume` with `--set train.batch_size=16`", custom(_resume_other_batch)),
    Case(
        "resume",
        "`--resume` after editing the run's config.yaml (batch 32 -> 16, lr -> 0.5)",
        custom(_resume_edited_config),
    ),
    Case(
        "resume",
        "`--resume` of a run another process is writing",
        custom(lambda root: ["train", "--resume", str(_trained(root)), "-q"]),
        fault=lambda: _locked("trained", "run directory"),
    ),
    Case(
        "resume",
        "batch-size study in a directory another process is writing",
        custom(_busy_study),
        fault=lambda: _locked("study", "study directory"),
    ),
    Case(
        "resume",
        "tuning study in a directory another process is writing",
        custom(_busy_tuning),
        fault=lambda: _locked("tune", "tuning study directory"),
    ),
]

CASES += [
    Case(
        "config",
        "`norm: group` with channels not divisible by `norm_groups`",
        config("data: {source: digits}\nmodel: {name: cnn, norm: group, norm_groups: 8, channels: [12]}"),
    ),
    Case(
        "config",
        "`norm: ghost` with a ghost batch larger than the batch",
        config("data: {source: iris}\nmodel: {norm: ghost, ghost_batch_size: 64}\ntrain: {batch_size: 16}"),
    ),
    Case(
        "config",
        "`norm: batch` with a batch of one sample in training",
        config("data: {source: iris}\nmodel: {norm: batch}\ntrain: {batch_size: 1}"),
    ),
]

CASES += [
    Case(
        "config",
        "`norm: group` with one feature per group of a hidden layer",
        config("data: {source: iris}\nmodel: {norm: group, norm_groups: 8, hidden: [8]}"),
    ),
    Case(
        "text",
        "`norm: batch` with a token budget that gives the longest text a batch of its own",
        data_file(
            "sms.tsv",
            SMS,
            SMS_CONFIG.replace("embed: 8}", "embed: 8, hidden: [8], norm: batch, norm_groups: 4}").replace(
                "epochs: 1}", "epochs: 1, batch_size: 12tokens}"
            ),
        ),
    ),
    Case(
        "text",
        "gpt with `norm: batch` (it has no dense layers outside its blocks)",
        data_file("corpus.txt", CORPUS, LM_CONFIG.replace("heads: 2}", "heads: 2, norm: batch}")),
    ),
    Case(
        "text",
        "gpt with `block_norm: batch` (batch statistics would show later steps)",
        data_file("corpus.txt", CORPUS, LM_CONFIG.replace("heads: 2}", "heads: 2, block_norm: batch}")),
    ),
    Case(
        "text",
        "lstm language model with `norm: ghost`",
        data_file(
            "corpus.txt", CORPUS, LM_CONFIG.replace("name: gpt", "name: lstm").replace("heads: 2}", "norm: ghost}")
        ),
    ),
    Case(
        "config",
        "`block_norm` on a model without transformer blocks",
        config("data: {source: iris}\nmodel: {name: mlp, block_norm: batch}"),
    ),
    Case(
        "config",
        "`block_norm: group` with `norm_groups` not dividing `embed`",
        config("data: {source: iris}\nmodel: {name: transformer, embed: 12, heads: 2, block_norm: group}"),
    ),
    Case(
        "config",
        "`block_norm: batch` with a batch of one sample in training",
        data_file(
            "sms.tsv",
            SMS,
            SMS_CONFIG.replace(
                "name: bag, embed: 8}", "name: transformer, embed: 8, heads: 2, block_norm: batch}"
            ).replace("epochs: 1}", "epochs: 1, batch_size: 1}"),
        ),
    ),
]

CASES += [
    Case(
        "text",
        "`norm: ghost` with a ghost batch above the mean batch of a token budget (a warning; it trains)",
        data_file(
            "sms.tsv",
            SMS,
            SMS_CONFIG.replace("embed: 8}", "embed: 8, hidden: [8], norm: ghost, ghost_batch_size: 16}").replace(
                "epochs: 1}", "epochs: 1, batch_size: 200tokens}"
            ),
        ),
        exit=0,
        changes=("run",),
    ),
]


def _study_sizes(sizes: str) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        (root / "c.yaml").write_text("data: {source: iris}\ntrain: {epochs: 1}\n")
        return ["study", "batch-size", "c.yaml", "--sizes", sizes, "--study-dir", "study"]

    return prepare


_DIGITS = "data: {source: digits}\ntrain: {batch_size: 16, epochs: 1, "
CASES += [
    Case(
        "config",
        "a batch schedule with gradient accumulation",
        config(_DIGITS + "accumulate: 2, batch_schedule: {kind: ramp, end: 64}}"),
    ),
    Case(
        "config",
        "a ramp to a size larger than the training split",
        config(_DIGITS + "batch_schedule: {kind: ramp, end: 100000}}"),
    ),
    Case("config", "a ramp without its end size", config(_DIGITS + "batch_schedule: {kind: ramp}}")),
    Case(
        "config",
        "a schedule whose end is below its start",
        config(_DIGITS + "batch_schedule: {kind: adaptive, start: 64, end: 32}}"),
    ),
    Case(
        "config",
        "step-rule milestones out of order",
        config(_DIGITS + "batch_schedule: {kind: step, milestones: [3, 2]}}"),
    ),
    Case("config", "a ramp length in weeks", config(_DIGITS + "batch_schedule: {kind: ramp, end: 64, over: 2weeks}}")),
    Case("study", "a schedule cell without fixed sizes to take bounds from", _study_sizes("8,ramp")),
    Case("study", "a schedule cell that shrinks", _study_sizes("8,32,adaptive:64-16")),
]
