"""``python -m batchlab`` runs the command line (also under ``torchrun``)."""

from batchlab.cli import main

if __name__ == "__main__":
    main()
