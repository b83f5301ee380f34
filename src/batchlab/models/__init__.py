"""Builders that return a ``torch.nn.Module`` for a ``model`` config and the data's shape."""

from __future__ import annotations

from batchlab.models.cnn import build_cnn
from batchlab.models.mlp import build_mlp
from batchlab.models.registry import MODEL_BUILDERS, build_model

__all__ = ["MODEL_BUILDERS", "build_cnn", "build_mlp", "build_model"]
