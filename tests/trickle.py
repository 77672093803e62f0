"""Thousands of clients sending a request one byte a second: ``python -m tests.trickle``.

Run as its own process so its event loop is not the test's. Opens ``count`` connections
to ``host:port``, each sending the next byte of a request head once a second from its first
byte on, until the server has cut them all off (or ``duration`` has passed). With
``--replace``, a connection the server closes is replaced at once, so the server faces
``count`` tricklers for all of ``duration`` (and as many new connections a second as it cuts
off: a connection flood as much as slow clients). Prints ``ready`` once nearly
``count`` are connected, then, at the end, a JSON summary: how long each cut-off connection
had lived (from its connect to the server's close) and how many still open had lived
longer than ``limit`` seconds.
"""

from __future__ import annotations

import argparse
import errno
import json
import resource
import selectors
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass

HEAD = b"POST /webhooks/mcn/password-call HTTP/1.1\r\nHost: receiver\r\nX-Trickle: " + b"a" * 64


@dataclass(slots=True)
class Trickler:
    """One slow client."""

    sock: socket.socket
    # When it began connecting: the server's clock for it starts no earlier.
    opened_at: float
    first_byte_at: float | None = None
    sent: int = 0
    answered: bool = False


def raise_fd_limit(needed: int) -> None:
    """Lift the soft open-files limit to what ``needed`` sockets take, within the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


class Swarm:
    """``count`` tricklers, replaced as the server cuts them off if so asked."""

    def __init__(self, address: tuple[str, int], count: int, rate: float, *, replace: bool) -> None:
        self._address = address
        self._count = count
        self._replace = replace
        # Connections are opened at a steady rate (first ones and replacements alike):
        # opened all at once, they would also all be cut off at once, in waves.
        self._rate = rate
        self._credit = 0.0
        self._credited_at = time.monotonic()
        self._selector = selectors.DefaultSelector()
        self._live: dict[int, Trickler] = {}
        # Tricklers by when their next byte is due: each is due a second after its last, so
        # appending keeps the queue in order, and the sends spread over each second as the
        # connections did rather than landing on the server all at once.
        self._due: deque[tuple[float, Trickler]] = deque()
        self.opened = 0
        self.failed = 0
        self.lifetimes: list[float] = []
        self.answered_408 = 0

    def top_up(self) -> None:
        """Open new connections, at most ``rate`` a second, until ``count`` are live (or,
        without replacing, until ``count`` were opened)."""
        wanted = self._count - (len(self._live) if self._replace else self.opened)
        now = time.monotonic()
        # A token bucket holding a tenth of a second's worth: no bursts after a lull.
        self._credit = min(self._rate / 10, self._credit + (now - self._credited_at) * self._rate)
        self._credited_at = now
        for _ in range(min(int(self._credit), wanted)):
            self._credit -= 1
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            # Taken before connecting: the server may accept (and start its clock) before
            # this process, at the lowest priority, runs again.
            opened_at = time.monotonic()
            code = sock.connect_ex(self._address)
            if code not in (0, errno.EINPROGRESS):
                sock.close()
                self.failed += 1
                continue
            self._live[sock.fileno()] = Trickler(sock, opened_at)
            self._selector.register(sock, selectors.EVENT_WRITE)
            self.opened += 1

    @property
    def live(self) -> int:
        """Connections open (or opening)."""
        return len(self._live)

    @property
    def connected(self) -> int:
        """Connections that have sent their first byte."""
        return sum(1 for t in self._live.values() if t.first_byte_at is not None)

    def trickle(self) -> None:
        """Send the next byte of every trickler whose second is up."""
        now = time.monotonic()
        while self._due and self._due[0][0] <= now:
            due, trickler = self._due.popleft()
            if trickler.sock.fileno() == -1:
                continue  # cut off meanwhile
            self._send_byte(trickler)
            self._due.append((due + 1.0, trickler))

    def poll(self, timeout: float) -> None:
        """Handle connects completing and servers answering or closing."""
        for key, events in self._selector.select(timeout):
            trickler = self._live.get(key.fd)
            if trickler is None:
                continue
            if events & selectors.EVENT_WRITE and trickler.first_byte_at is None:
                if trickler.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    self._drop(trickler, cut=False)
                    self.failed += 1
                    continue
                self._selector.modify(trickler.sock, selectors.EVENT_READ)
                trickler.first_byte_at = time.monotonic()
                self._send_byte(trickler)
                self._due.append((trickler.first_byte_at + 1.0, trickler))
            elif events & selectors.EVENT_READ:
                self._read(trickler)

    def overdue(self, limit: float) -> int:
        """Live connections that have been trickling for longer than ``limit`` seconds."""
        now = time.monotonic()
        return sum(
            1
            for t in self._live.values()
            if t.first_byte_at is not None and now - t.opened_at > limit
        )

    def close(self) -> None:
        """Close every connection left."""
        for trickler in list(self._live.values()):
            self._drop(trickler, cut=False)
        self._selector.close()

    def _send_byte(self, trickler: Trickler) -> None:
        byte = HEAD[trickler.sent % len(HEAD) : trickler.sent % len(HEAD) + 1]
        try:
            trickler.sock.send(byte)
        except BlockingIOError:
            return
        except OSError:
            self._drop(trickler, cut=True)
            return
        trickler.sent += 1

    def _read(self, trickler: Trickler) -> None:
        try:
            data = trickler.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            if data.startswith(b"HTTP/1.1 408 ") and not trickler.answered:
                trickler.answered = True
                self.answered_408 += 1
            return
        self._drop(trickler, cut=True)

    def _drop(self, trickler: Trickler, *, cut: bool) -> None:
        if cut and trickler.first_byte_at is not None:
            self.lifetimes.append(time.monotonic() - trickler.opened_at)
        self._live.pop(trickler.sock.fileno(), None)
        self._selector.unregister(trickler.sock)
        trickler.sock.close()


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def run(
    host: str, port: int, count: int, duration: float, limit: float, rate: float, *, replace: bool
) -> dict[str, object]:
    """Trickle for ``duration`` seconds (without replacing: until all are cut off); the
    summary."""
    raise_fd_limit(count)
    swarm = Swarm((host, port), count, rate, replace=replace)
    started = time.monotonic()
    ready = False
    next_check = started + 1.0
    overdue = 0
    while time.monotonic() - started < duration:
        swarm.top_up()
        swarm.poll(0.01)
        swarm.trickle()
        if time.monotonic() >= next_check:
            next_check += 1.0
            overdue = max(overdue, swarm.overdue(limit))
        if not ready and swarm.connected >= count * 0.95:
            ready = True
            print("ready", flush=True)
        if not replace and swarm.opened >= count and not swarm.live:
            break
    overdue = max(overdue, swarm.overdue(limit))
    live = swarm.connected
    swarm.close()
    return {
        "opened": swarm.opened,
        "failed": swarm.failed,
        "cut": len(swarm.lifetimes),
        "answered_408": swarm.answered_408,
        "live_at_end": live,
        "overdue": overdue,
        "lifetime_min": _quantile(swarm.lifetimes, 0.0),
        "lifetime_p50": _quantile(swarm.lifetimes, 0.5),
        "lifetime_p99": _quantile(swarm.lifetimes, 0.99),
        "lifetime_max": _quantile(swarm.lifetimes, 1.0),
    }


def main() -> None:
    """Command line: host, port, count, duration, limit, rate."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--limit", type=float, required=True)
    parser.add_argument("--rate", type=float, default=2000.0, help="connections opened a second")
    parser.add_argument(
        "--replace", action="store_true", help="replace each connection cut off at once"
    )
    args = parser.parse_args()
    summary = run(
        args.host,
        args.port,
        args.count,
        args.duration,
        args.limit,
        args.rate,
        replace=args.replace,
    )
    print(json.dumps(summary), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
