"""How the studio's stored English values read on a page: one place, in the catalog's words.

Database values (question types, sample statuses, job and run states, methods) stay English; a page shows
them through ``label(kind, value)``, which returns the glossary's term in the current language. An unknown
value is shown as it is.
"""
from __future__ import annotations

from studio.core.i18n import N_, _

LABELS: dict[str, dict[str, str]] = {
    "qtype": {"single": N_("single choice"), "multi": N_("multiple choice"), "judge": N_("true/false"),
              "blank": N_("fill-in-the-blank"), "open": N_("short answer")},
    "status": {"draft": N_("draft"), "pending": N_("pending"), "accepted": N_("accepted"),
               "rejected": N_("rejected")},
    "state": {"queued": N_("queued"), "running": N_("running"), "done": N_("done"), "failed": N_("failed"),
              "cancelled": N_("cancelled"), "interrupted": N_("interrupted"), "paused": N_("paused"),
              "stalled": N_("stalled"), "cancelling": N_("cancelling"), "finished": N_("done"),
              "stopped": N_("stopped"), "pending": N_("pending"), "starting": N_("starting"),
              "created": N_("created")},
    "method": {"lora": N_("LoRA"), "ptuning": N_("P-Tuning v2"), "prefix": N_("P-Tuning v2"), "qlora": N_("QLoRA")},
    "source": {"import": N_("imported"), "generated": N_("generated"), "converted": N_("converted"),
               "manual": N_("written by hand"), "playground": N_("from the playground"), "cloze": N_("cloze")},
}


def label(kind: str, value) -> str:
    """``value`` of ``kind`` ('qtype', 'status', 'state', 'method', 'source') as a person reads it."""
    text = LABELS.get(kind, {}).get(value)
    return _(text) if text else ("" if value is None else str(value))


def options(kind: str) -> dict[str, str]:
    """Every known value of ``kind`` with its label, in declaration order (for selectboxes)."""
    return {value: _(text) for value, text in LABELS.get(kind, {}).items()}
