"""batchlab's version (kept equal to ``project.version`` in pyproject.toml), importable from any layer."""

__all__ = ["VERSION"]

VERSION = "0.1.0"
