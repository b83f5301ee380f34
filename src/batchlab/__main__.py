"""``python -m batchlab`` and the ``batchlab`` script run the command line (also under ``torchrun``).

The script's entry point is :func:`run` here, not ``batchlab.cli.main``: importing the command line
takes a second or more (torch), and a Ctrl-C during that import must end like any other Ctrl-C (one
line, exit 130), which only code that runs before the import can arrange.
"""

import signal
import sys

try:
    from batchlab.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line is still being imported
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("batchlab: interrupted", file=sys.stderr)
    sys.exit(130)


def run() -> None:
    """Entry point of the ``batchlab`` script (see the module docstring)."""
    main()


if __name__ == "__main__":
    main()
