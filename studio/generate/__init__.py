"""Generation of samples from a corpus: LLM strategies (qa, exam, self-instruct) and offline cloze.

Pages and the CLI call these functions. The batch runner is :mod:`studio.generate.runner`; it hands
each passage to a strategy's handler in :mod:`studio.generate.strategies`, which asks the model through
:mod:`studio.generate.caller` (retries, rate limit, cost). Templates are :mod:`studio.generate.prompting`,
a batch started from a page runs as a job of the server (:mod:`studio.service.batches`).
"""
from __future__ import annotations

from studio.core.i18n import N_, _
from studio.generate.prompting import BUILTIN, DEFAULT_FOR, STRATEGIES
from studio.generate.runner import LIMITS, Options, option_problems, run

__all__ = ["Options", "run", "STRATEGIES", "templates", "template", "save_template", "preview", "batches",
           "batch", "batches_table", "batches_chart", "BATCH_COLUMNS", "request_stop", "requests", "failures",
           "DEFAULT_FOR", "LIMITS", "option_problems", "strategy_label", "state_label", "step_label",
           "status_label"]

# the strategies, steps and batch states as people read them (the stored values stay English)
STRATEGY_LABELS = {"qa": N_("Q&A from passages"), "exam": N_("Exam questions"),
                   "self-instruct": N_("Self-instruct"), "cloze": N_("Cloze (offline)")}
STEP_LABELS = {"questions": N_("questions"), "answers": N_("answers"), "exam": N_("exam questions"),
               "pairs": N_("instruction pairs")}
_MORE_STATES = {"pending": N_("not started"), "stopped": N_("stopped")}  # batch states labels.py lacks
REQUEST_STATUS = {"ok": N_("answered"), "failed": N_("failed"), "unparsed": N_("unreadable reply"),
                  "empty": N_("nothing to ask")}


def strategy_label(strategy: str) -> str:
    return _(STRATEGY_LABELS[strategy]) if strategy in STRATEGY_LABELS else str(strategy)


def step_label(step: str) -> str:
    """A template step's name as people read it (a step named by the user stays as written)."""
    return _(STEP_LABELS[step]) if step in STEP_LABELS else str(step)


def state_label(state: str) -> str:
    """A batch state in the reader's language."""
    from studio.core.labels import LABELS, label

    if state not in LABELS["state"] and state in _MORE_STATES:
        return _(_MORE_STATES[state])
    return label("state", state)


def status_label(status: str) -> str:
    """A request's or a passage's status (ok, failed, unparsed, empty) in the reader's language."""
    return _(REQUEST_STATUS[status]) if status in REQUEST_STATUS else str(status)


def templates(strategy: str | None = None) -> list[dict]:
    """The generation templates (built-ins written on first use), optionally of one strategy."""
    from store import generation as store

    store.ensure_templates(BUILTIN)
    found = store.templates()
    return [t for t in found if strategy is None or t["body"].get("strategy") == strategy]


def template(name: str) -> dict:
    from store import generation as store
    from studio.core.errors import NotFound

    store.ensure_templates(BUILTIN)
    found = store.template(name)
    if found is None:
        raise NotFound(_("no generation template named {name}").format(name=repr(name)))
    return found


def save_template(name: str, body: dict, version: int | None = None) -> int:
    """Save (create or update) a template after checking it; ``version`` guards against lost edits."""
    from store import db
    from store import generation as store
    from studio.core.errors import InputError
    from studio.generate.prompting import validate

    name = (name or "").strip()
    if not name:
        raise InputError(_("a template needs a name"))
    body = validate(body)
    with db.transaction() as cur:
        return store.save_template(name, body, version=version, cur=cur)


def preview(body: dict, corpus: str | None = None, passage: dict | None = None) -> list[dict]:
    """The messages of every step of ``body`` for a passage (the corpus's first when none is given).

    Later steps show placeholder questions / examples, since the model has not answered yet.
    """
    from studio.generate import prompting as tpl

    if passage is None:
        passage = {"text": "（示例条文）第一条 为了保障电力安全，制定本规程。", "heading": "第一章 总则 / 第一条",
                   "document_title": "示例"}
        if corpus:
            from store import corpus as store_corpus
            from store import datasets

            found = datasets.find(corpus)
            rows = store_corpus.corpus_passages(found["id"]) if found else []
            if rows:
                passage = rows[0]
    questions = ["（第一步生成的问题 1）", "（第一步生成的问题 2）"]
    examples = [{"instruction": "（已通过审核的示例指令）", "input": "", "output": "（示例回答）"}]
    values = tpl.values_for(passage, body, questions=questions, examples=examples)
    out = []
    for i, step in enumerate(body.get("steps", [])):
        out.append({"step": step.get("name", str(i + 1)), "messages": tpl.messages(body, i, values)})
    return out


def batches(limit: int = 50) -> list[dict]:
    """Recent batches with their progress; a running batch whose heartbeat stopped is 'interrupted'."""
    from store import generation as store

    out = store.batches(limit=limit)
    for b in out:
        b["display_state"] = _display_state(b)
    return out


# the batches table's columns, in order, with the names people read on the Generate page
BATCH_COLUMNS = {"id": N_("Batch"), "corpus": N_("Corpus"), "into_dataset": N_("Into dataset"),
                 "strategy": N_("Strategy"), "model": N_("Model"), "display_state": N_("State"),
                 "passages_done": N_("Passages done"), "passages_total": N_("Passages in all"),
                 "passages_failed": N_("Passages failed"), "samples": N_("Samples"), "requests": N_("Requests"),
                 "tokens": N_("Tokens"), "cost": N_("Estimated cost"), "updated_at": N_("Updated")}


def batches_table(rows: list[dict]) -> list[dict]:
    """The batches as table rows keyed by their readable column names (:data:`BATCH_COLUMNS`, translated),
    strategies and states in words."""
    shown = {"strategy": strategy_label, "display_state": state_label}
    return [{_(label): shown[k](b.get(k)) if k in shown else b.get(k) for k, label in BATCH_COLUMNS.items()}
            for b in rows]


def batches_chart(rows: list[dict]):
    """A plotly figure: tokens and estimated cost per batch, side by side, oldest batch first."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = sorted(rows, key=lambda b: b["id"])
    names = [f"#{b['id']} {b['into_dataset']} ({strategy_label(b['strategy'])})" for b in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(_("Tokens (prompt + completion)"), _("Estimated cost")))
    fig.add_trace(go.Bar(x=names, y=[int(b["tokens"] or 0) for b in rows], name=_("Tokens"),
                         hovertemplate="%{x}<br>%{y:,} " + _("tokens") + "<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[float(b["cost"] or 0) for b in rows], name=_("Estimated cost"),
                         hovertemplate="%{x}<br>" + _("cost") + " %{y:.4f}<extra></extra>"), row=1, col=2)
    fig.update_layout(showlegend=False, height=320, margin={"t": 40, "b": 10, "l": 10, "r": 10})
    fig.update_xaxes(type="category")
    fig.update_yaxes(rangemode="tozero")
    return fig


def batch(batch_id: int) -> dict:
    from store import generation as store
    from studio.core.errors import NotFound

    found = store.batch(int(batch_id))
    if found is None:
        raise NotFound(_("no generation batch {id}").format(id=batch_id))
    found["display_state"] = _display_state(found)
    return found


def _display_state(b: dict) -> str:
    """A batch row says 'running' until it ends; with no heartbeat for 15 s no process runs it any more."""
    if b["state"] == "running" and (b.get("heartbeat_age_s") or 0) > 15:
        return "interrupted"
    return b["state"]


def request_stop(batch_id: int) -> None:
    """Ask a running batch to stop after the passages in flight."""
    from store import generation as store

    store.request_stop(int(batch_id))


def requests(batch_id: int, status: str | None = None, limit: int = 200) -> list[dict]:
    from store import generation as store

    return store.requests(int(batch_id), status=status, limit=limit)


def failures(batch_id: int) -> list[dict]:
    from store import generation as store

    return store.failures(int(batch_id))
