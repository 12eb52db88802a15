"""Typed errors: the only exceptions a page or the CLI turns into a message for the user.

Anything else is a bug and keeps its traceback in the log.
"""
from __future__ import annotations


class StudioError(Exception):
    """A failure the user can act on; ``str(err)`` is the one line we show."""

    exit_code = 1  # the CLI exit status: 1 = the work failed, 2 = unusable input

    def __init__(self, message: str, *, file: str | None = None, sheet: str | None = None,
                 row: int | None = None, column: str | None = None, run_id: str | None = None):
        self.message = message
        self.file, self.sheet, self.row, self.column, self.run_id = file, sheet, row, column, run_id
        super().__init__(self._format())

    def _format(self) -> str:
        """"FILE, sheet S, row R, column C: message", in the language of the work in hand."""
        from studio.core.i18n import _

        where = []
        if self.file:
            where.append(str(self.file))
        if self.sheet:
            where.append(_("sheet {sheet}").format(sheet=self.sheet))
        if self.row is not None:
            where.append(_("row {row}").format(row=self.row))
        if self.column:
            where.append(_("column {column}").format(column=self.column))
        if self.run_id:
            where.append(_("run {run}").format(run=self.run_id))
        return _("{where}: {message}").format(where=_(", ").join(where), message=self.message) if where \
            else self.message


class InputError(StudioError):
    """Unusable input: a bad file, a bad mapping, an unknown dataset. CLI exit 2."""

    exit_code = 2


class NotFound(InputError):
    """A dataset, snapshot or run that does not exist."""


class DatabaseLocked(InputError):
    """Another process holds the database file (DuckDB allows one writer per file)."""


class Conflict(StudioError):
    """A row changed since it was shown (row version), or a name already taken."""


class WorkFailed(StudioError):
    """The work itself failed (a trainer crashed, every request failed). CLI exit 1."""
