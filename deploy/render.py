"""Fill deploy/'s nginx site and systemd units from the environment file.

    python deploy/render.py --env /etc/spaces/spaces.env --out /etc/spaces/rendered

writes ``nginx/spaces.conf`` and ``systemd/*`` under ``--out``. Every double-braced placeholder in the templates
comes from the environment file (``SPACES_*``, and ``STATIC_ROOT``, ``MEDIA_ROOT``, ``MEDIA_URL``,
``RECORDINGS_ACCEL_PREFIX``, the same values the application reads); a placeholder without a value
is an error, never an empty string. The production smoke test (deploy/smoke/) renders the same
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
# The site's /hls/ locations (and what they need at the http level) come from one of two fragments:
# files on this machine's disk (HLS_STORAGE=local) or the bucket the mixers upload to (s3).
HLS_FRAGMENTS = {
    "local": {"HLS_HTTP": None, "HLS_LOCATIONS": DEPLOY / "nginx" / "hls-disk.conf"},
    "s3": {
        "HLS_HTTP": DEPLOY / "nginx" / "hls-bucket-http.conf",
        "HLS_LOCATIONS": DEPLOY / "nginx" / "hls-bucket.conf",
    },
}


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
    hls_values = _hls_storage_values(env)
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
        **hls_values,
        # max_fails=0: a process is never marked down, only skipped for the request it refused (a
        # refused connect to a dead socket costs microseconds). Marking down a live process whose
        # backlog overflowed in a reconnect storm would leave nginx with no live process at all.
        "WEB_UPSTREAMS": "\n".join(
            f"    server unix:{run_dir}/web{n}.sock max_fails=0;" for n in range(1, web + 1)
        ),
        "WEB_UNITS": " ".join(f"spaces-web@{n}.service" for n in range(1, web + 1)),
        "MIXER_UNITS": " ".join(f"spaces-mixer@{n}.service" for n in range(1, mixers + 1)),
    }


def _hls_storage_values(env: dict[str, str]) -> dict[str, str]:
    """Where nginx finds the HLS files: HLS_STORAGE (or MEDIA_STORAGE, as the settings default it),
    and for object storage the bucket's origin, HLS_S3_ORIGIN (the endpoint and the bucket, path
    style, when unset; AWS's own host for the bucket without an endpoint)."""
    storage = (env.get("HLS_STORAGE") or env.get("MEDIA_STORAGE") or "local").strip().lower()
    if storage not in HLS_FRAGMENTS:
        raise RenderError("HLS_STORAGE must be local or s3")
    values = {"HLS_STORAGE": storage}
    if storage == "local":
        return values
    bucket = (env.get("HLS_S3_BUCKET") or env.get("S3_BUCKET") or "").strip()
    origin = env.get("HLS_S3_ORIGIN", "").strip()
    if not origin:
        if not bucket:
            raise RenderError("HLS_STORAGE=s3 needs HLS_S3_ORIGIN, or S3_BUCKET (or HLS_S3_BUCKET)")
        endpoint = env.get("S3_ENDPOINT_URL", "").strip().rstrip("/")
        region = env.get("S3_REGION", "").strip() or "us-east-1"
        origin = f"{endpoint}/{bucket}" if endpoint else f"https://{bucket}.s3.{region}.amazonaws.com"
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise RenderError("HLS_S3_ORIGIN must be an http(s) URL of the bucket")
    prefix = env.get("HLS_S3_PREFIX", "hls/") or "hls/"
    if prefix.startswith("/") or not prefix.endswith("/") or not re.fullmatch(r"[A-Za-z0-9_./-]+", prefix):
        raise RenderError("HLS_S3_PREFIX must be letters, digits and _.-/, end with / and not start with /")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    segment_s = int(env.get("HLS_SEGMENT_SECONDS") or "1")
    values.update(
        HLS_BUCKET_SCHEME=parts.scheme,
        HLS_BUCKET_SERVER=f"{parts.hostname}:{port}",
        HLS_BUCKET_HOST=parts.netloc,
        HLS_BUCKET_NAME=parts.hostname,
        HLS_BUCKET_PATH=parts.path.rstrip("/") + "/" + prefix,
        HLS_PROXY_CACHE_DIR=(env.get("HLS_PROXY_CACHE_DIR") or "/var/lib/nginx/spaces-hls").rstrip("/"),
        HLS_PLAYLIST_MAX_AGE=str(segment_s // 2),
    )
    return values


def _fragment(path: Path | None, values: dict[str, str]) -> str:
    """A fragment's text, without its header comment (down to the first empty line), filled in."""
    if path is None:
        return ""
    body = path.read_text().split("\n\n", 1)[1]
    return render_text(body, values, name=path.name).rstrip("\n")


def render_text(text: str, values: dict[str, str], *, name: str = "template") -> str:
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise RenderError(f"{name}: no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def render(env_file: Path, out_dir: Path) -> dict[str, Path]:
    """Render every template into `out_dir`; return where each went, by template name."""
    values = template_values(read_env_file(env_file), env_file=env_file)
    fragments = HLS_FRAGMENTS[values["HLS_STORAGE"]]
    values["HLS_LOCATIONS"] = _fragment(fragments["HLS_LOCATIONS"], values)
    http = _fragment(fragments["HLS_HTTP"], values)
    values["HLS_HTTP"] = http + "\n\n" if http else ""
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
