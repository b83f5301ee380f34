"""Reports: plots and tables of runs (matplotlib is imported only when a plot is drawn)."""

from batchlab.report.plots import plot_learning_curves

__all__ = ["plot_learning_curves"]
