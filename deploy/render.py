"""Fill deploy/'s nginx site and systemd units from the environment file.

    python deploy/render.py --env /etc/spaces/spaces.env --out /etc/spaces/rendered

writes ``nginx/spaces.conf`` and ``systemd/*`` under ``--out``. Every double-braced placeholder in the templates
comes from the environment file (``SPACES_*``, and ``STATIC_ROOT``, ``MEDIA_ROOT``, ``MEDIA_URL``,
``RECORDINGS_ACCEL_PREFIX``, the same values the application reads); a placeholder without a value
is an error, never an empty string. The production smoke test (deploy/smoke.py) renders the same
templates, so what CI runs is what README's "Production" steps install.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script: the repository's modules are importable too
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rooms.audio.signing import derive_secret  # noqa: E402 (no Django, no dependencies)

DEPLOY = Path(__file__).resolve().parent
TEMPLATES = {
    "nginx/spaces.conf": DEPLOY / "nginx" / "spaces.conf",
    "systemd/spaces-web@.service": DEPLOY / "systemd" / "spaces-web@.service",
    "systemd/spaces-mixer@.service": DEPLOY / "systemd" / "spaces-mixer@.service",
    "systemd/spaces-captioner.service": DEPLOY / "systemd" / "spaces-captioner.service",
    "systemd/spaces-worker.service": DEPLOY / "systemd" / "spaces-worker.service",
    "systemd/spaces-push-worker.service": DEPLOY / "systemd" / "spaces-push-worker.service",
    "systemd/spaces-beat.service": DEPLOY / "systemd" / "spaces-beat.service",
    "systemd/spaces.target": DEPLOY / "systemd" / "spaces.target",
}
PLACEHOLDER = re.compile(r"{{([A-Z_]+)}}")


class RenderError(Exception):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    """Parse an environment file the way systemd's EnvironmentFile= does (KEY=value lines, # comments,
    values optionally in single or double quotes)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise RenderError(f"{path}:{number}: not KEY=value: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _port_of(listen: str) -> int:
    last = listen.split()[0].rsplit(":", 1)[-1]
    return int(last)


def template_values(env: dict[str, str], *, env_file: Path | None = None) -> dict[str, str]:
    """The value of every placeholder, from the environment file's variables."""

    def need(name: str) -> str:
        value = env.get(name, "").strip()
        if not value:
            raise RenderError(f"the environment file must set {name}")
        return value

    app_dir = need("SPACES_APP_DIR").rstrip("/")
    run_dir = need("SPACES_RUN_DIR").rstrip("/")
    web = int(need("SPACES_WEB_PROCESSES"))
    mixers = int(need("SPACES_MIXER_PROCESSES"))
    if web < 1 or mixers < 1:
        raise RenderError("run at least one web process and one mixer")
    https_port = _port_of(need("SPACES_HTTPS_LISTEN"))
    media_url = env.get("MEDIA_URL", "/media/") or "/media/"
    accel = env.get("RECORDINGS_ACCEL_PREFIX", "/protected-recordings/") or "/protected-recordings/"
    if not (
        media_url.startswith("/")
        and media_url.endswith("/")
        and accel.startswith("/")
        and accel.endswith("/")
    ):
        raise RenderError("MEDIA_URL and RECORDINGS_ACCEL_PREFIX must start and end with /")
    hls_prefix = env.get("HLS_URL_PREFIX", "/hls/") or "/hls/"
    hls_path = urlsplit(hls_prefix).path if "://" in hls_prefix else hls_prefix
    if not (hls_path.startswith("/") and hls_path.endswith("/")):
        raise RenderError("HLS_URL_PREFIX must be a path (or a URL whose path) starting and ending with /")
    hls_secret = env.get("HLS_SIGNING_SECRET", "").strip()
    if not hls_secret:
        # The same derivation as rooms/live/hls.py's hls_secret(): nginx never sees SECRET_KEY itself.
        hls_secret = derive_secret(need("SECRET_KEY"))
    if not re.fullmatch(r"[A-Za-z0-9_.~+/=-]+", hls_secret):
        raise RenderError(
            "HLS_SIGNING_SECRET may hold letters, digits and _.~+/=- only (it goes in nginx's site)"
        )
    env_path = env.get("SPACES_ENV_FILE") or (str(Path(env_file).resolve()) if env_file else "")
    if not env_path:
        raise RenderError("the environment file must set SPACES_ENV_FILE")
    return {
        "SERVER_NAME": need("SPACES_SERVER_NAME"),
        "APP_DIR": app_dir,
        "VENV": (env.get("SPACES_VENV") or f"{app_dir}/.venv").rstrip("/"),
        "USER": need("SPACES_USER"),
        "ENV_FILE": env_path,
        "RUN_DIR": run_dir,
        "STATE_DIR": need("SPACES_STATE_DIR").rstrip("/"),
        "WORKER_CONCURRENCY": str(int(env.get("SPACES_WORKER_CONCURRENCY") or "2")),
        "PUSH_WORKER_CONCURRENCY": str(int(env.get("SPACES_PUSH_WORKER_CONCURRENCY") or "2")),
        "HTTP_LISTEN": need("SPACES_HTTP_LISTEN"),
        "HTTPS_LISTEN": need("SPACES_HTTPS_LISTEN"),
        "HTTPS_PORT_SUFFIX": "" if https_port == 443 else f":{https_port}",
        "TLS_CERTIFICATE": need("SPACES_TLS_CERTIFICATE"),
        "TLS_KEY": need("SPACES_TLS_KEY"),
        "STATIC_ROOT": need("STATIC_ROOT").rstrip("/"),
        "MEDIA_ROOT": need("MEDIA_ROOT").rstrip("/"),
        "MEDIA_URL": media_url,
        "RECORDINGS_ACCEL_PREFIX": accel,
        "HLS_ROOT": (env.get("HLS_ROOT") or f"{app_dir}/hls").rstrip("/"),
        "HLS_URL_PATH": hls_path,
        "HLS_SIGNING_SECRET": hls_secret,
        # max_fails=0: a process is never marked down, only skipped for the request it refused (a
        # refused connect to a dead socket costs microseconds). Marking down a live process whose
        # backlog overflowed in a reconnect storm would leave nginx with no live process at all.
        "WEB_UPSTREAMS": "\n".join(
            f"    server unix:{run_dir}/web{n}.sock max_fails=0;" for n in range(1, web + 1)
        ),
        "WEB_UNITS": " ".join(f"spaces-web@{n}.service" for n in range(1, web + 1)),
        "MIXER_UNITS": " ".join(f"spaces-mixer@{n}.service" for n in range(1, mixers + 1)),
    }


def render_text(text: str, values: dict[str, str], *, name: str = "template") -> str:
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise RenderError(f"{name}: no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def render(env_file: Path, out_dir: Path) -> dict[str, Path]:
    """Render every template into `out_dir`; return where each went, by template name."""
    values = template_values(read_env_file(env_file), env_file=env_file)
    written = {}
    for name, template in TEMPLATES.items():
        target = Path(out_dir) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_text(template.read_text(), values, name=name))
        written[name] = target
    return written


def unit_command(unit_file: Path, *, instance: str = "", hostname: str = "localhost") -> dict:
    """What a rendered unit runs: its ExecStart (and ExecStop) as argv, WorkingDirectory and EnvironmentFile, with
    systemd's %i (instance) and %H (host name) filled in. Used to run the units without systemd."""
    service: dict[str, str] = {}
    section = ""
    for raw in Path(unit_file).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            service[key.strip()] = value.strip()

    def expand(command: str) -> list[str]:
        return shlex.split(command.replace("%i", instance).replace("%H", hostname).replace("%%", "%"))

    return {
        "argv": expand(service["ExecStart"]),
        # What systemd runs before it sends SIGTERM (empty: nothing).
        "stop_argv": expand(service["ExecStop"]) if service.get("ExecStop") else [],
        "cwd": service.get("WorkingDirectory", "/"),
        "env_file": service.get("EnvironmentFile", ""),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True, type=Path, help="the environment file (spaces.env)")
    parser.add_argument("--out", required=True, type=Path, help="where to write nginx/ and systemd/")
    args = parser.parse_args(argv)
    try:
        written = render(args.env, args.out)
    except (RenderError, OSError, ValueError) as error:
        print(f"render: {error}", file=sys.stderr)
        return 1
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
