"""What the receiver and the worker share: settings, logging, the database and the broker."""

__version__ = "0.1.0"
