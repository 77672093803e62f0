"""PHP itself as a test oracle: its ``http_build_query`` and ``parse_str`` in one ``php`` process.

Bitrix24 is PHP and builds its form bodies with ``http_build_query``; ``parse_str`` (the code
behind ``$_POST``) is what PHP reads back from them. :class:`Php` starts ``php`` once
(``php_oracle.php``) and sends it one case per line, so a property test can afford thousands.
``php`` is not optional: without it the tests that need it fail, naming the fix.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_ORACLE = Path(__file__).with_name("php_oracle.php")
INSTALL_HINT = "scripts/ensure-services php (apt-get install php-cli)"


class PhpMissing(RuntimeError):
    """``php`` is not on PATH."""


@dataclass(frozen=True, slots=True)
class PhpValue:
    """What ``parse_str`` read, exactly: strings as bytes, arrays as ordered (key, value)
    pairs with integer keys as ``int`` — nothing json_encode would blur."""

    value: bytes | tuple[tuple[int | bytes, PhpValue], ...]

    @classmethod
    def from_tagged(cls, tagged: Any) -> PhpValue:
        """Decode ``php_oracle.php``'s tagged form."""
        if isinstance(tagged, str):
            return cls(base64.b64decode(tagged))
        return cls(
            tuple(
                (key if isinstance(key, int) else base64.b64decode(key), cls.from_tagged(child))
                for key, child in tagged["array"]
            )
        )

    def is_text(self) -> bool:
        """Whether every key and string is valid UTF-8."""
        if isinstance(self.value, bytes):
            return _is_utf8(self.value)
        return all(
            (isinstance(key, int) or _is_utf8(key)) and child.is_text() for key, child in self.value
        )

    def as_json(self) -> Any:
        """The value as ``json_encode`` gives it: an array whose keys are exactly the
        integers 0..n-1 in order is a list, any other an object (keys as strings)."""
        if isinstance(self.value, bytes):
            return self.value.decode()
        keys = [key for key, _ in self.value]
        if keys == list(range(len(keys))):
            return [child.as_json() for _, child in self.value]
        return self.as_object()

    def as_object(self) -> dict[str, Any]:
        """An array as a JSON object even where ``json_encode`` would give a list."""
        assert not isinstance(self.value, bytes)
        return {
            str(key) if isinstance(key, int) else key.decode(): child.as_json()
            for key, child in self.value
        }


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PhpReading:
    """``parse_str``'s result and the warnings PHP raised while parsing."""

    read: PhpValue
    warnings: tuple[str, ...]

    @property
    def nesting_exceeded(self) -> bool:
        """PHP met a key nested deeper than ``max_input_nesting_level`` and dropped it."""
        return any("nesting level exceeded" in warning for warning in self.warnings)


class Php:
    """A long-lived ``php`` running ``php_oracle.php``, with the given ini settings."""

    def __init__(self, ini: Mapping[str, str | int] | None = None) -> None:
        executable = shutil.which("php")
        if executable is None:
            raise PhpMissing(f"php is not on PATH; install it: {INSTALL_HINT}")
        # -n: PHP's built-in defaults, not whatever php.ini this machine has. Warnings go to
        # our handler, which needs display_errors off to see the nesting one at all.
        settings = {"display_errors": "0", "log_errors": "0", "error_reporting": "-1"}
        settings.update({name: str(value) for name, value in (ini or {}).items()})
        argv = [executable, "-n"]
        for name, value in settings.items():
            argv += ["-d", f"{name}={value}"]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._process = subprocess.Popen(
            [*argv, str(_ORACLE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(orjson.dumps(request) + b"\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise RuntimeError(f"php exited: {self._stderr.read().decode(errors='replace')}")
        answer: dict[str, Any] = orjson.loads(line)
        if "error" in answer:
            raise RuntimeError(f"php_oracle.php: {answer['error']}")
        return answer

    @staticmethod
    def _reading(answer: dict[str, Any]) -> PhpReading:
        return PhpReading(PhpValue.from_tagged(answer["read"]), tuple(answer["warnings"]))

    def build_and_read(self, value: Any) -> tuple[bytes, PhpReading]:
        """``http_build_query(value)`` (``value`` as ``json_decode`` gives it to PHP), and
        what ``parse_str`` reads from that body."""
        answer = self._ask({"build": value})
        return base64.b64decode(answer["body"]), self._reading(answer)

    def read(self, body: bytes) -> PhpReading:
        """What ``parse_str`` reads from ``body``."""
        return self._reading(self._ask({"parse": base64.b64encode(body).decode()}))

    def close(self) -> None:
        """End the process (it exits when its stdin closes)."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()
