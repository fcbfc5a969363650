"""HLS in object storage for the tests (HLS_STORAGE=s3): the settings that point at the tests' S3 server,
a watcher that reads a room's playlist from the bucket as a listener would and checks every file it
names is there, and a TCP proxy in front of the server that can stop answering (a slow store)."""

from __future__ import annotations

import socket
import threading
import time

from rooms.audio import hls

from .s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server


def use_bucket(settings, server: S3Server, bucket: str, *, endpoint: str | None = None) -> None:
    """HLS_STORAGE=s3 for one test, in `bucket` on `server` (or through `endpoint` in front of it)."""
    settings.HLS_STORAGE = "s3"
    settings.HLS_S3_BUCKET = bucket
    settings.HLS_S3_PREFIX = "hls/"
    settings.S3_ENDPOINT_URL = endpoint or server.endpoint
    settings.S3_REGION = REGION
    settings.S3_ACCESS_KEY_ID = ACCESS_KEY
    settings.S3_SECRET_ACCESS_KEY = SECRET_KEY


def hls_environment(server: S3Server, bucket: str) -> dict[str, str]:
    """The environment a process the test starts needs to write HLS to `bucket`."""
    return {**server.environment(bucket), "HLS_STORAGE": "s3", "HLS_S3_BUCKET": bucket}


class PlaylistWatcher(threading.Thread):
    """Reads `prefix`'s playlist over and over, as listeners do, and notes every time it named a
    file the bucket did not have when asked right after."""

    def __init__(self, server: S3Server, bucket: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.client, self.bucket, self.prefix = server.client(), bucket, prefix
        self.stopping = threading.Event()
        self.playlists: list[str] = []
        self.missing: list[tuple[str, str]] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                text = self.client.get_object(Bucket=self.bucket, Key=self.prefix + hls.PLAYLIST)[
                    "Body"
                ].read()
            except self.client.exceptions.NoSuchKey:
                time.sleep(0.02)
                continue
            text = text.decode()
            if not self.playlists or self.playlists[-1] != text:
                self.playlists.append(text)
            playlist = hls.parse_playlist(text)
            names = {entry.uri for entry in playlist.entries} | {entry.init for entry in playlist.entries}
            for name in sorted(names):
                try:
                    self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
                except self.client.exceptions.ClientError:
                    self.missing.append((name, text))
            time.sleep(0.02)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


class PausableProxy:
    """A TCP proxy on 127.0.0.1 to `port`: while paused it takes requests and never answers them (what
    arrives meanwhile is lost, as with a store that hangs), while new connections wait to be served."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.running = threading.Event()
        self.running.set()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def pause(self) -> None:
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def close(self) -> None:
        self.closed = True
        self.running.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not self.closed:
                data = source.recv(65536)
                if not data:
                    break
                if not self.running.is_set():
                    continue
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
