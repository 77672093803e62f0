"""Acknowledging deliveries in bulk: one ``basic.ack multiple`` for a run of settled tags."""

from __future__ import annotations

import asyncio
import weakref

import aiormq
import structlog
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

log = structlog.get_logger("confirmhub.worker")

# How long a settled delivery may wait for an earlier one still in progress (an SMS being
# sent, say) before it is acknowledged on its own: held longer, it would keep a slot of the
# prefetch from the deliveries behind it.
HOLD_SECONDS = 0.05


class ChannelAcks:
    """The acknowledgements of one channel, sent in bulk.

    A channel numbers its deliveries 1, 2, 3, … in order, whichever queue they come from.
    ``ack`` records a delivery as done; at the end of the event loop's turn every run of
    done tags from the last one acknowledged is acknowledged by one ``basic.ack`` with
    ``multiple`` on its highest tag, so a batch of deliveries settled together costs one
    frame. A tag not yet seen (its delivery still in flight) is never done, so a multiple
    ack never covers a delivery still being processed. Done tags above such a gap are
    acknowledged one by one after ``HOLD_SECONDS``. A delivery settled otherwise (nacked,
    by ``settled``) counts as done without an ack of its own.
    """

    def __init__(self, channel: aiormq.abc.AbstractChannel) -> None:
        self._channel = channel
        self._acked_upto = 0
        # Tag → whether it still needs an ack (False: already settled on its own).
        self._done: dict[int, bool] = {}
        self._flush_scheduled = False
        self._hold_timer: asyncio.TimerHandle | None = None
        # Acks to write, in order, and the one task writing them.
        self._unsent: list[tuple[int, bool]] = []
        self._sender: asyncio.Task[None] | None = None

    def ack(self, tag: int) -> None:
        """Acknowledge ``tag`` at the end of this turn of the loop, with its neighbours."""
        self._done[tag] = True
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def settled(self, tag: int) -> None:
        """Record that ``tag`` was settled on its own (nacked): a gap no longer."""
        self._done[tag] = False
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def wait_sent(self) -> None:
        """Wait until every acknowledgement recorded so far has been handed to the socket."""
        self._flush()
        self._ack_held()
        if self._sender is not None:
            await asyncio.wait([self._sender])

    def _flush(self) -> None:
        self._flush_scheduled = False
        highest_pending = 0
        tag = self._acked_upto + 1
        while tag in self._done:
            if self._done.pop(tag):
                highest_pending = tag
            tag += 1
        self._acked_upto = tag - 1
        if highest_pending:
            self._send(highest_pending, multiple=True)
        if self._done and self._hold_timer is None:
            self._hold_timer = asyncio.get_running_loop().call_later(HOLD_SECONDS, self._ack_held)

    def _ack_held(self) -> None:
        """Acknowledge one by one the done tags still waiting above a gap."""
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        for tag, pending in list(self._done.items()):
            if pending:
                self._done[tag] = False
                self._send(tag, multiple=False)

    def _send(self, tag: int, *, multiple: bool) -> None:
        # One sender, in order: aiormq's bounded frame queue lets a later writer overtake one
        # waiting for room, and a multiple ack overtaking a single one of a tag below it
        # would make that one an unknown tag (a channel error).
        self._unsent.append((tag, multiple))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._write_all())

    async def _write_all(self) -> None:
        while self._unsent:
            tag, multiple = self._unsent.pop(0)
            try:
                await self._channel.basic_ack(tag, multiple=multiple, wait=False)
            except CONNECTION_EXCEPTIONS as exc:
                # The channel is gone: the broker delivers these messages again on the next.
                self._unsent.clear()
                log.warning("message.settle_lost", error=type(exc).__name__, redelivered_later=True)


_BY_CHANNEL: weakref.WeakKeyDictionary[aiormq.abc.AbstractChannel, ChannelAcks] = (
    weakref.WeakKeyDictionary()
)


def acks_of(channel: aiormq.abc.AbstractChannel) -> ChannelAcks:
    """The one ``ChannelAcks`` of ``channel`` (every consumer on it must share it)."""
    acks = _BY_CHANNEL.get(channel)
    if acks is None:
        acks = _BY_CHANNEL[channel] = ChannelAcks(channel)
    return acks
