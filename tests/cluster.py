"""A private RabbitMQ cluster for the tests (scripts/rabbitmq-cluster), beside the machine's node.

The machine's node is shared with other test sessions and is never stopped: the tests that
stop, kill or restart RabbitMQ do it to nodes of their own, started for this session on
free loopback ports, and removed at its end.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "rabbitmq-cluster"
# Node N listens on PORT+N-1 (AMQP) and PORT+N+9 (Erlang distribution): a block of 20.
_PORT_BLOCK = 20
# Below Linux's ephemeral ports (32768 and up: an outgoing connection's local port there would
# take a restarting node's listener), clear of the machine's node (5672, 15672, 25672).
_PORT_RANGE = range(20000, 25000, _PORT_BLOCK)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_block(size: int = _PORT_BLOCK) -> int:
    """The first of ``size`` consecutive free loopback ports, for a private test server."""
    for _ in range(50):
        base = _PORT_RANGE[uuid.uuid4().int % len(_PORT_RANGE)]
        if all(_free(port) for port in range(base, base + size)):
            return base
    raise RuntimeError("no free block of loopback ports for a private test server")


class RabbitCluster:
    """Nodes 1..``size`` of a private cluster; each call runs scripts/rabbitmq-cluster."""

    def __init__(self, *, size: int, base_dir: Path) -> None:
        self.size = size
        self.name = f"ch{uuid.uuid4().hex[:6]}"
        self.port = free_block()
        self._env = {
            **os.environ,
            "CONFIRMHUB_CLUSTER_NAME": self.name,
            "CONFIRMHUB_CLUSTER_PORT": str(self.port),
            "CONFIRMHUB_CLUSTER_NODES": str(size),
            "CONFIRMHUB_CLUSTER_DIR": str(base_dir / self.name),
        }

    def _run(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [str(SCRIPT), *args],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmq-cluster {' '.join(args)}: {result.stderr[-2000:]}")
        return result.stdout

    def up(self) -> None:
        """Start every node and join them into one cluster."""
        self._run("up")

    def down(self) -> None:
        """Stop every node and remove the data."""
        self._run("down")

    def kill(self, node: int) -> None:
        """SIGKILL one node's Erlang VM."""
        self._run("kill", str(node))

    def stop(self, node: int) -> None:
        """Stop one node gracefully."""
        self._run("stop", str(node))

    def start(self, node: int) -> None:
        """Start one node again and wait until it has booted (it rejoins the cluster)."""
        self._run("start", str(node))

    def ctl(self, node: int, *args: str) -> str:
        """``rabbitmqctl ARGS`` against one node; its output."""
        return self._run("ctl", str(node), *args)

    def amqp_port(self, node: int) -> int:
        """The AMQP port of a node."""
        return self.port + node - 1

    def node_of(self, host_port: str) -> int:
        """The node listening at ``host:port``."""
        return int(host_port.rsplit(":", 1)[1]) - self.port + 1

    def node_named(self, erlang_name: str) -> int:
        """The node with this Erlang node name (``<cluster>-N@localhost``)."""
        return int(erlang_name.split("@", 1)[0].rsplit("-", 1)[1])

    def add_vhost(self, vhost: str) -> None:
        """A vhost with every permission for guest."""
        self.ctl(1, "add_vhost", vhost)
        self.ctl(1, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

    def add_user(self, user: str, password: str, vhost: str) -> None:
        """A user with every permission on ``vhost`` (users are cluster-wide)."""
        self.ctl(1, "add_user", user, password)
        self.ctl(1, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")

    def url(self, node: int, vhost: str, user: str, password: str) -> str:
        """One node's AMQP URL."""
        return (
            f"amqp://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@127.0.0.1:{self.amqp_port(node)}/{quote(vhost, safe='')}"
        )

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        """Each queue's name and leader, as the first node that answers lists them."""
        for node in range(1, self.size + 1):
            try:
                listed = self.ctl(
                    node, "list_queues", "-p", vhost, "name", "leader", "--formatter", "json"
                )
            except RuntimeError:
                continue  # that node is down: ask another
            found: list[dict[str, Any]] = json.loads(listed)
            return found
        raise RuntimeError("no node of the cluster answers")

    def leader(self, queue: str, vhost: str) -> int:
        """The node leading a quorum queue."""
        [entry] = [q for q in self.queues(vhost) if q["name"] == queue]
        return self.node_named(entry["leader"])
