"""deploy/'s templates render from the example environment file into configs nginx accepts."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy import harness, render

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "spaces.env.example"


@pytest.fixture
def rendered(tmp_path):
    return render.render(EXAMPLE, tmp_path / "out")


def test_every_placeholder_of_every_template_is_filled_from_the_example(rendered):
    assert set(rendered) == set(render.TEMPLATES)
    for path in rendered.values():
        assert "{{" not in path.read_text(), path


def test_the_site_balances_over_one_socket_per_web_process(rendered):
    site = rendered["nginx/spaces.conf"].read_text()
    assert re.findall(r"server unix:(\S+) ", site) == ["/run/spaces/web1.sock", "/run/spaces/web2.sock"]
    assert "return 301 https://$host$request_uri;" in site  # port 443: no port in the redirect
    assert (
        "location ^~ /protected-recordings/ {\n        internal;\n        alias /var/lib/spaces/media/;"
        in site
    )
    # Under /media/ only avatars come from disk; every other path there is a 404.
    assert "location ^~ /media/avatars/ {\n        alias /var/lib/spaces/media/avatars/;" in site
    assert "location ^~ /media/ {\n        return 404;" in site
    target = rendered["systemd/spaces.target"].read_text()
    assert (
        "Wants=spaces-web@1.service spaces-web@2.service spaces-mixer@1.service spaces-mixer@2.service"
        in target
    )


def test_a_unit_runs_daphne_on_its_socket_with_a_long_backlog_and_proxy_headers(rendered):
    unit = render.unit_command(rendered["systemd/spaces-web@.service"], instance="2")
    assert unit["argv"] == [
        "/srv/spaces/.venv/bin/daphne",
        "--endpoint",
        "unix:/run/spaces/web2.sock:backlog=1024",
        "--proxy-headers",
        "spaces_project.asgi:application",
    ]
    assert unit["cwd"] == "/srv/spaces" and unit["env_file"] == "/etc/spaces/spaces.env"
    # Out of nginx's rotation before SIGTERM: the socket file goes first.
    assert unit["stop_argv"] == ["/bin/rm", "-f", "/run/spaces/web2.sock"]


def test_a_missing_value_is_an_error_not_an_empty_string(tmp_path):
    env = tmp_path / "spaces.env"
    env.write_text(EXAMPLE.read_text().replace("SPACES_TLS_KEY=", "#SPACES_TLS_KEY="))
    with pytest.raises(render.RenderError, match="SPACES_TLS_KEY"):
        render.render(env, tmp_path / "out")
    assert render.main(["--env", str(env), "--out", str(tmp_path / "out")]) == 1


def test_the_environment_file_is_read_as_systemd_reads_it(tmp_path):
    env = tmp_path / "spaces.env"
    env.write_text("# comment\nA=1\nB='two words'\nC=\"x=y\"\n\n")
    assert render.read_env_file(env) == {"A": "1", "B": "two words", "C": "x=y"}


@pytest.mark.skipif(not Path(harness.NGINX).exists(), reason="needs Debian's nginx (.ci/run installs it)")
def test_nginx_accepts_the_rendered_site(tmp_path):
    cert, key = harness.self_signed_certificate(tmp_path / "tls")
    env = tmp_path / "spaces.env"
    text = EXAMPLE.read_text()
    text = re.sub(r"^SPACES_TLS_CERTIFICATE=.*$", f"SPACES_TLS_CERTIFICATE={cert}", text, flags=re.M)
    text = re.sub(r"^SPACES_TLS_KEY=.*$", f"SPACES_TLS_KEY={key}", text, flags=re.M)
    env.write_text(text)
    site = render.render(env, tmp_path / "out")["nginx/spaces.conf"]
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    main = prefix / "nginx.conf"
    main.write_text(f"pid {prefix}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{ include {site}; }}\n")
    check = subprocess.run(
        [shutil.which("nginx") or harness.NGINX, "-t", "-p", str(prefix), "-c", str(main)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_the_readme_production_section_uses_deploy(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Production", 1)[1].split("\n## ", 1)[0]
    for step in (
        "deploy/spaces.env.example",
        "deploy/render.py --env /etc/spaces/spaces.env",
        "manage.py migrate",
        "manage.py collectstatic",
        "systemctl enable --now spaces.target",
        "nginx -t",
        "python -m deploy.smoke",
    ):
        assert step in section, step


def test_hls_in_object_storage_renders_the_bucket_variant_or_says_what_is_missing(tmp_path):
    base = EXAMPLE.read_text()

    def site(*lines: str) -> str:
        env = tmp_path / "spaces.env"
        env.write_text(base + "\n".join(lines) + "\n")
        return render.render(env, tmp_path / "out")["nginx/spaces.conf"].read_text()

    disk = site()
    assert "alias /var/lib/spaces/hls/public/$hls_room/$hls_file;" in disk and "spaces_hls_bucket" not in disk
    # MEDIA_STORAGE=s3 brings HLS with it (as the settings do); the bucket's origin, path style.
    bucket = site("MEDIA_STORAGE=s3", "S3_BUCKET=spaces", "S3_ENDPOINT_URL=http://10.0.0.5:9000")
    assert "alias /var/lib/spaces/hls" not in bucket
    assert "server 10.0.0.5:9000 max_fails=0;" in bucket
    assert "proxy_pass http://spaces_hls_bucket/spaces/hls/private/$hls_room/$hls_file;" in bucket
    assert bucket.count('secure_link_md5 "$hls_expires/$hls_listener/$hls_room/ ') == 2
    # Kept on disk although the media are in the bucket.
    assert "alias /var/lib/spaces/hls/" in site("MEDIA_STORAGE=s3", "S3_BUCKET=spaces", "HLS_STORAGE=local")
    # AWS itself: the bucket's own host, over TLS.
    aws = site("HLS_STORAGE=s3", "S3_BUCKET=spaces", "S3_REGION=eu-west-1", "HLS_S3_PREFIX=live/")
    assert "server spaces.s3.eu-west-1.amazonaws.com:443 max_fails=0;" in aws
    assert "proxy_pass https://spaces_hls_bucket/live/public/$hls_room/$hls_file;" in aws
    for lines, message in (
        (("HLS_STORAGE=ftp",), "HLS_STORAGE must be local or s3"),
        (("HLS_STORAGE=s3",), "HLS_STORAGE=s3 needs"),
        (("HLS_STORAGE=s3", "HLS_S3_ORIGIN=ftp://x/"), "HLS_S3_ORIGIN must be"),
        (("HLS_STORAGE=s3", "S3_BUCKET=b", "HLS_S3_PREFIX=/hls/"), "HLS_S3_PREFIX must"),
    ):
        with pytest.raises(render.RenderError, match=message):
            site(*lines)
