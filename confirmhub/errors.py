"""Errors shared by the receiver and the worker.

ConfirmhubError
└── ServiceUnavailable        a dependency is down; the caller should retry later
    ├── BrokerUnavailable     RabbitMQ cannot be reached
    ├── DatabaseUnavailable   the database cannot be reached or is not migrated
    └── PublishFailed         the broker did not confirm a message in time
"""

from __future__ import annotations


class ConfirmhubError(Exception):
    """Root of every error confirmhub raises on purpose."""


class ServiceUnavailable(ConfirmhubError):
    """A dependency is down; retrying later may succeed."""


class BrokerUnavailable(ServiceUnavailable):
    """RabbitMQ cannot be reached."""


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached, or its schema is not current."""


class PublishFailed(ServiceUnavailable):
    """The broker nacked, returned or did not confirm a message in time."""
