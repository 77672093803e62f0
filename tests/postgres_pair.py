"""A private PostgreSQL primary and streaming standby for the tests (scripts/postgres-pair).

The machine's PostgreSQL is shared with other test sessions and is never stopped: the
failover test promotes a standby of a pair of its own, and the outage test stops a pair of its
own, each on free loopback ports and removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from confirmhub.db.migrate import upgrade_to_head
from tests import services
from tests.cluster import free_block

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres-pair"


class PostgresPair:
    """A primary on ``port`` and its standby on ``port + 1``; each call runs the script."""

    def __init__(self) -> None:
        self.port = free_block(2)
        # Not under pytest's temporary directory: the servers run as postgres, which cannot
        # enter root's private directories.
        base = Path(tempfile.gettempdir())
        self._env = {
            **os.environ,
            "CONFIRMHUB_PG_PAIR_PORT": str(self.port),
            "CONFIRMHUB_PG_PAIR_DIR": str(base / f"postgres-pair-{uuid.uuid4().hex[:8]}"),
            "CONFIRMHUB_PG_PAIR_DB": "confirmhub",
        }
        self.url = ""

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [str(SCRIPT), *args], env=self._env, capture_output=True, text=True, timeout=180
        )
        if result.returncode != 0:
            raise RuntimeError(f"postgres-pair {' '.join(args)}: {result.stderr[-2000:]}")
        return result.stdout.strip()

    def start(self) -> None:
        """Start the primary and the standby; ``url`` then lists both."""
        self.url = self._run("start")

    def promote(self) -> None:
        """Fail over: stop the primary, promote the standby."""
        self._run("promote")

    def halt(self) -> None:
        """Stop both servers, keeping their data: ``start`` resumes them."""
        self._run("halt")

    def stop(self) -> None:
        """Stop both servers and remove their data."""
        self._run("stop")

    def server_url(self, which: int) -> str:
        """The URL of one server alone: 0 the first primary, 1 the standby."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port + which}/confirmhub"


@contextlib.contextmanager
def running_pair() -> Iterator[PostgresPair]:
    """A new pair, started and migrated for the block, removed after it."""
    pair = PostgresPair()
    try:
        pair.start()
        services.off_loop(upgrade_to_head, pair.url)
        yield pair
    finally:
        pair.stop()
