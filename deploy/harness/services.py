"""The services a deployment runs beside its own processes: a private redis-server, a throwaway TLS
certificate, deploy/'s nginx site rendered for this machine, and Debian's nginx serving it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from deploy import render
from deploy.harness.processes import ROOT, Process, Processes, base_env, free_port, tcp_listening, wait_for

NGINX = "/usr/sbin/nginx"


class RedisServer:
    """A private redis-server on a free port (never the machine's shared one): no persistence, so a
    restart loses everything, as a crashed Redis without a dump would."""

    def __init__(self, processes: Processes, directory: Path, *, name: str = "redis") -> None:
        self.processes = processes
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self, *extra: str) -> None:
        """Start it; `extra` are further redis-server options (``--replicaof``, ``--sentinel``, ...)."""
        self.processes.start(
            self.name,
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--maxclients",
                "10000",
                *extra,
            ],
            env=base_env(),
            ready=lambda _: self.ping(),
            timeout=20,
        )

    def stop(self) -> None:
        self.processes.kill(self.name)
        wait_for(lambda: not tcp_listening(self.port), 10, "redis to stop listening")


# -- nginx ----------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            # ECDSA: a reconnect storm is hundreds of TLS handshakes at once, each far cheaper than RSA's.
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=DNS:{host},IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def render_local_site(directory: Path, *, web: int = 1, mixers: int = 1, **settings: str) -> dict:
    """Render deploy/'s nginx site and systemd units for processes on this machine: unix sockets
    under `directory`, nginx on two free ports of 127.0.0.1 with a throwaway certificate. `settings`
    are further lines of the environment file (MEDIA_ROOT, HLS_ROOT, ...). Returns the rendered
    files (name -> path), the ports, the origin and the run directory."""
    directory = Path(directory)
    cert, key = self_signed_certificate(directory / "tls")
    http_port, https_port = free_port(), free_port()
    (directory / "run").mkdir(parents=True, exist_ok=True)
    env_file = directory / "spaces.env"
    values = {
        "SPACES_SERVER_NAME": "localhost",
        "SPACES_APP_DIR": str(ROOT),
        "SPACES_VENV": str(Path(sys.executable).parent.parent),
        "SPACES_USER": "spaces",
        "SPACES_ENV_FILE": str(env_file),
        "SPACES_RUN_DIR": str(directory / "run"),
        "SPACES_STATE_DIR": str(directory),
        "SPACES_WEB_PROCESSES": str(web),
        "SPACES_MIXER_PROCESSES": str(mixers),
        "SPACES_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "SPACES_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "SPACES_TLS_CERTIFICATE": str(cert),
        "SPACES_TLS_KEY": str(key),
        "STATIC_ROOT": str(directory / "static"),
        **settings,
    }
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return {
        "files": render.render(env_file, directory / "rendered"),
        "http_port": http_port,
        "https_port": https_port,
        "origin": f"https://localhost:{https_port}",
        "run_dir": directory / "run",
    }


def start_nginx(
    processes: Processes,
    prefix: Path,
    site_conf: Path,
    *,
    ready_port: int,
    workers: int | str = 1,
    worker_connections: int = 8192,
) -> Process:
    """Run Debian's nginx in the foreground with its own prefix, pid and temp files, serving `site_conf`
    (the rendered deploy/nginx/spaces.conf) the way Debian's nginx.conf includes a site. Debian's own
    nginx.conf runs `worker_processes auto`; tests run one worker unless they ask for more."""
    prefix = Path(prefix)
    for sub in ("logs", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    main = prefix / "nginx.conf"
    main.write_text(
        f"""{user}
daemon off;
worker_processes {workers};
worker_rlimit_nofile {max(16384, 2 * worker_connections)};
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections {worker_connections}; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {site_conf};
}}
"""
    )
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(main)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t refused the configuration:\n{check.stderr}")
    return processes.start(
        "nginx",
        [NGINX, "-p", str(prefix), "-c", str(main)],
        env=base_env(),
        ready=lambda _: tcp_listening(ready_port),
        timeout=20,
    )
