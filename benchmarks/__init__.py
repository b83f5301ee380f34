"""Side-by-side benchmarks of batchlab against a bare PyTorch loop and the common frameworks.

Run from the repository root (each measurement is a fresh process with 2 threads, rounds interleaved)::

    .venv/bin/python -m benchmarks.run                      # the full suite, markdown table on stdout
    .venv/bin/python -m benchmarks.run --quick              # 2 rounds, fewer systems: a smoke run
    .venv/bin/python -m benchmarks.streaming                # larger-than-memory demo (2 GB and 16 GB files)

The anchor systems are the ``bench`` extra: ``pip install -e '.[bench]' 'torch==2.13.0'``.
See ``docs/performance.md`` for the latest results and what each column means.
"""
