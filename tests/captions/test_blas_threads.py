"""The captioner runs one recognizer thread: OpenBLAS must not start its thread per core beside it
(they spin between calls; bench/captions.py measured 11 % of a core per speaker with them, 7 % without).
manage.py sets it for `run_captioner` before numpy is imported."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import os, sys
sys.argv = ["manage.py", {command!r}, "--help"]
import manage
try:
    manage.main()
except SystemExit:
    pass
import numpy
numpy.dot(numpy.ones((256, 256)), numpy.ones((256, 256)))  # OpenBLAS's threads, if any, are up now
threads = int(next(l for l in open("/proc/self/status") if l.startswith("Threads:")).split()[1])
print(os.environ.get("OPENBLAS_NUM_THREADS"), threads, os.cpu_count())
"""


def _probe(command: str) -> tuple[str, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(command=command)],
        cwd=ROOT,
        # Without the variable, whatever this process has (the web process's captioner sets it here).
        env={name: value for name, value in os.environ.items() if name != "OPENBLAS_NUM_THREADS"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()[-3:]
    return out[0], int(out[1]), int(out[2])


def test_run_captioner_has_one_blas_thread():
    blas, threads, _ = _probe("run_captioner")
    assert blas == "1"
    assert threads == 1, f"{threads} threads after numpy's first product"


def test_other_commands_keep_openblas_as_it_comes():
    blas, threads, cores = _probe("check")
    assert blas == "None"
    if cores > 1:
        assert threads > 1  # the probe sees OpenBLAS's threads when they are there
