"""Generation: templates (kind 'generate'), batches, the passages a batch finished, requests, samples.

A batch's ``state``: pending, running, then done (every passage finished), stopped (Stop, budget, Ctrl-C),
paused (its endpoint failed on ``STUDIO_GENERATE_PAUSE_AFTER`` passages in a row; those passages stay to
do) or failed (401 / 403 / 404). Every state but done is resumed by the next run; ``error`` says why it
ended.
"""
from __future__ import annotations

import json
from typing import Any

from store import db


# -- templates --------------------------------------------------------------------------------------
def ensure_templates(builtin: dict[str, dict], *, cur=None) -> None:
    """Write the built-in templates that are missing (an edited built-in is left as the user made it)."""
    have = {r["name"] for r in db.rows("SELECT name FROM templates WHERE kind = 'generate'", cur=cur)}
    for name, body in builtin.items():
        if name not in have:
            db.scalar("INSERT INTO templates (name, kind, body, builtin) VALUES (?, 'generate', ?, true) "
                      "ON CONFLICT DO NOTHING RETURNING id", [name, json.dumps(body, ensure_ascii=False)],
                      cur=cur)


def templates(*, cur=None) -> list[dict]:
    out = db.rows("SELECT id, name, body, builtin, version, updated_at FROM templates WHERE kind = 'generate' "
                  "ORDER BY name", cur=cur)
    for r in out:
        r["body"] = json.loads(r["body"])
    return out


def template(name: str, *, cur=None) -> dict | None:
    r = db.one("SELECT id, name, body, builtin, version FROM templates WHERE kind = 'generate' AND name = ?",
               [name], cur=cur)
    if r:
        r["body"] = json.loads(r["body"])
    return r


def save_template(name: str, body: dict, *, version: int | None = None, cur=None) -> int:
    """Insert or update a template; an update names the version it saw (else Conflict)."""
    from studio.core.errors import Conflict
    from studio.core.i18n import _

    cur = cur or db.cursor()
    data = json.dumps(body, ensure_ascii=False)
    found = template(name, cur=cur)
    if found is None:
        return db.scalar("INSERT INTO templates (name, kind, body) VALUES (?, 'generate', ?) RETURNING id",
                         [name, data], cur=cur)
    if version is not None and version != found["version"]:
        raise Conflict(_("template {name} was changed elsewhere; reload it before saving").format(name=repr(name)))
    db.scalar("UPDATE templates SET body = ?, version = version + 1, updated_at = current_timestamp "
              "WHERE id = ? RETURNING id", [data, found["id"]], cur=cur)
    return found["id"]


# -- batches ----------------------------------------------------------------------------------------
def open_batch(corpus_id: int, into_id: int, strategy: str, *, cur=None) -> dict | None:
    """The latest unfinished batch over this corpus into this dataset with this strategy."""
    return db.one("SELECT * FROM generation_batches WHERE corpus_dataset_id = ? AND into_dataset_id = ? "
                  "AND strategy = ? AND state <> 'done' ORDER BY id DESC LIMIT 1",
                  [corpus_id, into_id, strategy], cur=cur)


def create_batch(corpus_id: int, into_id: int, strategy: str, template_id: int | None, model: str | None,
                 base_url: str | None, options: dict, *, cur=None) -> int:
    return db.scalar(
        "INSERT INTO generation_batches (corpus_dataset_id, into_dataset_id, strategy, template_id, model, "
        "base_url, options, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending') RETURNING id",
        [corpus_id, into_id, strategy, template_id, model, base_url, json.dumps(options, ensure_ascii=False)],
        cur=cur)


_BATCH_FIELDS = {"state", "passages_total", "stop_requested", "pid", "error", "model", "base_url", "options",
                 "template_id"}


def update_batch(batch_id: int, *, cur=None, **fields) -> None:
    assert set(fields) <= _BATCH_FIELDS, fields
    if "options" in fields:
        fields["options"] = json.dumps(fields["options"], ensure_ascii=False)
    sets = ", ".join(f"{db.quote_identifier(k)} = ?" for k in fields)
    db.scalar(f"UPDATE generation_batches SET {sets}, updated_at = current_timestamp, "
              f"heartbeat_at = current_timestamp WHERE id = ? RETURNING id", [*fields.values(), batch_id], cur=cur)


def heartbeat(batch_id: int, *, cur=None) -> bool:
    """Record that the runner is alive; return whether a stop was requested."""
    return bool(db.scalar("UPDATE generation_batches SET heartbeat_at = current_timestamp WHERE id = ? "
                          "RETURNING stop_requested", [batch_id], cur=cur))


def request_stop(batch_id: int, *, cur=None) -> None:
    db.scalar("UPDATE generation_batches SET stop_requested = true, updated_at = current_timestamp "
              "WHERE id = ? RETURNING id", [batch_id], cur=cur)


def batch(batch_id: int, *, cur=None) -> dict | None:
    found = batches(batch_id=batch_id, cur=cur)
    return found[0] if found else None


def batches(*, batch_id: int | None = None, limit: int = 50, cur=None) -> list[dict]:
    """Batches with their progress: passages finished / failed, samples, requests, tokens, cost."""
    where = "WHERE b.id = ?" if batch_id is not None else ""
    params: list = [batch_id] if batch_id is not None else []
    out = db.rows(f"""
        SELECT b.*, c.name AS corpus, i.name AS into_dataset,
               coalesce(bp.done, 0) AS passages_done, coalesce(bp.failed, 0) AS passages_failed,
               coalesce(bp.samples, 0) AS samples,
               coalesce(r.requests, 0) AS requests, coalesce(r.tokens, 0) AS tokens,
               coalesce(r.cost, 0) AS cost
        FROM generation_batches b
        JOIN datasets c ON c.id = b.corpus_dataset_id JOIN datasets i ON i.id = b.into_dataset_id
        LEFT JOIN (SELECT batch_id, count(*) AS done, count(*) FILTER (status IN ('failed', 'unparsed')) AS failed,
                          sum(samples) AS samples FROM batch_passages GROUP BY batch_id) bp ON bp.batch_id = b.id
        LEFT JOIN (SELECT batch_id, count(*) AS requests,
                          sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) AS tokens,
                          sum(coalesce(cost, 0)) AS cost FROM llm_requests GROUP BY batch_id) r ON r.batch_id = b.id
        {where} ORDER BY b.id DESC LIMIT ?""", params + [limit], cur=cur)
    now = db.clock(cur=cur) if any(r.get("heartbeat_at") is not None for r in out) else None
    for r in out:  # the rows may come from the read cache; the heartbeat's age is by the clock now
        r["options"] = json.loads(r["options"]) if r.get("options") else {}
        r["heartbeat_age_s"] = None if r.get("heartbeat_at") is None else (now - r["heartbeat_at"]).total_seconds()
    return out


def todo_passages(corpus_id: int, into_id: int, strategy: str, *, cur=None) -> list[dict]:
    """The corpus passages no batch of this strategy into this dataset has finished, in order."""
    return db.rows("""
        SELECT p.id, p.document_id, p.ord, p.heading, p.text, d.title AS document_title, d.source_file
        FROM passages p JOIN documents d ON d.id = p.document_id
        WHERE p.dataset_id = ? AND p.id NOT IN (
            SELECT bp.passage_id FROM batch_passages bp JOIN generation_batches b ON b.id = bp.batch_id
            WHERE b.into_dataset_id = ? AND b.strategy = ?)
        ORDER BY p.document_id, p.ord""", [corpus_id, into_id, strategy], cur=cur)


def forget_failures(corpus_id: int, into_id: int, strategy: str, *, cur=None) -> int:
    """Let failed passages be tried again (their requests stay logged); return how many."""
    cur = cur or db.cursor()
    where = ("status IN ('failed', 'unparsed') AND batch_id IN (SELECT id FROM generation_batches "
             "WHERE corpus_dataset_id = ? AND into_dataset_id = ? AND strategy = ?)")
    params = [corpus_id, into_id, strategy]
    n = db.scalar(f"SELECT count(*) FROM batch_passages WHERE {where}", params, cur=cur)
    cur.execute(f"DELETE FROM batch_passages WHERE {where}", params)
    return int(n or 0)


def spent(batch_id: int, *, cur=None) -> dict:
    return db.one("SELECT coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)), 0) AS tokens, "
                  "coalesce(sum(cost), 0) AS cost FROM llm_requests WHERE batch_id = ?", [batch_id], cur=cur)


def accepted_examples(dataset_id: int, limit: int = 200, *, cur=None) -> list[dict]:
    return db.rows("SELECT id, instruction, input, output FROM samples WHERE dataset_id = ? AND status = 'accepted' "
                   "ORDER BY id LIMIT ?", [dataset_id, limit], cur=cur)


def log_request(batch_id: int, passage_id: int, req, *, cur) -> int:
    """Log one request (model, options, messages, response, tokens, cost, duration; never the key)."""
    return db.scalar(
        "INSERT INTO llm_requests (batch_id, passage_id, purpose, step, model, options, prompt, response, status, "
        "error, prompt_tokens, completion_tokens, cost, duration_ms) "
        "VALUES (?, ?, 'generate', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [batch_id, passage_id, req.step, req.model, json.dumps(req.options, ensure_ascii=False),
         json.dumps(req.messages, ensure_ascii=False), req.response, req.status, req.error,
         req.prompt_tokens, req.completion_tokens, req.cost, req.duration_ms], cur=cur)


def finished_count(batch_id: int, *, cur=None) -> int:
    """How many passages of a batch are finished (samples or a recorded failure)."""
    return int(db.scalar("SELECT count(*) FROM batch_passages WHERE batch_id = ?", [batch_id], cur=cur))


def commit_outcome(batch_id: int, into_id: int, outcome, *, cur) -> dict:
    """Write one passage's requests, samples (or exam questions) and its finished mark, in the caller's
    transaction. Returns counts."""
    ids = [log_request(batch_id, outcome.passage_id, req, cur=cur) for req in outcome.requests]
    for s in outcome.samples:
        request_id = ids[s["request"]] if s.get("request") is not None else None
        db.scalar(
            "INSERT INTO samples (dataset_id, instruction, input, output, status, origin, passage_id, request_id, "
            "template, flags, source_file, tags) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [into_id, s["instruction"], s.get("input", ""), s["output"], s["origin"], outcome.passage_id,
             request_id, s.get("template"), s.get("flags", []), s.get("source_file"), s.get("tags", [])], cur=cur)
    for q in outcome.questions:
        request_id = ids[q["request"]] if q.get("request") is not None else None
        db.scalar(
            "INSERT INTO exam_questions (dataset_id, subject, qtype, question, options, answer_labels, answer_text, "
            "basis, source_file, passage_id, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [into_id, q.get("subject"), q["qtype"], q["question"],
             json.dumps(q["options"], ensure_ascii=False) if q.get("options") is not None else None,
             q["answer_labels"], q["answer_text"], q.get("basis"), q.get("source_file"), outcome.passage_id,
             request_id], cur=cur)
    n = len(outcome.samples) + len(outcome.questions)
    mark_finished(batch_id, outcome.passage_id, outcome.status, n, outcome.error, cur=cur)
    return {"samples": n, "requests": len(ids)}


def mark_finished(batch_id: int, passage_id: int, status: str, samples: int = 0, error: str | None = None, *,
                  cur) -> None:
    """Record that a batch finished a passage (so no run does it again), in the caller's transaction."""
    db.scalar("INSERT INTO batch_passages (batch_id, passage_id, status, samples, error) VALUES (?, ?, ?, ?, ?) "
              "RETURNING passage_id", [batch_id, passage_id, status, samples, error], cur=cur)


def requests(batch_id: int, *, limit: int = 200, status: str | None = None, cur=None) -> list[dict]:
    """The batch's logged requests, newest first."""
    sql = ("SELECT id, passage_id, step, model, status, error, prompt_tokens, completion_tokens, cost, duration_ms, "
           "prompt, response, options, created_at FROM llm_requests WHERE batch_id = ?")
    params: list[Any] = [batch_id]
    if status:
        sql += " AND status = ?"
        params.append(status)
    return db.rows(sql + " ORDER BY id DESC LIMIT ?", params + [limit], cur=cur)


def failures(batch_id: int, *, cur=None) -> list[dict]:
    return db.rows("SELECT bp.passage_id, bp.status, bp.error, p.heading FROM batch_passages bp "
                   "JOIN passages p ON p.id = bp.passage_id WHERE bp.batch_id = ? AND bp.status IN ('failed', 'unparsed') "
                   "ORDER BY bp.passage_id", [batch_id], cur=cur)
