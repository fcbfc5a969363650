"""The whole smoke test: the recipe, the visit, and everything it started stopped at the end."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import deploy.smoke
from deploy import harness, render
from deploy.smoke.common import Timer, check
from deploy.smoke.recipe import drop_database, fresh_database, manage, start_units, write_env_file
from deploy.smoke.stripe_stand_in import StripeStandIn
from deploy.smoke.visit import visit


def run(database_url: str, redis_url: str | None, work: Path) -> dict:
    timer = Timer()
    processes = harness.Processes(work / "logs")
    smoke_db = None
    stripe = None
    try:
        if redis_url is None:
            redis = harness.RedisServer(processes, work / "redis")
            redis.start()
            redis_url = redis.url(0)
        smoke_db = fresh_database(database_url)
        http_port, https_port = harness.free_port(), harness.free_port()
        stripe = StripeStandIn()
        env_file = write_env_file(
            work,
            database_url=smoke_db,
            redis_url=redis_url,
            http_port=http_port,
            https_port=https_port,
            stripe_api=stripe.url,
        )
        env = render.read_env_file(env_file)
        venv = Path(env["SPACES_VENV"])
        # README: render the site and the units from the environment file.
        rendered = render.render(env_file, work / "rendered")
        # README: migrate and collect static files, with the environment file's settings.
        manage(harness.base_env(**env), "migrate", "--noinput", venv=venv)
        manage(harness.base_env(**env), "collectstatic", "--noinput", "--verbosity", "0", venv=venv)
        timer.step("rendered deploy/, migrated, collected static files")
        # README: start spaces.target (every unit it wants), then nginx with the site.
        start_units(processes, rendered, env, Path(env["SPACES_RUN_DIR"]))
        harness.start_nginx(processes, work / "nginx", rendered["nginx/spaces.conf"], ready_port=https_port)
        timer.step("started 2 web processes, 2 mixers, the captioner, the workers, beat and nginx")
        result = visit(
            f"https://localhost:{https_port}",
            f"http://localhost:{http_port}",
            Path(env["EMAIL_FILE_PATH"]),
            Path(env["MEDIA_ROOT"]),
            stripe,
            timer,
        )
        for name, process in processes.running.items():
            check(process.alive(), f"{name} died during the visit:\n{process.output()[-2000:]}")
        return {
            "smoke": "passed",
            **result,
            "steps_s": timer.steps,
            "total_s": round(time.monotonic() - timer.start, 1),
        }
    except Exception:
        for name, process in processes.running.items():
            print(f"--- {name} (last lines) ---\n{process.output()[-1500:]}", file=sys.stderr)
        raise
    finally:
        processes.stop_all()
        if stripe is not None:
            stripe.stop()
        if smoke_db is not None:
            try:
                drop_database(smoke_db)
            except Exception as error:
                print(f"smoke: could not drop {smoke_db}: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.smoke", description=deploy.smoke.__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server to make the throwaway database on (its name + _smoke)",
    )
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, rendered files)")
    args = parser.parse_args(argv)
    if not Path(harness.NGINX).exists():
        print("smoke: nginx is not installed (apt-get install nginx)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="spaces-smoke-"))
    try:
        result = run(args.database_url, args.redis_url, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"smoke: kept {work}", file=sys.stderr)
    print(json.dumps(result))
    return 0
