"""Progress of long work, reported once and shown wherever the work runs.

A CLI command reports through ``report(done, total, message)`` beside its own tqdm bar; when the command
runs inside the server as a job, the job has set this thread's sink and the report becomes the job's
progress (which the CLI client, the Jobs page and the API show). Without a sink it does nothing.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

Sink = Callable[..., None]
_local = threading.local()


def report(done: int | None = None, total: int | None = None, message: str | None = None) -> None:
    sink = getattr(_local, "sink", None)
    if sink is not None:
        sink(done=done, total=total, message=message)


@contextmanager
def sink(fn: Sink) -> Iterator[None]:
    """Send this thread's progress reports to ``fn(done=, total=, message=)`` inside the block."""
    before = getattr(_local, "sink", None)
    _local.sink = fn
    try:
        yield
    finally:
        _local.sink = before
