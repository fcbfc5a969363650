"""A Redis primary, its replica and three Sentinels on loopback ports, each a process of a
`harness.Processes` (stopped with the rest), for the failover tests and bench/redis_failover.py.

The Sentinels call the master down after DOWN_AFTER_MS without an answer (quorum 2 of 3) and promote
the replica; docs/production.md gives the production values.
"""

from __future__ import annotations

import time
from pathlib import Path

import redis

from deploy import harness

MASTER = "spaces"
DOWN_AFTER_MS = 1000


class SentinelSet:
    def __init__(self, processes: harness.Processes, directory: Path, *, master: str = MASTER) -> None:
        self.processes = processes
        self.directory = Path(directory)
        self.master = master
        self.servers = [
            harness.RedisServer(processes, self.directory / "primary", name="redis-primary"),
            harness.RedisServer(processes, self.directory / "replica", name="redis-replica"),
        ]
        self.sentinel_ports = [harness.free_port() for _ in range(3)]

    @property
    def primary(self) -> harness.RedisServer:
        return self.servers[0]

    @property
    def replica(self) -> harness.RedisServer:
        return self.servers[1]

    def env(self, db: int = 0) -> dict[str, str]:
        """The settings of a process that reaches Redis through these Sentinels."""
        return {
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": self.master,
            "REDIS_URL": f"redis://{self.master}/{db}",
        }

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.sentinel_ports[index], socket_timeout=2, decode_responses=True
        )

    def start(self) -> None:
        self.primary.start()
        self.replica.start("--replicaof", "127.0.0.1", str(self.primary.port))
        harness.wait_for(lambda: self._replica_synced(self.replica), 30, "the replica to sync")
        for n, port in enumerate(self.sentinel_ports, start=1):
            directory = self.directory / f"sentinel{n}"
            directory.mkdir(parents=True, exist_ok=True)
            config = directory / "sentinel.conf"  # a Sentinel rewrites its file: one each
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {self.master} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.master} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {self.master} 10000\n"
                f"sentinel parallel-syncs {self.master} 1\n"
            )
            self.processes.start(
                f"sentinel{n}",
                ["redis-server", str(config), "--sentinel"],
                env=harness.base_env(),
                ready=lambda _, port=port: harness.tcp_listening(port),
                timeout=20,
            )
        # Each Sentinel must know the replica and the two others before a failover can be agreed.
        harness.wait_for(self._sentinels_agree, 30, "the Sentinels to find the replica and each other")

    def _replica_synced(self, server: harness.RedisServer) -> bool:
        info = redis.Redis(port=server.port, socket_timeout=1).info("replication")
        return info.get("role") == "slave" and info.get("master_link_status") == "up"

    def _sentinels_agree(self) -> bool:
        for index in range(len(self.sentinel_ports)):
            try:
                state = self.sentinel(index).sentinel_master(self.master)
            except redis.RedisError:
                return False
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True

    def master_port(self) -> int | None:
        """The master's port as the first Sentinel that answers has it."""
        for index in range(len(self.sentinel_ports)):
            try:
                address = self.sentinel(index).sentinel_get_master_addr_by_name(self.master)
            except redis.RedisError:
                continue
            if address:
                return int(address[1])
        return None

    def master_server(self) -> harness.RedisServer:
        port = self.master_port()
        return next(server for server in self.servers if server.port == port)

    def kill_master(self) -> tuple[harness.RedisServer, float]:
        """kill -9 the master; return it and the moment (time.monotonic()) it died."""
        server = self.master_server()
        self.processes.kill(server.name)
        return server, time.monotonic()

    def wait_failover(self, old: harness.RedisServer, timeout: float = 30) -> float:
        """Wait until the Sentinels name another master and it accepts writes; return when."""

        def promoted() -> bool:
            port = self.master_port()
            if port is None or port == old.port:
                return False
            try:
                return redis.Redis(port=port, socket_timeout=1).info("replication")["role"] == "master"
            except redis.RedisError:
                return False

        harness.wait_for(promoted, timeout, "the Sentinels to promote the replica", interval=0.05)
        return time.monotonic()

    def rejoin(self, server: harness.RedisServer, timeout: float = 60) -> None:
        """Start a killed former master again, as a replica of the current one, and wait until it is
        in sync and every Sentinel counts it as a healthy replica (ready for the next failover)."""
        server.start("--replicaof", "127.0.0.1", str(self.master_port()))
        harness.wait_for(lambda: self._replica_synced(server), timeout, "the former master to sync")

        def healthy() -> bool:
            for index in range(len(self.sentinel_ports)):
                try:
                    replicas = self.sentinel(index).sentinel_slaves(self.master)
                except redis.RedisError:
                    return False
                if not any(int(r["port"]) == server.port and not r["is_sdown"] for r in replicas):
                    return False
            return True

        harness.wait_for(healthy, timeout, "the Sentinels to count the former master as a replica")
