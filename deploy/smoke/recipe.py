"""README's "Production" steps with deploy/'s own files: a throwaway database, the environment file
made from deploy/spaces.env.example, manage.py, and every systemd unit's ExecStart."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from deploy import harness, render
from deploy.smoke.common import ROOT, check
from spaces_project.vapid import new_pair

# -- the database ----------------------------------------------------------------------------------


def fresh_database(database_url: str) -> str:
    """Drop and create `<name>_smoke` on the server `database_url` names; return its URL."""
    parts = urlsplit(database_url)
    name = (parts.path.strip("/") or "postgres") + "_smoke"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(database_url: str) -> None:
    parts = urlsplit(database_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.strip("/")}" WITH (FORCE)')


# -- README's steps ---------------------------------------------------------------------------------


def write_env_file(
    work: Path, *, database_url: str, redis_url: str, http_port: int, https_port: int, stripe_api: str
) -> Path:
    """deploy/spaces.env.example with this machine's values: the lines are kept, values replaced."""
    cert, key = harness.self_signed_certificate(work / "tls")
    venv = Path(sys.executable).parent.parent
    origin = f"https://localhost:{https_port}"
    vapid = new_pair()
    values = {
        "SECRET_KEY": secrets.token_urlsafe(60),
        "VAPID_PUBLIC_KEY": vapid.public_key,
        "VAPID_PRIVATE_KEY": vapid.private_key,
        "ALLOWED_HOSTS": "localhost",
        "CSRF_TRUSTED_ORIGINS": origin,
        "SITE_URL": origin,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STATIC_ROOT": str(work / "staticfiles"),
        "MEDIA_ROOT": str(work / "media"),
        "SPACES_SERVER_NAME": "localhost",
        "SPACES_APP_DIR": str(ROOT),
        "SPACES_VENV": str(venv),
        "SPACES_USER": os.environ.get("USER", "root"),
        "SPACES_ENV_FILE": str(work / "spaces.env"),
        "SPACES_RUN_DIR": str(work / "run"),
        "SPACES_STATE_DIR": str(work / "state"),
        "SPACES_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "SPACES_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "SPACES_TLS_CERTIFICATE": str(cert),
        "SPACES_TLS_KEY": str(key),
    }
    # Mail goes to files the script reads instead of an SMTP server.
    extra = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(work / "mail"),
        "STRIPE_API_BASE": stripe_api,
    }
    lines = []
    example = (ROOT / "deploy" / "spaces.env.example").read_text().splitlines()
    for line in example:
        key = line.split("=", 1)[0].strip()
        if not line.startswith("#") and "=" in line and key in values:
            line = f"{key}='{values.pop(key)}'"
        lines.append(line)
    check(not values, f"deploy/spaces.env.example lacks {sorted(values)}")
    lines += [f"{k}='{v}'" for k, v in extra.items()]
    path = work / "spaces.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    for directory in ("run", "state", "media", "mail"):
        (work / directory).mkdir(parents=True, exist_ok=True)
    return path


def manage(env: dict, *args: str, venv: Path) -> None:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    check(result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def start_units(processes: harness.Processes, rendered: dict[str, Path], env: dict, run_dir: Path) -> None:
    """Run what each systemd unit runs (its ExecStart, WorkingDirectory, EnvironmentFile)."""
    systemd = rendered["systemd/spaces-web@.service"].parent
    target = (systemd / "spaces.target").read_text()
    wanted = re.search(r"^Wants=(.*)$", target, re.M).group(1).split()
    waiting = []
    for unit_name in wanted:
        template, _, instance = unit_name.removesuffix(".service").partition("@")
        unit_file = systemd / (f"{template}@.service" if instance else f"{template}.service")
        unit = render.unit_command(unit_file, instance=instance, hostname="smoke")
        check(unit["env_file"] == str(env["SPACES_ENV_FILE"]), f"{unit_name} reads {unit['env_file']}")
        name = unit_name.removesuffix(".service")
        if template == "spaces-web":
            socket_path = run_dir / f"web{instance}.sock"
            ready = lambda _p, path=socket_path: harness.unix_listening(path)  # noqa: E731
        elif template == "spaces-mixer":
            ready = lambda p: "running" in p.output()  # noqa: E731
        elif template == "spaces-captioner":
            ready = lambda p: "running" in p.output()  # noqa: E731
        elif template in ("spaces-worker", "spaces-push-worker"):
            ready = lambda p: " ready." in p.output()  # noqa: E731
        else:
            ready = lambda p: "beat: Starting" in p.output()  # noqa: E731
        processes.start(name, unit["argv"], env=harness.base_env(**env), cwd=unit["cwd"])
        waiting.append((name, ready))
    # All at once, as systemd starts a target's units; then wait for each to be ready.
    for name, ready in waiting:
        processes.wait_ready(name, ready, timeout=120)
