"""The numeric settings of evaluation, each with a sane range, checked where the work is defined.

The functions that do the work (decode settings, exam evaluation, prompt sets from an exam, the judge's
scale) call ``check``, so a page, the CLI and the API refuse the same values with the same InputError
(CLI exit 2). A page asks ``problem`` while the value is on screen: it shows the reason and keeps its
start button disabled until the value is back in range.

    >>> MAX_NEW_TOKENS.problem(0)
    'Max new tokens must be a whole number from 1 to 4096, not 0'
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from studio.core.errors import InputError
from studio.core.i18n import N_, _


@dataclass(frozen=True)
class Limit:
    """A numeric setting: how a person names it, its lowest and highest value, whole or not."""
    name: str            # marked with N_: translated where shown
    low: float
    high: float
    whole: bool = True

    def _parse(self, value) -> float | None:
        if isinstance(value, bool):
            return None
        try:
            number = float(str(value).strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            return None
        if math.isnan(number) or math.isinf(number) or (self.whole and number != int(number)):
            return None
        return number

    def problem(self, value, *, flag: str | None = None) -> str | None:
        """Why ``value`` is refused, in the user's words (naming ``flag`` when the CLI gave it); None if fine."""
        number = self._parse(value)
        if number is not None and self.low <= number <= self.high:
            return None
        setting = _(self.name) if not flag else _("{setting} ({flag})").format(setting=_(self.name), flag=flag)
        low, high = _show(self.low), _show(self.high)
        if self.whole:
            text = _("{setting} must be a whole number from {low} to {high}, not {value}")
        else:
            text = _("{setting} must be a number from {low} to {high}, not {value}")
        return text.format(setting=setting, low=low, high=high, value=_show(value))

    def check(self, value, *, flag: str | None = None):
        """``value`` as a number (int when whole); InputError naming the setting and its range otherwise."""
        reason = self.problem(value, flag=flag)
        if reason:
            raise InputError(reason)
        number = self._parse(value)
        return int(number) if self.whole else number


def _show(value) -> str:
    """A value as the user gave it: ``4096``, ``1e12``, ``1.5``; text that is no number quoted: ``'abc'``."""
    if isinstance(value, str):
        text = value.strip()
        try:
            float(text)
        except ValueError:
            return repr(text)
        return text
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return str(value)


MAX_NEW_TOKENS = Limit(N_("Max new tokens"), 1, 4096)
SEED = Limit(N_("Seed"), 0, 2 ** 32 - 1)
BATCH_SIZE = Limit(N_("Batch size"), 1, 512)
SHUFFLES = Limit(N_("Option shuffles"), 0, 20)
QUESTIONS = Limit(N_("First N questions"), 0, 1_000_000)   # 0: all of them
JUDGE_SCALE = Limit(N_("Score scale"), 1, 100, whole=False)
CONCURRENCY = Limit(N_("Requests in flight"), 1, 64)       # API systems and the judge


def problems(*checks: tuple[Limit, object]) -> list[str]:
    """The reasons of every (limit, value) pair that is out of range, in order (for a page's start button)."""
    return [reason for limit, value in checks if (reason := limit.problem(value))]
