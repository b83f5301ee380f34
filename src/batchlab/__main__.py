"""``python -m batchlab`` runs the command line (also under ``torchrun``)."""

import signal
import sys

try:
    from batchlab.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line is still being imported
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("batchlab: interrupted", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    main()
