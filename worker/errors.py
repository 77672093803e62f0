"""What can go wrong with one inbound message, and what to do about it.

WorkerError
├── RetryLater      transient (database or broker down): requeue and try again
├── PoisonMessage   can never succeed (undecodable, invalid): dead-letter with the reason
└── SplitMessage    a message of several CDRs failed: requeue each as its own message
"""

from __future__ import annotations


class WorkerError(Exception):
    """Root of the worker's errors; each subclass names its acknowledgement policy."""


class RetryLater(WorkerError):
    """A transient failure: the message goes back to the queue for another attempt."""


class PoisonMessage(WorkerError):
    """The message can never be processed: it is dead-lettered with ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class SplitMessage(WorkerError):
    """A message holding several items failed: each item is queued again as its own message,
    so that only the one at fault is retried or dead-lettered; the others are duplicates by
    then, or succeed."""

    def __init__(self, parts: list[bytes]) -> None:
        super().__init__(f"split into {len(parts)} messages")
        self.parts = parts
