"""Figures and the run's last line: percentiles, progress on stderr, a benchmark's main (one JSON
object on stdout, the exit status)."""

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path

from .database import database_urls, recreate_database, seeded_database


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run_and_report(
    run: Callable[[], dict],
    *,
    cleanup: Callable[[], None] | None = None,
    line: Callable[[dict, BaseException | None], dict] | None = None,
    targets: dict | None = None,
    print_traceback: bool = True,
) -> int:
    """A benchmark's main: `run` it, `cleanup` whatever happened, then print the last line, one JSON
    object: the figures `run` returned ({} if it did not finish), or what `line` makes of them and the
    error that stopped the run (None), with `targets` under "targets". The exit status is 1 if the
    run did not finish (an interrupt included), else 0."""
    figures: dict = {}
    failed = None
    try:
        figures = run()
    except BaseException as error:  # still report what there is, and clean up
        if print_traceback:
            traceback.print_exc()
        failed = error
    finally:
        if cleanup is not None:
            cleanup()
    if failed is not None:
        print(f"benchmark did not finish: {type(failed).__name__}: {failed}", file=sys.stderr)
    result = line(figures, failed) if line is not None else figures
    if targets is not None:
        result["targets"] = targets
    print(json.dumps(result))
    return 1 if failed is not None else 0


def run_seeded(
    args: argparse.Namespace,
    *,
    work_prefix: str,
    seed: Callable[[int], dict],
    benchmark: Callable[[str, dict, Path], Coroutine],
    targets: dict,
    line: Callable[[dict, BaseException | None], dict] | None = None,
    cleanup: Callable[[], None] | None = None,
) -> int:
    """The main of a benchmark on a stack of its own (bench/faults.py's, bench/redis_failover.py's,
    bench/multinode.py's): a new database `args.db_name` with `seed(args.listeners)` in it, then
    `benchmark(database URL, seeded, work directory)` run for --seconds at most; then `cleanup`, the
    database dropped and the work directory removed, and run_and_report()'s last line."""
    admin_url, bench_url = database_urls(args.db_name)
    work = Path(tempfile.mkdtemp(prefix=work_prefix))

    def run() -> dict:
        progress(f"recreating {args.db_name}; {args.listeners} listeners")
        seeded = seeded_database(admin_url, bench_url, args.db_name, lambda: seed(args.listeners))
        return asyncio.run(asyncio.wait_for(benchmark(bench_url, seeded, work), args.seconds))

    def clean_up() -> None:
        if cleanup is not None:
            cleanup()
        recreate_database(admin_url, args.db_name, drop_only=True)
        shutil.rmtree(work, ignore_errors=True)

    return run_and_report(run, cleanup=clean_up, line=line, targets=targets)
