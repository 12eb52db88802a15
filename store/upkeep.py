"""Checkpoints off the write path.

DuckDB folds its write-ahead log into the database file (a checkpoint) at the commit that finds the log
past ``checkpoint_threshold`` (16 MB as DuckDB comes). That commit pays for rewriting every row group the
log touched: at 10,000,000 samples a bulk status change of 100,000 rows took 632 ms, 344 of them in that
checkpoint, and its undo as long again. The studio raises the threshold to ``CEILING`` (only a log that big
makes a commit checkpoint) and checkpoints itself from a background thread when the log is past
``SMALL_LOG`` and the database has been quiet for ``QUIET_S`` seconds, or as soon as the log is past
``LARGE_LOG``, between two writes. It holds the write lock meanwhile, so no write of this process runs
during a checkpoint (one that comes waits for it, as it waited for a commit's checkpoint before). A clean
close checkpoints as before; after a crash DuckDB replays the log, which stays bounded by the ceiling.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from pathlib import Path

CEILING = "1GB"                 # DuckDB's own threshold: a commit checkpoints only past this
SMALL_LOG = 16 * 2**20          # checkpoint a log this big once the database is quiet (DuckDB's default)
LARGE_LOG = 256 * 2**20         # ... and one this big at once, between two writes
QUIET_S = 3.0                   # quiet: no write has ended for this long
POLL_S = 1.0
EXIT_WAIT_S = 30.0

_stop = threading.Event()
_watched: dict[str, threading.Thread] = {}
_guard = threading.Lock()


def configure(con) -> None:
    """Settings for a newly opened database (the threshold is the database's, not the connection's)."""
    con.execute(f"SET checkpoint_threshold = '{CEILING}'")


def watch(key: str) -> None:
    """Checkpoint ``key`` (a database file this process holds open) in the background from now on."""
    with _guard:
        if key in _watched:   # its thread leaves the table under the same guard, and only once the file is closed
            return
        thread = threading.Thread(target=_loop, args=(key,), name=f"checkpoints {Path(key).name}", daemon=True)
        _watched[key] = thread
        thread.start()


def log_size(key: str) -> int:
    """Bytes in the database's write-ahead log (0 when there is none)."""
    try:
        return Path(key + ".wal").stat().st_size
    except OSError:
        return 0


def due(size: int, quiet_for: float) -> bool:
    """Whether a log of ``size`` bytes, the database quiet for ``quiet_for`` seconds, calls for a checkpoint."""
    return size >= LARGE_LOG or (size >= SMALL_LOG and quiet_for >= QUIET_S)


def _loop(key: str) -> None:
    from store import db, read_cache

    while not _stop.wait(POLL_S):
        if db.open_connection(key) is None:
            with _guard:
                if db.open_connection(key) is None:   # closed for good: a reopen (connect, then watch) starts a new thread
                    _watched.pop(key, None)
                    return
            continue
        if not due(log_size(key), time.monotonic() - read_cache.last_change(key)):
            continue
        with db.write_lock(key):
            con = db.open_connection(key)
            if _stop.is_set():
                return
            if con is not None and due(log_size(key), time.monotonic() - read_cache.last_change(key)):
                try:
                    con.cursor().execute("CHECKPOINT")
                except Exception as err:  # noqa: BLE001 - it runs again at the next chance, or at close
                    logging.getLogger(__name__).warning("checkpoint of %s put off: %s", key, err)


@atexit.register
def _stop_all() -> None:
    """At exit: no new checkpoint starts, and one under way finishes before the interpreter goes (waiting
    at most ``EXIT_WAIT_S`` for a write lock another thread still holds)."""
    _stop.set()
    from store import db

    for key in list(_watched):
        lock = db.write_lock(key)
        if lock.acquire(timeout=EXIT_WAIT_S):
            lock.release()
