"""Write the metrics rows, the hyperparameters and the final metrics as TensorBoard event files.

Every numeric column of a metrics row (the row ``metrics.csv`` gets: ``train_loss``, ``val_accuracy``,
``lr``, ``samples``, ``seconds``, ``pad_fraction``, ``noise_scale``, ``batch_size``, ...) becomes a
scalar of the same name at the row's optimizer ``step``. The hyperparameters go into the HParams view as
a session of this run (its start, and its end with a status); the metrics it shows beside them are the
last value of each scalar, the test metrics (``test_accuracy``, ``test_f1_macro``, ...) included once
:meth:`TensorBoardLogger.add_final_metrics` has written them. No experiment summary is written, so
TensorBoard gathers the hyperparameters and metrics of every run under its ``--logdir`` (the cells of a
batch-size study, the trials of a tuning study) into one table.

A resumed run hides the events its first life wrote after the checkpoint's last row (TensorBoard's
purge step), so no row appears twice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.train.callbacks.base import Callback

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["TENSORBOARD_DIR", "TensorBoardLogger", "hparam_values", "require_tensorboard"]

TENSORBOARD_DIR = "tensorboard"
"""The event files' folder inside a run directory."""


def require_tensorboard(field: str = "train.log.tensorboard") -> None:
    """Raise a one-line :class:`~batchlab.errors.ConfigError` when the ``tensorboard`` package is missing."""
    import importlib.util

    from batchlab.errors import ConfigError

    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(f"{field}: needs the tensorboard package: pip install 'batchlab[tensorboard]'")


def hparam_values(values: Mapping[str, Any]) -> dict[str, bool | float | str]:
    """Hyperparameters as the HParams view takes them: booleans, numbers and text (lists as text).

    Unset (``None``) fields are left out: a column holds one type across runs, so a field that is a number
    in one run and unset in another shows that run's cell empty.

    >>> hparam_values({"train.batch_size": 32, "model.hidden": [64, 64], "train.grad_clip": None})
    {'train.batch_size': 32, 'model.hidden': '[64, 64]'}
    """
    out: dict[str, bool | float | str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = str(list(value)) if isinstance(value, tuple) else str(value)
    return out


class TensorBoardLogger(Callback):
    """Writes event files to ``log_dir`` (``RUN_DIR/tensorboard``).

    Args:
        log_dir: the folder of the event files (created when training starts).
        hparams: the run's hyperparameters by name (dotted config paths), shown in the HParams view.
    """

    def __init__(self, log_dir: str | Path, hparams: Mapping[str, Any]) -> None:
        self.log_dir = Path(log_dir)
        self.hparams = hparam_values(hparams)
        self._writer: Any = None
        self._last_step = 0

    def on_train_begin(self, state: LoopState) -> None:
        from torch.utils.tensorboard import SummaryWriter

        resumed = bool(state.history) or state.step > 0
        last = int(state.history[-1]["step"]) if state.history else 0
        # A resumed run: TensorBoard hides what the first life logged after the checkpoint's last row.
        self._writer = SummaryWriter(str(self.log_dir), purge_step=last + 1 if resumed else None)
        self._last_step = last
        self._writer.file_writer.add_summary(_session_start(self.hparams))

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        row = state.history[-1]
        step = int(row["step"])
        for name, value in row.items():
            if name != "step" and _is_number(value):
                self._writer.add_scalar(name, float(value), global_step=step)
        self._last_step = step
        self._writer.flush()

    def on_train_end(self, state: LoopState) -> None:
        if state.interrupted:  # the session goes on when the run resumes
            self.add_final_metrics(None)
            return
        self._writer.file_writer.add_summary(_session_end(failed=state.diverged is not None))
        self._writer.flush()

    def add_final_metrics(self, metrics: Mapping[str, Any] | None, prefix: str = "test_") -> None:
        """Write the numeric entries of ``metrics`` as ``test_<name>`` scalars at the last step, then close.

        Args:
            metrics: e.g. the run's test metrics (``accuracy``, ``f1_macro``, ... ; lists such as the
                confusion matrix are left out); ``None`` only closes the files.
            prefix: put before each name.
        """
        if self._writer is None:
            return
        for name, value in (metrics or {}).items():
            if _is_number(value):
                self._writer.add_scalar(f"{prefix}{name}", float(value), global_step=self._last_step)
        self._writer.close()
        self._writer = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The HParams plugin's records, built from its protocol buffers (its ``summary`` module needs TensorFlow).


def _session_start(hparams: Mapping[str, bool | float | str]) -> Any:
    from tensorboard.plugins.hparams import plugin_data_pb2

    info = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for name, value in hparams.items():
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[name].number_value = value
        else:
            info.hparams[name].string_value = value
    return _hparams_summary("session_start_info", plugin_data_pb2.HParamsPluginData(session_start_info=info))


def _session_end(*, failed: bool) -> Any:
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    status = api_pb2.STATUS_FAILURE if failed else api_pb2.STATUS_SUCCESS
    info = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
    return _hparams_summary("session_end_info", plugin_data_pb2.HParamsPluginData(session_end_info=info))


def _hparams_summary(kind: str, data: Any) -> Any:
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams import metadata

    data.version = metadata.PLUGIN_DATA_VERSION
    plugin = SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME, content=data.SerializeToString())
    tag = {"session_start_info": metadata.SESSION_START_INFO_TAG, "session_end_info": metadata.SESSION_END_INFO_TAG}
    return Summary(value=[Summary.Value(tag=tag[kind], metadata=SummaryMetadata(plugin_data=plugin))])
