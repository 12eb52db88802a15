"""What a CLI command prints, captured per thread when the command runs inside the server.

The server installs one router on ``sys.stdout`` / ``sys.stderr``; a thread inside ``captured()`` has its
own buffers, every other thread (uvicorn, Streamlit, the supervisor) writes through to the real streams.
"""
from __future__ import annotations

import io
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

_local = threading.local()
_install_lock = threading.Lock()


class _Router(io.TextIOBase):
    def __init__(self, real, which: str):
        self.real, self.which = real, which

    def _target(self):
        bufs = getattr(_local, "buffers", None)
        return bufs[self.which] if bufs else self.real

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self):
        return "utf-8"

    def fileno(self):
        return self.real.fileno()


def install() -> None:
    with _install_lock:
        if not isinstance(sys.stdout, _Router):
            sys.stdout = _Router(sys.stdout, "out")
        if not isinstance(sys.stderr, _Router):
            sys.stderr = _Router(sys.stderr, "err")


@contextmanager
def captured() -> Iterator[dict[str, io.StringIO]]:
    """This thread's prints go to ``{"out": StringIO, "err": StringIO}`` inside the block."""
    install()
    before = getattr(_local, "buffers", None)
    bufs = _local.buffers = {"out": io.StringIO(), "err": io.StringIO()}
    try:
        yield bufs
    finally:
        _local.buffers = before


def printable(text: str) -> str:
    """Captured stderr without progress-bar redraws (lines a terminal would have overwritten)."""
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            line = line.rsplit("\r", 1)[-1]
            if not line.strip():
                continue
        lines.append(line)
    return "\n".join(lines)
