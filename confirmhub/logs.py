"""structlog set-up: JSON lines by default, one canonical line per request or message."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

# Keys whose values are secrets wherever they appear; a guard in depth, since code never
# passes raw secrets to the logger on purpose.
_SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "application_token",
        "authorization",
        "secret",
        "password",
        "code",
        "verification_code",
        "api_secret",
    }
)


def _drop_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in _SECRET_KEYS.intersection(event_dict):
        event_dict[key] = "***"
    return event_dict


def _dumps(value: Any, **options: Any) -> str:
    # orjson: a log line per request and per message makes stdlib json a hot spot. It
    # refuses what json takes (an int beyond 64 bits, a non-str key): those go the slow way.
    try:
        return orjson.dumps(value, default=options.get("default")).decode()
    except TypeError:
        return json.dumps(value, **options)


class TurnBufferedLogger:
    """Writes the log lines of one event-loop turn with a single write.

    A write per line cost a tenth of a webhook's CPU time. Lines wait at most for the end of
    the current turn; outside a running loop (start-up, shutdown, other threads) they are
    written at once, and whatever is pending is written at exit.
    """

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self._lines: list[str] = []
        self._scheduled = False
        atexit.register(self.flush)

    def msg(self, message: str) -> None:
        """Queue ``message`` for the end of this turn (or write it now without a loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._lines.append(message)
            self.flush()
            return
        self._lines.append(message)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self.flush)

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = msg

    def flush(self) -> None:
        """Write every pending line."""
        self._scheduled = False
        if not self._lines:
            return
        text = "\n".join(self._lines) + "\n"
        self._lines.clear()
        with contextlib.suppress(ValueError, OSError):  # a closed stream at exit
            self._file.write(text)
            self._file.flush()


def _shared(logger: TurnBufferedLogger) -> Callable[..., TurnBufferedLogger]:
    return lambda *_args: logger


def configure_logging(
    *, log_format: str = "json", level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger once per process (stderr by default;
    lines to stderr are written once per event-loop turn, to ``stream`` one by one)."""
    output = stream or sys.stderr
    numeric_level = logging.getLevelName(level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    renderer: structlog.types.Processor
    if log_format == "console":
        # Plain tracebacks: with rich installed, structlog's default shows each frame's
        # locals, and those hold raw tokens and codes.
        renderer = structlog.dev.ConsoleRenderer(
            colors=output.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    else:
        # Tracebacks as data, but never with frame locals: those hold raw tokens and codes.
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=(
            structlog.PrintLoggerFactory(file=output)
            if stream is not None
            else _shared(TurnBufferedLogger(output))
        ),
        cache_logger_on_first_use=True,
    )
    # Third-party libraries log through stdlib: render their lines the same way, and keep
    # them quiet unless something is wrong.
    handler = logging.StreamHandler(output)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric_level, logging.WARNING))
