"""Builders that return a ``torch.nn.Module`` for a ``model`` config and the data's input.

:func:`build_model` picks the network by ``model.name``, the kind of input
(:class:`~batchlab.inputs.InputSpec`) and the task. The modules are also usable directly, e.g.
``TransformerClassifier(spec, num_outputs, ModelConfig(name="transformer"))``.
"""

from __future__ import annotations

from batchlab.models.attention import SelfAttention, TransformerBlock, init_gpt2_weights
from batchlab.models.bag import BagOfEmbeddings
from batchlab.models.cnn import build_cnn
from batchlab.models.embedding import InputEmbedding, PositionEmbedding, sinusoidal_positions
from batchlab.models.frame_mlp import FrameStatsMLP
from batchlab.models.generation import generate
from batchlab.models.gpt import GPT
from batchlab.models.masked_norm import MaskedBatchNorm2d
from batchlab.models.masks import valid_mask
from batchlab.models.mlp import build_mlp, dense_head
from batchlab.models.pooling import last_valid, masked_max, masked_mean, masked_std, pool_sequence
from batchlab.models.registry import MODEL_BUILDERS, TASKS, build_model
from batchlab.models.rnn import RecurrentClassifier
from batchlab.models.rnn_lm import RecurrentLanguageModel
from batchlab.models.spectrogram_cnn import SpectrogramCNN
from batchlab.models.transformer import TransformerClassifier

__all__ = [
    "GPT",
    "MODEL_BUILDERS",
    "TASKS",
    "BagOfEmbeddings",
    "FrameStatsMLP",
    "InputEmbedding",
    "MaskedBatchNorm2d",
    "PositionEmbedding",
    "RecurrentClassifier",
    "RecurrentLanguageModel",
    "SelfAttention",
    "SpectrogramCNN",
    "TransformerBlock",
    "TransformerClassifier",
    "build_cnn",
    "build_mlp",
    "build_model",
    "dense_head",
    "generate",
    "init_gpt2_weights",
    "last_valid",
    "masked_max",
    "masked_mean",
    "masked_std",
    "pool_sequence",
    "sinusoidal_positions",
    "valid_mask",
]
