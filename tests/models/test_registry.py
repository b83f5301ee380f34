from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models import (
    GPT,
    MODEL_BUILDERS,
    BagOfEmbeddings,
    FrameStatsMLP,
    RecurrentClassifier,
    RecurrentLanguageModel,
    SpectrogramCNN,
    TransformerClassifier,
    build_cnn,
    build_mlp,
    build_model,
)
from batchlab.models.activations import ACTIVATION_LAYERS, make_activation


def test_registry_names_match_the_config_literal() -> None:
    assert set(MODEL_BUILDERS) == set(ModelConfig.model_fields["name"].annotation.__args__)  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "shape"), [("mlp", (10,)), ("mlp", (1, 8, 8)), ("cnn", (1, 8, 8))])
def test_a_shape_tuple_builds_what_the_family_builder_builds(name: str, shape: tuple[int, ...]) -> None:
    cfg = ModelConfig(name=name, hidden=[8], channels=[4])  # type: ignore[arg-type]
    family = build_mlp if name == "mlp" else build_cnn
    assert repr(build_model(cfg, shape, 3)) == repr(family(cfg, shape, 3))


def test_activation_names_match_the_config_literal() -> None:
    assert set(ACTIVATION_LAYERS) == set(ModelConfig.model_fields["activation"].annotation.__args__)  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "shape"), [("mlp", (10,)), ("mlp", (1, 8, 8)), ("cnn", (1, 8, 8))])
def test_build_model_dispatches_by_name(name: str, shape: tuple[int, ...]) -> None:
    model = build_model(ModelConfig(name=name, hidden=[8], channels=[4]), shape, 3)  # type: ignore[arg-type]
    assert model(torch.randn(2, *shape)).shape == (2, 3)


def test_unknown_model_name_suggests_the_nearest() -> None:
    cfg = ModelConfig.model_construct(name="mpl")
    with pytest.raises(ConfigError, match=r'model\.name: unknown model .*did you mean "mlp"'):
        build_model(cfg, (4,), 2)


def test_unknown_activation_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"model\.activation: unknown value 'swish'; expected one of"):
        make_activation("swish")


def test_same_seed_same_weights() -> None:
    torch.manual_seed(1)
    a = build_model(ModelConfig(), (5,), 2)
    torch.manual_seed(1)
    b = build_model(ModelConfig(), (5,), 2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


TOKENS = InputSpec("tokens", (), vocab_size=20, max_length=16, variable_length=True)
FRAMES = InputSpec("frames", (8,), max_length=16, variable_length=True)
CORPUS = InputSpec("tokens", (), vocab_size=20, max_length=16)


@pytest.mark.parametrize(
    ("name", "spec", "task", "expected"),
    [
        ("mlp", FRAMES, "classification", FrameStatsMLP),
        ("cnn", FRAMES, "classification", SpectrogramCNN),
        ("lstm", TOKENS, "classification", RecurrentClassifier),
        ("gru", FRAMES, "regression", RecurrentClassifier),
        ("transformer", TOKENS, "classification", TransformerClassifier),
        ("transformer", FRAMES, "classification", TransformerClassifier),
        ("bag", TOKENS, "classification", BagOfEmbeddings),
        ("gpt", CORPUS, "language_model", GPT),
        ("lstm", CORPUS, "language_model", RecurrentLanguageModel),
        ("gru", CORPUS, "language_model", RecurrentLanguageModel),
    ],
)
def test_name_input_and_task_choose_the_module(name: str, spec: InputSpec, task: str, expected: type) -> None:
    cfg = ModelConfig(name=name, embed=16, heads=2, hidden=[8], channels=[4])  # type: ignore[arg-type]
    outputs = 20 if task == "language_model" else 3
    model = build_model(cfg, spec, outputs, task=task)
    assert type(model) is expected
    x = torch.randint(1, 20, (2, 16)) if spec.kind == "tokens" else torch.randn(2, 16, 8)
    model.eval()
    out = model(x, torch.tensor([16, 5])) if spec.variable_length else model(x)
    assert out.shape == ((2, 16, 20) if task == "language_model" else (2, 3))


VECTOR_USE = "model.name: lstm does not take vector inputs (shape (10,)); for vector use mlp"
TOKENS_USE = "model.name: cnn does not take tokens inputs (shape ()); for tokens use bag, lstm, gru or transformer"
GPT_TASK = "model.name: gpt is a causal language model and does not support classification; use transformer"
NOT_LM = "model.name: transformer is not a language model; for data.task: language_model use gpt, lstm or gru"
LM_FRAMES = "data.task: language_model needs token ids (a text corpus), got frames data"


@pytest.mark.parametrize(
    ("name", "spec", "task", "message"),
    [
        ("lstm", (10,), "classification", VECTOR_USE),
        ("transformer", (1, 8, 8), "classification", "model.name: transformer does not take image inputs"),
        ("cnn", TOKENS, "classification", TOKENS_USE),
        ("mlp", TOKENS, "classification", "model.name: mlp does not take tokens inputs"),
        ("bag", FRAMES, "classification", "model.name: bag does not take frames inputs"),
        ("gpt", TOKENS, "classification", GPT_TASK),
        ("transformer", CORPUS, "language_model", NOT_LM),
        ("lstm", FRAMES, "language_model", LM_FRAMES),
    ],
)
def test_unfit_models_are_one_line_config_errors(
    name: str, spec: InputSpec | tuple[int, ...], task: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build_model(ModelConfig(name=name), spec, 20 if task == "language_model" else 2, task=task)  # type: ignore[arg-type]
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_field_combinations_are_config_errors() -> None:
    with pytest.raises(ValidationError, match="heads=3 must divide embed=16"):
        ModelConfig(name="transformer", embed=16, heads=3)
    with pytest.raises(ConfigError, match=r"model\.pooling: gru pools with mean, max or last"):
        build_model(ModelConfig(name="gru", pooling="cls"), TOKENS, 2)
    with pytest.raises(ConfigError, match=r"model\.bidirectional: a language model reads left to right"):
        build_model(ModelConfig(name="lstm", bidirectional=True), CORPUS, 20, task="language_model")
    with pytest.raises(ConfigError, match=r"model\.positions: learned positions need"):
        build_model(ModelConfig(name="transformer"), InputSpec("frames", (8,)), 2)


def test_unknown_task_and_wrong_output_width_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="task must be one of classification, regression, language_model"):
        build_model(ModelConfig(), (4,), 2, task="ranking")
    with pytest.raises(ValueError, match="a language model outputs vocab_size=20 logits"):
        build_model(ModelConfig(name="gpt"), CORPUS, 7, task="language_model")
