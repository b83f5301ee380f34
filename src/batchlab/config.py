"""The one schema behind YAML files, ``--set`` flags and the Python API.

A config has three sections, ``data``, ``model`` and ``train``; every field has a type, a default, a
constraint and a description with its unit. Unknown keys are errors. Validation happens once, where a
config enters (:func:`load_config`, :func:`make_config`); code inside trusts it.

Example:
    >>> cfg = make_config({"train": {"batch_size": "full", "epochs": 3}})
    >>> cfg.train.batch_size, cfg.model.name
    ('full', 'mlp')
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from batchlab.errors import ConfigError, did_you_mean
from batchlab.yamlfile import parse_yaml, read_yaml

__all__ = [
    "AUGMENT_NAMES",
    "AudioConfig",
    "AugmentStep",
    "CheckpointConfig",
    "Config",
    "CropConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "HFlipConfig",
    "JitterConfig",
    "LRScalingConfig",
    "LogConfig",
    "ModelConfig",
    "NoiseScaleConfig",
    "OptimizerConfig",
    "RotateConfig",
    "ScheduleConfig",
    "SplitConfig",
    "StreamConfig",
    "TokenizerConfig",
    "TrainConfig",
    "apply_overrides",
    "config_to_yaml",
    "diff_configs",
    "flat_fields",
    "load_config",
    "make_config",
    "parse_override",
    "read_yaml",
    "resolve_data_paths",
    "samples_of",
    "token_budget",
]


_SEED_MIN, _SEED_MAX = -(2**63), 2**63 - 1  # torch takes a seed of 64 bits


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# --------------------------------------------------------------------------------------------- data


class SplitConfig(_Section):
    """How the data is divided into train / validation / test."""

    val: float = Field(0.15, ge=0.0, lt=1.0, description="fraction of rows for validation (0 disables it)")
    test: float = Field(0.15, ge=0.0, lt=1.0, description="fraction of rows for the test split (0 disables it)")
    stratify: bool = Field(True, description="keep class proportions in every split (classification only)")
    seed: int = Field(0, ge=_SEED_MIN, le=_SEED_MAX, description="seed of the split's permutation (64-bit)")
    by_group: bool = Field(
        False, description="keep each group (data.group / data.group_pattern, e.g. a speaker) inside one split"
    )
    val_source: str | None = Field(None, description="a separate file for validation; replaces `val`")
    test_source: str | None = Field(None, description="a separate file for the test split; replaces `test`")

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> SplitConfig:
        val = 0.0 if self.val_source else self.val
        test = 0.0 if self.test_source else self.test
        if val + test >= 1.0:
            raise ValueError(
                f"split fractions val={self.val} and test={self.test} sum to {val + test:g}; "
                "they must sum to less than 1 to leave rows for training"
            )
        return self


class HFlipConfig(_Section):
    """Mirror images left-right with probability ``p``."""

    name: Literal["hflip"] = "hflip"
    p: float = Field(0.5, ge=0.0, le=1.0, description="probability of flipping each image")


class CropConfig(_Section):
    """Pad by ``padding`` pixels (zeros) and crop back to the original size at a random offset."""

    name: Literal["crop"] = "crop"
    padding: int = Field(2, ge=1, le=64, description="padding on each side, in pixels")


class RotateConfig(_Section):
    """Rotate each image by an angle drawn uniformly from [-degrees, +degrees]."""

    name: Literal["rotate"] = "rotate"
    degrees: float = Field(10.0, gt=0.0, le=180.0, description="largest rotation, in degrees")


class JitterConfig(_Section):
    """Scale brightness and contrast by factors drawn from [1 - x, 1 + x]."""

    name: Literal["jitter"] = "jitter"
    brightness: float = Field(0.2, ge=0.0, le=1.0, description="largest relative brightness change")
    contrast: float = Field(0.0, ge=0.0, le=1.0, description="largest relative contrast change")


class SpecAugmentConfig(_Section):
    """Audio: zero random bands of time frames and frequency bins of the features (Park et al. 2019)."""

    name: Literal["specaugment"] = "specaugment"
    time_masks: int = Field(2, ge=0, le=20, description="time masks per recording")
    time_width: int = Field(10, ge=1, description="widest time mask, in frames")
    freq_masks: int = Field(2, ge=0, le=20, description="frequency masks per recording")
    freq_width: int = Field(8, ge=1, description="widest frequency mask, in feature bins")


class NoiseConfig(_Section):
    """Audio: add white noise at a signal-to-noise ratio drawn from [snr_db, snr_db + snr_range]."""

    name: Literal["noise"] = "noise"
    snr_db: float = Field(20.0, ge=-10.0, le=80.0, description="lowest signal-to-noise ratio, in dB")
    snr_range: float = Field(10.0, ge=0.0, le=60.0, description="width of the SNR range drawn from, in dB")
    p: float = Field(0.5, ge=0.0, le=1.0, description="probability of adding noise to each recording")


class ShiftConfig(_Section):
    """Audio: shift each recording in time by up to ``max_ms`` (circularly within its length)."""

    name: Literal["shift"] = "shift"
    max_ms: float = Field(100.0, gt=0.0, le=10000.0, description="largest shift, in milliseconds")


class GainConfig(_Section):
    """Audio: scale each recording's loudness by a gain drawn from [-db, +db]."""

    name: Literal["gain"] = "gain"
    db: float = Field(6.0, gt=0.0, le=40.0, description="largest gain change, in dB")


AugmentStep = Annotated[
    HFlipConfig | CropConfig | RotateConfig | JitterConfig | SpecAugmentConfig | NoiseConfig | ShiftConfig | GainConfig,
    Field(discriminator="name"),
]
IMAGE_AUGMENTS = ("hflip", "crop", "rotate", "jitter")
AUDIO_AUGMENTS = ("specaugment", "noise", "shift", "gain")
AUGMENT_NAMES = IMAGE_AUGMENTS + AUDIO_AUGMENTS


class StreamConfig(_Section):
    """Reading the data from disk batch by batch, in bounded memory (data larger than memory)."""

    enabled: bool = Field(False, description="stream a .npy / Parquet file or shard folder instead of loading it")
    shuffle: Literal["exact", "buffer"] = Field(
        "exact", description="exact: a fresh permutation of all rows per epoch; buffer: shuffled blocks"
    )
    buffer_batches: int = Field(64, ge=1, description="buffer shuffle: batches per shuffled buffer")
    block_rows: int = Field(4096, ge=1, description="rows per block: the unit of splits and sequential reads")
    prefetch: int = Field(4, ge=0, description="batches read ahead by a background thread (0: none)")
    reader: Literal["pread", "mmap"] = Field(
        "pread", description=".npy rows by positional reads, or a memory map released as it goes"
    )


_SPECIAL_TOKENS = 4  # <pad>, <unk>, <cls>, <eos>: ids 0-3 of every vocabulary
_BYTE_TOKENS = 256  # byte-level BPE: one token per byte before any merge


class TokenizerConfig(_Section):
    """How text becomes token ids; fit on the training split only and saved in the run directory."""

    kind: Literal["char", "word", "bpe"] = Field(
        "char", description="char: one token per character; word: words and punctuation; bpe: trained subwords"
    )
    vocab_size: int = Field(
        8000,
        description="word / bpe: largest vocabulary, including the 4 special tokens (and bpe's 256 byte tokens)",
    )
    min_freq: int = Field(
        1, ge=1, description="char / word: fewest occurrences in training text to get a token; bpe: to merge a pair"
    )
    lowercase: bool = Field(False, description="lowercase text before tokenizing")

    @field_validator("vocab_size")
    @classmethod
    def _room_beyond_fixed_tokens(cls, value: int, info: ValidationInfo) -> int:
        # Kept equal to batchlab.data.text.tokenizer.check_vocab_size (config cannot import the data layer).
        bpe = info.data.get("kind") == "bpe"
        fixed = _SPECIAL_TOKENS + (_BYTE_TOKENS if bpe else 0)
        if value <= fixed:
            held = "the 4 special tokens (<pad>, <unk>, <cls>, <eos>)" + (" and the 256 byte tokens" if bpe else "")
            kind = "bpe" if bpe else "text"
            raise ValueError(
                f"{value} leaves no room for {kind} tokens: the vocabulary holds {held} first; "
                f"expected at least {fixed + 1}"
            )
        return value


class AudioConfig(_Section):
    """Reading recordings and turning them into features (computed per batch, on the model's device)."""

    sample_rate: int = Field(16000, ge=1000, le=192000, description="rate recordings are resampled to, in Hz")
    features: Literal["logmel", "mfcc"] = Field("logmel", description="log-mel spectrogram or MFCCs per frame")
    n_mels: int = Field(40, ge=4, le=256, description="mel bands")
    n_mfcc: int = Field(20, ge=2, le=128, description="mfcc: cepstral coefficients kept (at most n_mels)")
    win_ms: float = Field(25.0, gt=0.0, le=200.0, description="analysis window, in milliseconds")
    hop_ms: float = Field(10.0, gt=0.0, le=100.0, description="hop between frames, in milliseconds")
    max_seconds: float | None = Field(
        None, gt=0.0, description="crop longer recordings to this many seconds (a transformer takes up to this length)"
    )
    fixed_seconds: float | None = Field(
        None, gt=0.0, description="crop or zero-pad every recording to this length (the simple alternative to masks)"
    )
    normalize: Literal["band", "none"] = Field(
        "band", description="band: standardize each feature band with training-split statistics"
    )
    channels: Literal["mix", "error"] = Field(
        "mix", description="multi-channel recordings: mix down to mono, or reject them"
    )
    trim_db: float | None = Field(
        None, gt=0.0, description="trim leading and trailing audio quieter than peak minus this many dB"
    )

    @model_validator(mode="after")
    def _mfcc_within_mels(self) -> AudioConfig:
        if self.features == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc={self.n_mfcc} exceeds n_mels={self.n_mels}; keep n_mfcc <= n_mels")
        return self


class DataConfig(_Section):
    """Where the data comes from and how it is prepared."""

    source: str = Field(
        "digits",
        description="built-in dataset name, or a path (.csv .parquet .npz .npy .jsonl, IDX, image or audio folder, "
        ".txt corpus)",
    )
    target: str | None = Field(None, description="target column of a table; default: the last column")
    labels: str | None = Field(None, description="labels file for IDX images or a features .npy; default: found beside")
    sep: str = Field("auto", description="CSV separator; 'auto' sniffs it")
    header: bool = Field(True, description="whether the CSV's first line names the columns")
    columns: list[str] | None = Field(
        None, description="column names of a headerless CSV or TSV (Parquet and JSON name their own)"
    )
    task: Literal["auto", "classification", "regression", "language_model"] = Field(
        "auto", description="learning task; auto: language_model for a .txt corpus, else from the target"
    )
    text: str | None = Field(None, description="text column of a table: text classification of that column")
    encoding: str = Field("utf-8", description="text encoding of text files and tables (e.g. utf-8, latin-1)")
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    max_length: int | None = Field(
        256, ge=1, description="text: tokens per sample; longer ones are truncated (and counted)"
    )
    context: int = Field(128, ge=2, description="language models: tokens per training window")
    label_pattern: str | None = Field(
        None, description="audio/image files: regular expression on the file name whose group 1 is the label"
    )
    group_pattern: str | None = Field(
        None, description="regular expression on the file name whose group 1 is the group (e.g. the speaker)"
    )
    group: str | None = Field(None, description="column of a table or manifest holding each row's group")
    audio: AudioConfig = Field(default_factory=AudioConfig)
    categorical: list[str] | None = Field(None, description="columns to treat as categorical (default: detected)")
    numeric: list[str] | None = Field(None, description="columns to treat as numeric (default: detected)")
    drop: list[str] = Field(default_factory=list, description="columns to ignore (ids, leaks)")
    max_categories: int = Field(
        1000,
        ge=2,
        description="most distinct training values of a categorical column (one feature each); a column with more "
        "is an error (free text: set data.text; ids: data.drop); above 100 a warning",
    )
    missing: Literal["impute", "error"] = Field(
        "impute", description="impute missing values from training statistics, or reject them"
    )
    missing_values: list[str] = Field(
        default_factory=lambda: ["", "?", "NA"], description="strings that mean a missing value"
    )
    split: SplitConfig = Field(default_factory=SplitConfig)
    scale: Literal["standard", "minmax", "none"] = Field(
        "standard", description="feature scaling fit on the training split"
    )
    scale_target: bool = Field(
        True, description="standardize a regression target for training (metrics stay in its units)"
    )
    image_size: tuple[Annotated[int, Field(ge=1, le=8192)], Annotated[int, Field(ge=1, le=8192)]] | None = Field(
        None, description="resize images of a folder to (height, width) pixels, each from 1 to 8192"
    )
    augment: list[AugmentStep] = Field(
        default_factory=list,
        description=(
            "augmentations of training batches: images (hflip, crop, rotate, jitter) "
            "or audio (specaugment, noise, shift, gain)"
        ),
    )
    stream: StreamConfig = Field(default_factory=StreamConfig)

    @field_validator("sep")
    @classmethod
    def _one_separator(cls, value: str) -> str:
        named = ("auto", "tab", "\\t", "comma", "semicolon", "pipe", "space", "whitespace", r"\s+")
        if value in named or (len(value) == 1 and value not in '"\n\r'):
            return value
        raise ValueError(
            f"expected one character (such as , ; | or a tab) or one of: {', '.join(named)}; got {json.dumps(value)}"
        )

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_shorthand(cls, value: Any) -> Any:
        """Accept ``hflip`` and ``{crop: {padding: 2}}`` as well as ``{name: crop, padding: 2}``."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError(f"expected a list of augmentations ({', '.join(AUGMENT_NAMES)}), got {value!r}")
        steps = []
        for item in value:
            if isinstance(item, str):
                item = {"name": item}
            elif isinstance(item, Mapping) and "name" not in item and len(item) == 1:
                ((name, params),) = item.items()
                item = {"name": name, **(params or {})}
            if not isinstance(item, Mapping):
                raise ValueError(f"expected an augmentation name or mapping, got {item!r}")
            name = item.get("name")
            if name not in AUGMENT_NAMES:
                raise ValueError(f"unknown augmentation {name!r}; {did_you_mean(str(name), AUGMENT_NAMES)}")
            steps.append(dict(item))
        return steps


# -------------------------------------------------------------------------------------------- model

ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "leaky_relu", "silu", "elu")


class ModelConfig(_Section):
    """Which network to build. Input and output sizes come from the data."""

    name: Literal["mlp", "cnn", "lstm", "gru", "transformer", "gpt", "bag"] = Field(
        "mlp",
        description="model family: mlp, cnn; sequences: lstm, gru, transformer (encoder), gpt (causal), bag",
    )
    hidden: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: [256, 256],
        description="MLP: units of each hidden layer; CNN: units of the dense head",
    )
    activation: Literal["relu", "gelu", "tanh", "sigmoid", "leaky_relu", "silu", "elu"] = Field(
        "relu", description="activation after each hidden layer"
    )
    batchnorm: bool = Field(
        False, description="batch normalization after each hidden layer / convolution (the same as norm: batch)"
    )
    norm: Literal["batch", "ghost", "group", "layer", "none"] | None = Field(
        None,
        description=(
            "normalization after each hidden layer / convolution (sequence classifiers: the head; lstm / gru "
            "language models: each step's output, layer or group): batch, ghost (batch norm over ghost batches), "
            "group, layer, none; null: batch when batchnorm is true, else none; gpt: none (see block_norm)"
        ),
    )
    ghost_batch_size: int = Field(
        32, ge=2, description="norm: ghost: samples per ghost batch (batch statistics per slice of this size)"
    )
    norm_groups: int = Field(
        8, ge=1, description="norm / block_norm: group: channel groups (must divide every width it normalizes)"
    )
    block_norm: Literal["layer", "group", "batch", "none"] = Field(
        "layer",
        description=(
            "transformer / gpt: the norm before each attention and MLP sublayer and after the last block: layer, "
            "group (each token), batch (each feature over the valid tokens of the batch; not gpt), none"
        ),
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout probability after each hidden layer / block")
    channels: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: [32, 64],
        description="CNN: output channels of each conv block (each block halves H and W)",
    )
    kernel_size: int = Field(3, ge=1, le=15, description="CNN: convolution kernel size in pixels (odd)")
    sync_batchnorm: bool = Field(False, description="synchronize batch-norm statistics across data-parallel workers")
    embed: int = Field(128, ge=1, description="sequences: token embedding / model width (d_model)")
    layers: int = Field(2, ge=1, le=64, description="sequences: recurrent or transformer layers")
    heads: int = Field(4, ge=1, le=64, description="transformer / gpt: attention heads (must divide embed)")
    units: int | None = Field(None, ge=1, description="lstm / gru: hidden units per direction (null: embed)")
    bidirectional: bool = Field(False, description="lstm / gru classifiers: read the sequence both ways")
    pooling: Literal["mean", "max", "cls", "last"] = Field(
        "mean", description="sequence classifiers: how outputs over time become one vector (masks ignore padding)"
    )
    positions: Literal["learned", "sinusoidal"] = Field("learned", description="transformer / gpt: position embeddings")
    ff_mult: int = Field(4, ge=1, le=16, description="transformer / gpt: feed-forward width as a multiple of embed")
    tie_embeddings: bool = Field(True, description="language models: share input and output embedding weights")
    ngrams: int = Field(
        1, ge=1, le=8, description="bag: also embed every run of 2..ngrams consecutive tokens (hashed), as fastText"
    )
    ngram_buckets: int = Field(
        2**18, ge=1, le=2**24, description="bag: embeddings shared by the hashed n-grams (hash buckets)"
    )

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"expected an odd kernel size (1, 3, 5, ...), got {value}")
        return value

    @model_validator(mode="after")
    def _resolve_norm(self) -> ModelConfig:
        """``norm`` wins when given; else ``batchnorm`` picks batch or none. Both end up consistent."""
        norm = self.norm if self.norm is not None else ("batch" if self.batchnorm else "none")
        object.__setattr__(self, "norm", norm)
        object.__setattr__(self, "batchnorm", norm == "batch")
        if norm == "group":
            widths = [("hidden", w) for w in self.hidden]
            if self.name == "cnn":
                widths = [("channels", w) for w in self.channels] + widths
            for field, width in widths:
                if width % self.norm_groups:
                    raise ValueError(
                        f"norm_groups={self.norm_groups} must divide every width that norm: group normalizes, "
                        f"but {field} holds {width}; set norm_groups to a divisor of {width} or change {field}"
                    )
            for width in self.hidden:
                # A dense layer's group holds width / norm_groups numbers per sample: one would always
                # normalize to 0 (a conv channel still has its pixels).
                if width == self.norm_groups:
                    raise ValueError(
                        f"norm_groups={self.norm_groups} leaves one feature per group in hidden {width}, which "
                        f"group norm always maps to 0; use norm_groups of at most {width // 2} or norm: layer"
                    )
        return self

    @property
    def batch_norm_fields(self) -> str | None:
        """The fields that put batch statistics in the model, as ``model.norm: batch``; ``None`` if none do."""
        fields = [f"model.norm: {self.norm}"] if self.norm in ("batch", "ghost") else []
        if self.name == "transformer" and self.block_norm == "batch":
            fields.append("model.block_norm: batch")
        return ", ".join(fields) or None

    @model_validator(mode="after")
    def _check_block_norm(self) -> ModelConfig:
        """Where ``block_norm`` applies, and ``model.norm`` on gpt (no dense layers outside its blocks)."""
        if self.name not in ("transformer", "gpt"):
            if self.block_norm != "layer":
                raise ValueError(
                    f"block_norm={self.block_norm} applies to the blocks of transformer and gpt, and {self.name} has "
                    "none; its normalization is model.norm"
                )
            return self
        if self.name == "gpt":
            if self.norm != "none":
                raise ValueError(
                    f"norm={self.norm} does not apply to gpt, which has no dense layers outside its blocks; "
                    "set the blocks' normalization with model.block_norm (layer, group or none)"
                )
            if self.block_norm == "batch":
                raise ValueError(
                    "block_norm=batch would let every step of a gpt see the later steps of the batch through the "
                    "batch statistics; use layer, group or none"
                )
        if self.block_norm == "group" and (self.embed % self.norm_groups or self.embed == self.norm_groups):
            raise ValueError(
                f"block_norm=group needs norm_groups={self.norm_groups} to divide embed={self.embed} into groups "
                "of 2 features or more; change norm_groups or embed"
            )
        return self

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        if self.name in ("transformer", "gpt") and self.embed % self.heads:
            raise ValueError(f"heads={self.heads} must divide embed={self.embed} (each head gets embed / heads)")
        return self


# -------------------------------------------------------------------------------------------- train

PRECISE_BN_BATCHES = 200  # train.precise_bn: true


class OptimizerConfig(_Section):
    """The optimizer and its hyperparameters."""

    name: Literal["sgd", "adam", "adamw", "rmsprop"] = Field("sgd")
    lr: float = Field(0.05, gt=0.0, description="base learning rate (peak rate after warmup)")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD / RMSprop momentum")
    nesterov: bool = Field(False, description="SGD: Nesterov momentum")
    weight_decay: float = Field(0.0, ge=0.0, description="L2 penalty (decoupled for AdamW)")
    decay: Literal["all", "matrices"] = Field(
        "all", description="parameters weight decay applies to; matrices: weights and embeddings, not biases or norms"
    )
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam / AdamW moment decay rates")
    eps: float = Field(1e-8, gt=0.0, description="Adam / AdamW / RMSprop denominator term")

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimizerConfig:
        if self.name == "sgd" and self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=true needs momentum > 0")
        for beta in self.betas:
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"betas must lie in [0, 1), got {list(self.betas)}")
        return self


class ScheduleConfig(_Section):
    """Learning-rate schedule, applied per optimizer step, with optional linear warmup."""

    name: Literal["constant", "step", "cosine", "onecycle"] = Field("constant")
    warmup_steps: int = Field(0, ge=0, description="optimizer steps of linear warmup: rate x (step+1)/(warmup_steps+1)")
    step_epochs: int = Field(10, gt=0, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="step: multiplier at each decay")
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0, description="cosine: final rate as a fraction of the base rate")
    pct_start: float = Field(0.3, gt=0.0, lt=1.0, description="onecycle: fraction of steps spent rising")
    div_factor: float = Field(25.0, ge=1.0, description="onecycle: base rate / starting rate")
    final_div_factor: float = Field(1e4, ge=1.0, description="onecycle: starting rate / final rate")


class EarlyStoppingConfig(_Section):
    """Stop when the monitored metric stops improving."""

    enabled: bool = Field(True, description="turn early stopping on or off")
    monitor: str = Field("val_loss", description="metric name, e.g. val_loss, val_accuracy, val_r2")
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: min for losses and errors, else max")
    patience: int = Field(5, ge=1, description="evaluations without improvement before stopping")
    min_delta: float = Field(0.0, ge=0.0, description="smallest change that counts as an improvement")
    restore_best: bool = Field(True, description="end with the weights of the best evaluation")


class CheckpointConfig(_Section):
    """When resumable checkpoints are written to ``RUN_DIR/checkpoints``."""

    every_steps: int | None = Field(None, gt=0, description="optimizer steps between checkpoints")
    every_epochs: int | None = Field(1, gt=0, description="epochs between checkpoints")
    every_seconds: float | None = Field(300.0, gt=0, description="wall seconds between checkpoints")
    keep: int = Field(
        3, ge=1, le=1000, description="how many recent checkpoints to keep, 1 to 1000 (best.safetensors is kept apart)"
    )


class LRScalingConfig(_Section):
    """How the learning rate follows the batch size (Goyal et al. 2017: linear; Krizhevsky 2014: sqrt)."""

    rule: Literal["none", "linear", "sqrt"] = Field("none", description="lr x (B / base)^1 for linear, ^0.5 for sqrt")
    base_batch_size: int | None = Field(
        None, gt=0, description="the effective batch size optimizer.lr was set for (null: the config's own)"
    )


class NoiseScaleConfig(_Section):
    """Estimate the gradient noise scale B_simple during training (McCandlish et al. 2018, appendix A)."""

    enabled: bool = Field(False, description="log noise_scale (B_simple, in samples) in every metrics row")
    every_steps: int = Field(10, gt=0, description="optimizer steps between measurements")
    micro_batches: int = Field(4, ge=2, description="micro-batches per measurement (B_big = this x B_small)")
    micro_batch_size: int | None = Field(None, gt=0, description="B_small in samples (null: the batch size)")
    ema: float = Field(0.9, ge=0.0, lt=1.0, description="moving-average decay of the estimates per measurement")


class LogConfig(_Section):
    """Metrics logs written besides ``metrics.csv``."""

    tensorboard: bool = Field(
        False,
        description="also write TensorBoard event files to RUN_DIR/tensorboard: every metrics row, the "
        "hyperparameters and the final metrics (needs batchlab[tensorboard])",
    )


_SPAN = re.compile(r"\s*(\d+(?:\.\d*)?(?:e\d+)?)\s*(samples|steps|epochs)\s*", re.IGNORECASE)


def parse_span(text: str) -> tuple[float, str]:
    """A length of training, ``"5000samples"``, ``"200steps"`` or ``"2epochs"``, as ``(amount, unit)``.

    >>> parse_span("2epochs"), parse_span("1e5samples")
    ((2.0, 'epochs'), (100000.0, 'samples'))
    """
    match = _SPAN.fullmatch(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f'expected a positive length like "5000samples", "200steps" or "2epochs", got {text!r}')
    return float(match.group(1)), match.group(2).lower()


class BatchScheduleConfig(_Section):
    """A batch size that changes during training, between optimizer steps (docs/batch-schedules.md).

    ``ramp`` grows the batch from ``start`` to ``end`` over ``over`` (linear or geometric, as large
    language models are trained); ``step`` multiplies it by ``factor`` at each epoch of ``milestones``
    (Smith et al. 2017: increase the batch instead of decaying the rate); ``adaptive`` grows it towards the
    gradient noise scale ``B_simple`` measured during the run (never shrinking, within ``[start, end]``).
    Sizes count samples per optimizer step; the learning rate follows ``train.lr_scaling`` from the size it
    was set for.
    """

    kind: Literal["none", "ramp", "step", "adaptive"] = Field(
        "none", description="none (fixed train.batch_size), ramp, step or adaptive"
    )
    start: int | None = Field(None, gt=0, description="first batch size in samples (null: train.batch_size)")
    end: int | None = Field(
        None, gt=0, description="ramp: the final batch size; step and adaptive: the largest allowed (null: no limit)"
    )
    over: str | None = Field(
        None,
        description='ramp: its length, e.g. "20000samples", "300steps" or "2epochs" (null: the first half of the run)',
    )
    shape: Literal["linear", "geometric"] = Field(
        "geometric", description="ramp: sizes grow by equal steps (linear) or equal ratios (geometric)"
    )
    milestones: list[int] = Field(
        default_factory=list,
        description="step: the batch is multiplied by factor after each of these epochs (counted from 1)",
    )
    factor: float = Field(
        2.0, gt=1.0, description="step: multiplier at each milestone; adaptive: largest growth per change"
    )
    every_steps: int = Field(
        20, gt=0, description="adaptive: optimizer steps between noise measurements (and decisions)"
    )
    warmup_measurements: int = Field(3, ge=1, description="adaptive: measurements averaged before the first change")
    noise_multiple: float = Field(
        1.0, gt=0.0, description="adaptive: the batch grows towards this multiple of B_simple"
    )
    multiple_of: int = Field(1, gt=0, description="round every scheduled size down to a multiple of this (e.g. 8)")
    max_micro_batch: int | None = Field(
        None,
        gt=0,
        description="largest batch one forward pass takes (memory); larger batches are accumulated in micro-batches",
    )

    @field_validator("over")
    @classmethod
    def _over(cls, value: str | None) -> str | None:
        if value is None:
            return value
        amount, unit = parse_span(value)
        return f"{amount:g}{unit}"

    @field_validator("milestones")
    @classmethod
    def _milestones(cls, value: list[int]) -> list[int]:
        if any(m < 1 for m in value) or value != sorted(set(value)):
            raise ValueError(f"expected increasing epochs from 1 on, got {value}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> BatchScheduleConfig:
        if self.kind == "ramp" and self.end is None:
            raise ValueError("a ramp needs end: the batch size it grows to")
        if self.kind == "step" and not self.milestones:
            raise ValueError("a step schedule needs milestones: the epochs at which the batch grows")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) is smaller than start ({self.start}); a schedule only grows the batch")
        return self


_TOKEN_BUDGET = re.compile(r"(\d+)\s*tokens?", re.IGNORECASE)


def samples_of(batch_size: int | str, num_samples: int) -> int:
    """A batch size in samples: an integer as it is, ``"full"`` as ``num_samples``.

    Raises:
        ConfigError: a token budget, which has no fixed number of samples.

    >>> samples_of(32, 100), samples_of("full", 100)
    (32, 100)
    """
    if batch_size == "full":
        return num_samples
    if isinstance(batch_size, str):
        raise ConfigError(f"train.batch_size: {batch_size!r} is a token budget; this needs a batch size in samples")
    return batch_size


def token_budget(batch_size: int | str) -> int | None:
    """The tokens per batch of a ``"4096tokens"`` batch size, else ``None``.

    >>> token_budget("4096tokens"), token_budget(32), token_budget("full")
    (4096, None, None)
    """
    if isinstance(batch_size, str) and batch_size.endswith("tokens"):
        return int(batch_size.removesuffix("tokens"))
    return None


class TrainConfig(_Section):
    """Mini-batches, the optimization and when to stop."""

    batch_size: int | str = Field(
        64,
        description='samples per batch: a positive integer, "full" (batch gradient descent) or 1 (SGD); '
        'sequences also take a token budget, e.g. "4096tokens"',
    )
    bucket: bool = Field(
        True, description="variable-length samples: batch samples of similar length (less padding); order shuffled"
    )
    drop_last: bool = Field(False, description="drop the last incomplete batch of each epoch")
    epochs: int | None = Field(30, gt=0, description="passes over the training split")
    max_steps: int | None = Field(None, gt=0, description="stop after this many optimizer steps")
    loss: Literal["auto", "cross_entropy", "bce", "mse", "mae", "huber"] = Field(
        "auto", description="auto: cross_entropy (many classes), bce (two classes) or mse (regression)"
    )
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="classification label smoothing")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    lr_scaling: LRScalingConfig = Field(default_factory=LRScalingConfig)
    noise_scale: NoiseScaleConfig = Field(default_factory=NoiseScaleConfig)
    batch_schedule: BatchScheduleConfig = Field(default_factory=BatchScheduleConfig)
    grad_clip: float | None = Field(None, gt=0.0, description="clip the global gradient L2 norm to this value")
    on_nan: Literal["stop", "skip"] = Field("stop", description="a NaN/inf loss stops training, or skips the batch")
    accumulate: int = Field(
        1, ge=1, description="micro-batches per optimizer step (effective batch = batch_size x accumulate)"
    )
    val_every_steps: int | None = Field(
        None, gt=0, description="validate every N optimizer steps instead of every epoch"
    )
    val_every_samples: int | None = Field(
        None,
        gt=0,
        description="validate each time the training samples seen pass a multiple of N (any batch size, "
        "a batch schedule included) instead of every epoch",
    )
    precise_bn: int = Field(
        0,
        ge=0,
        description=(
            "before each evaluation, recompute batch-norm running statistics as the average over this many "
            "training batches (0: off; true: 200)"
        ),
    )
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    seed: int = Field(
        0, ge=_SEED_MIN, le=_SEED_MAX, description="seed for weights, batch order, dropout and augmentation (64-bit)"
    )
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    threads: int | None = Field(
        None,
        gt=0,
        le=1024,
        description="CPU threads for torch, at most 1024 (default: from the model's size and the free cores)",
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="mixed precision: bf16 / fp16 autocast of the forward pass (fp16 with a grad scaler)"
    )
    compile: bool = Field(
        False,
        description="torch.compile the model (forward and backward): faster steps after tens of seconds of "
        "compiling in the first batches; needs a C++ compiler on CPU",
    )

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch_size(cls, value: Any) -> Any:
        if value == "full":
            return value
        if isinstance(value, str):
            match = _TOKEN_BUDGET.fullmatch(value.strip())
            if match and int(match.group(1)) > 0:
                return f"{int(match.group(1))}tokens"
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f'expected a positive integer, "full" or a token budget like "4096tokens", '
                f"got {json.dumps(value, default=str)}"
            )
        return value

    @field_validator("precise_bn", mode="before")
    @classmethod
    def _precise_bn(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return PRECISE_BN_BATCHES if value else 0
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value in ("auto", "cpu", "cuda", "mps") or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError(f"expected auto, cpu, cuda or cuda:N, got {value!r}")

    @model_validator(mode="after")
    def _some_stopping_rule(self) -> TrainConfig:
        if self.epochs is None and self.max_steps is None:
            raise ValueError("set epochs, max_steps or both; both are null")
        return self


# ------------------------------------------------------------------------------------------- config


class Config(_Section):
    """A whole run: data, model and training."""

    name: str = Field(
        "run",
        min_length=1,
        max_length=200,
        description="run name; run directories are runs/<name>-<timestamp> (no / \\ or NUL, not . or ..)",
    )

    @field_validator("name")
    @classmethod
    def _name_stays_in_runs(cls, value: str) -> str:
        if any(c in value for c in "/\\\0") or value.strip() in (".", ".."):
            shown = json.dumps(value)
            raise ValueError(
                f"{shown} is not a plain name: a run name becomes a folder inside runs/, so it may not hold "
                "/, \\ or NUL characters or be . or .."
            )
        return value

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


# ------------------------------------------------------------------------------------ entry points


def make_config(values: Mapping[str, Any] | Config | None = None, overrides: Iterable[str] = ()) -> Config:
    """Validate a nested mapping (as read from YAML) and ``key=value`` overrides into a :class:`Config`.

    Raises:
        ConfigError: one line naming the first invalid field, its value and what is allowed.
    """
    if isinstance(values, Config):
        values = values.model_dump(mode="json")
    raw = copy.deepcopy(dict(values or {}))
    before = _effective_batch(raw)
    raw = apply_overrides(raw, overrides)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, raw)) from None
    scaling = config.train.lr_scaling
    changed = before is not None and before != _effective_batch(raw)
    if scaling.rule != "none" and scaling.base_batch_size is None and changed:
        # An override changed the batch size: the rate was set for the batch the config had before.
        scaling.base_batch_size = before
    return config


def diff_configs(a: Config, b: Config, ignore: tuple[str, ...] = ()) -> list[str]:
    """Dotted paths whose values differ, as ``path: first -> second`` (paths starting with ``ignore`` skipped).

    >>> diff_configs(make_config({"train": {"batch_size": 16}}), make_config({"train": {"batch_size": 64}}))
    ['train.batch_size: 16 -> 64']
    """
    left, right = _flatten(a.model_dump(mode="json")), _flatten(b.model_dump(mode="json"))
    return [
        f"{path}: {left.get(path)!r} -> {right.get(path)!r}"
        for path in sorted(set(left) | set(right))
        if left.get(path) != right.get(path) and not path.startswith(ignore)
    ]


_PATH_FIELDS = ("data.source", "data.labels", "data.split.val_source", "data.split.test_source")


def flat_fields(config: Config) -> dict[str, Any]:
    """Every leaf field of ``config`` by dotted path, in schema order, as JSON values.

    >>> flat_fields(make_config({"train": {"batch_size": 16}}))["train.batch_size"]
    16
    """
    return _flatten(config.model_dump(mode="json"))


def resolve_data_paths(config: Config, base: str | Path | None = None) -> tuple[Config, dict[str, str]]:
    """``config`` with its relative data paths made absolute, so a run directory works from anywhere.

    A value is resolved when it names an existing file or folder relative to ``base`` (default: the
    working directory); built-in dataset names and absolute paths stay as they are.

    Returns:
        The resolved config, and the original value of every field that changed (by dotted path).
    """
    root = Path(base) if base is not None else Path.cwd()
    raw = config.model_dump(mode="json")
    given: dict[str, str] = {}
    for path in _PATH_FIELDS:
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        value = node.get(leaf)
        if not isinstance(value, str) or not value or Path(value).expanduser().is_absolute():
            continue
        candidate = root / Path(value).expanduser()
        if candidate.exists():
            node[leaf] = str(candidate.resolve())
            given[path] = value
    return (Config.model_validate(raw), given) if given else (config, given)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _effective_batch(raw: Mapping[str, Any]) -> int | None:
    train = raw.get("train") if isinstance(raw, Mapping) else None
    train = train if isinstance(train, Mapping) else {}
    size = train.get("batch_size", TrainConfig.model_fields["batch_size"].default)
    accumulate = train.get("accumulate", 1)
    if isinstance(size, int) and not isinstance(size, bool) and isinstance(accumulate, int) and size > 0:
        return size * max(accumulate, 1)
    return None


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Read a YAML config file, apply ``key=value`` overrides and validate.

    The config's ``name`` defaults to the file's stem.
    """
    path = Path(path)
    raw = read_yaml(path, f"config file {str(path)!r}")
    if raw is None:
        raise ConfigError(
            f"config file {str(path)!r} is empty; give at least the data, e.g. `data: {{source: digits}}` "
            "(an empty mapping `{}` takes every default)"
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config file {str(path)!r} holds a {type(raw).__name__}; it must hold a mapping of sections "
            "(data, model, train)"
        )
    raw.setdefault("name", path.stem)
    return make_config(raw, overrides)


def config_to_yaml(config: Config) -> str:
    """The resolved config as YAML text, enough to reproduce a run."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, 5x faster, same text
    return str(yaml.dump(config.model_dump(mode="json"), Dumper=dumper, sort_keys=False))


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``train.batch_size=128`` into ``(["train", "batch_size"], 128)``; the value is read as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. train.batch_size=128")
    try:
        parsed = parse_yaml(value, f"--set {key.strip()}") if value.strip() else ""
    except ConfigError as exc:
        if "not valid YAML" not in str(exc):
            raise
        parsed = value
    return key.strip().split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set each ``dotted.key=value`` in a nested dict (creating sections as needed)."""
    for text in overrides:
        path, value = parse_override(text)
        node: dict[str, Any] = raw
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {'.'.join(path[: i + 1])} is not a section")
            node = child
        node[path[-1]] = value
        if path == ["model", "batchnorm"]:
            node.pop("norm", None)  # the synonym set later wins over a norm written before (a saved config's)
    return raw


# ---------------------------------------------------------------------------------- error messages


def _describe_validation_error(exc: ValidationError, raw: Mapping[str, Any]) -> str:
    """One line for the first error: ``train.batch_size: expected ..., got -3``."""
    errors = exc.errors()
    first = errors[0]
    loc = [str(p) for p in first["loc"] if not _is_union_tag(p)]
    path = ".".join(loc) or "config"
    kind = first["type"]
    value = first.get("input")
    if kind == "extra_forbidden":
        valid = _field_names_at(loc[:-1])
        message = f"{path}: unknown key" + (f"; {did_you_mean(loc[-1], valid)}" if valid else "")
    elif kind == "literal_error":
        expected = [s.strip().strip("'") for s in first["ctx"]["expected"].replace(" or ", ", ").split(",")]
        message = f"{path}: unknown value {_show(value)}; {did_you_mean(str(value), expected)}"
    elif kind == "value_error":
        message = f"{path}: {first['msg'].removeprefix('Value error, ')}"
    else:
        msg = first["msg"]
        message = f"{path}: {msg[0].lower()}{msg[1:]}, got {_show(value)}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return message


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the union member's tag in the location (e.g. 'int', 'literal[...]', 'crop').
    return isinstance(part, str) and (
        part in ("int", "str", "float", "bool") or part.startswith(("literal[", "function-"))
    )


_AUGMENT_MODELS: dict[str, type[BaseModel]] = {
    model.model_fields["name"].default: model
    for model in (
        HFlipConfig,
        CropConfig,
        RotateConfig,
        JitterConfig,
        SpecAugmentConfig,
        NoiseConfig,
        ShiftConfig,
        GainConfig,
    )
}


def _field_names_at(loc: list[str]) -> list[str]:
    if len(loc) == 4 and loc[:2] == ["data", "augment"] and loc[3] in _AUGMENT_MODELS:
        return list(_AUGMENT_MODELS[loc[3]].model_fields)  # data.augment.<index>.<name>: one augmentation
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return []
    return list(model.model_fields)


def _show(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"
