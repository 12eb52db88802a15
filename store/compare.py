"""Every SQL string of the comparison side: prompt sets, generations, comparisons, ratings, votes,
judge scores, exam evaluations, and read-only looks at runs and exam questions.

Values are bound parameters; results are plain dict rows. Functions that write take ``cur`` so a
caller can put several of them in one transaction.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from store import db

# ---------------------------------------------------------------- prompt sets


def prompt_set_by_name(name: str, *, cur=None) -> dict | None:
    return db.one("SELECT * FROM prompt_sets WHERE name = ?", [name], cur=cur)


def prompt_set_by_hash(content_hash: str, *, cur=None) -> dict | None:
    return db.one("SELECT * FROM prompt_sets WHERE content_hash = ? ORDER BY id LIMIT 1", [content_hash], cur=cur)


def prompt_set(set_id: int, *, cur=None) -> dict | None:
    return db.one("SELECT * FROM prompt_sets WHERE id = ?", [set_id], cur=cur)


def list_prompt_sets(*, cur=None) -> list[dict]:
    """Every prompt set with its number of prompts and categories, newest first."""
    return db.rows("""
        SELECT s.id, s.name, s.source, s.content_hash, s.created_at,
               count(p.id) AS prompts, count(DISTINCT p.category) AS categories,
               count(p.reference) AS with_reference
        FROM prompt_sets s LEFT JOIN prompts p ON p.prompt_set_id = s.id
        GROUP BY ALL ORDER BY s.id DESC""", cur=cur)


def insert_prompt_set(name: str, source: str, content_hash: str, items: list[dict], *, cur) -> int:
    """A new prompt set with its prompts (call inside a transaction)."""
    set_id = db.scalar("INSERT INTO prompt_sets (name, source, content_hash) VALUES (?, ?, ?) RETURNING id",
                       [name, source, content_hash], cur=cur)
    cur.executemany(
        "INSERT INTO prompts (prompt_set_id, ord, prompt, system, category, reference, question_id, history) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?::JSON)",
        [[set_id, i, it["prompt"], it.get("system"), it.get("category"), it.get("reference"),
          it.get("question_id"), json.dumps(it["history"], ensure_ascii=False) if it.get("history") else None]
         for i, it in enumerate(items)])
    return set_id


def prompts_of(set_id: int, *, cur=None) -> list[dict]:
    return [_decode_json(r, "history") for r in
            db.rows("SELECT * FROM prompts WHERE prompt_set_id = ? ORDER BY ord", [set_id], cur=cur)]


# ---------------------------------------------------------------- read-only: runs, exams, datasets


def run(run_id: str, *, cur=None) -> dict | None:
    """One row of the runs table (owned by the trainer side; read here only)."""
    return db.one("SELECT * FROM runs WHERE id = ?", [run_id], cur=cur)


def runs_with_state(*, cur=None) -> list[dict]:
    return db.rows("SELECT id, name, base_model, method, state, dir, snapshot_id, created_at FROM runs "
                   "ORDER BY created_at DESC", cur=cur)


def exam_questions(dataset_id: int, *, limit: int | None = None, cur=None) -> list[dict]:
    sql = ("SELECT id, subject, qtype, question, options, answer_labels, answer_text FROM exam_questions "
           "WHERE dataset_id = ? ORDER BY id")
    params: list[Any] = [dataset_id]
    if limit:
        sql += " LIMIT ?"
        params.append(int(limit))
    out = db.rows(sql, params, cur=cur)
    for r in out:
        if isinstance(r["options"], str):
            r["options"] = json.loads(r["options"])
    return out


def exam_datasets(*, cur=None) -> list[dict]:
    return db.rows("""SELECT d.id, d.name, count(q.id) AS questions FROM datasets d
                      JOIN exam_questions q ON q.dataset_id = d.id GROUP BY ALL ORDER BY d.name""", cur=cur)


# ---------------------------------------------------------------- generations


def generations_for(prompt_keys: Iterable[str], model_system: str, decode_key: str, *, cur=None) -> dict[str, dict]:
    """Stored generations of one system with one decode key, by prompt key."""
    keys = list(dict.fromkeys(prompt_keys))
    if not keys:
        return {}
    found = db.rows("SELECT * FROM generations WHERE model_system = ? AND decode_key = ? "
                    "AND prompt_key IN (SELECT unnest(?::VARCHAR[]))", [model_system, decode_key, keys], cur=cur)
    return {r["prompt_key"]: r for r in found}


def insert_generations(rows: list[dict], *, cur) -> int:
    """Store generations; one already stored under the same key is kept (nothing generated twice), unless
    its request failed (``finish_reason`` error): then the new answer takes its place, under the same id.

    A row may say how the output ended (``finish_reason``: stop | length | content_filter | error) and,
    for a failed request, ``error``. One statement per 100 rows (DuckDB runs executemany row by row)."""
    first: dict[tuple, dict] = {}
    for r in rows:   # a key twice in one statement cannot be inserted: the first row counts
        first.setdefault((r["prompt_key"], r["model_system"], r["decode_key"]), r)
    unique = list(first.values())
    for start in range(0, len(unique), 100):
        chunk = unique[start:start + 100]
        cur.execute(
            "INSERT INTO generations (prompt_key, prompt, system_prompt, model_system, base_model, decode_key, "
            "decode, output, duration_ms, finish_reason, error) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            + " ON CONFLICT (prompt_key, model_system, decode_key) DO UPDATE SET output = excluded.output, "
            "duration_ms = excluded.duration_ms, finish_reason = excluded.finish_reason, error = excluded.error, "
            "created_at = now()::TIMESTAMP WHERE generations.finish_reason = 'error'",
            [v for r in chunk for v in (
                r["prompt_key"], r["prompt"], r.get("system_prompt"), r["model_system"], r.get("base_model"),
                r["decode_key"], json.dumps(r.get("decode") or {}, ensure_ascii=False), r["output"],
                r.get("duration_ms"), r.get("finish_reason"), r.get("error"))])
    return len(rows)


def generation(generation_id: int, *, cur=None) -> dict | None:
    return db.one("SELECT * FROM generations WHERE id = ?", [generation_id], cur=cur)


def count_generations(*, cur=None) -> int:
    return int(db.scalar("SELECT count(*) FROM generations", cur=cur))


# ---------------------------------------------------------------- comparisons


def find_comparison(prompt_set_id: int, systems: list[str], base_model: str, decode: dict, *, cur=None) -> dict | None:
    return db.one("SELECT * FROM comparisons WHERE prompt_set_id = ? AND systems = ?::JSON AND base_model = ? "
                  "AND decode = ?::JSON ORDER BY id LIMIT 1",
                  [prompt_set_id, json.dumps(systems), base_model, json.dumps(decode, sort_keys=True)], cur=cur)


def insert_comparison(name: str, prompt_set_id: int, systems: list[str], base_model: str, decode: dict,
                      preset: str, *, cur=None) -> int:
    return db.scalar("INSERT INTO comparisons (name, prompt_set_id, systems, base_model, decode, decode_preset) "
                     "VALUES (?, ?, ?::JSON, ?, ?::JSON, ?) RETURNING id",
                     [name, prompt_set_id, json.dumps(systems), base_model, json.dumps(decode, sort_keys=True),
                      preset], cur=cur)


def comparison(comparison_id: int, *, cur=None) -> dict | None:
    row = db.one("SELECT * FROM comparisons WHERE id = ?", [comparison_id], cur=cur)
    return _decode_json(row, "systems", "decode")


def list_comparisons(*, cur=None) -> list[dict]:
    found = db.rows("""SELECT c.*, s.name AS prompt_set, (SELECT count(*) FROM prompts p
                         WHERE p.prompt_set_id = c.prompt_set_id) AS prompts
                       FROM comparisons c JOIN prompt_sets s ON s.id = c.prompt_set_id ORDER BY c.id DESC""",
                    cur=cur)
    return [_decode_json(r, "systems", "decode") for r in found]


def _decode_json(row: dict | None, *names: str) -> dict | None:
    if row:
        for n in names:
            if isinstance(row.get(n), str):
                row[n] = json.loads(row[n])
    return row


# ---------------------------------------------------------------- ratings and votes


def upsert_rating(generation_id: int, prompt_id: int | None, rater: str, score: int, comment: str | None,
                  *, cur) -> int:
    """One rating per output and rater: a second rating by the same rater replaces the first."""
    found = db.scalar("SELECT id FROM ratings WHERE generation_id = ? AND rater = ?", [generation_id, rater], cur=cur)
    if found is not None:
        cur.execute("UPDATE ratings SET score = ?, comment = ?, prompt_id = coalesce(?, prompt_id), "
                    "updated_at = current_timestamp WHERE id = ?", [score, comment, prompt_id, found])
        return int(found)
    return int(db.scalar("INSERT INTO ratings (generation_id, prompt_id, rater, score, comment) "
                         "VALUES (?, ?, ?, ?, ?) RETURNING id", [generation_id, prompt_id, rater, score, comment],
                         cur=cur))


def ratings_for(generation_ids: Iterable[int], *, rater: str | None = None, cur=None) -> list[dict]:
    ids = [int(i) for i in generation_ids]
    if not ids:
        return []
    sql = "SELECT * FROM ratings WHERE generation_id IN (SELECT unnest(?::BIGINT[]))"
    params: list[Any] = [ids]
    if rater is not None:
        sql += " AND rater = ?"
        params.append(rater)
    return db.rows(sql + " ORDER BY id", params, cur=cur)


def upsert_vote(prompt_id: int | None, generation_a: int, generation_b: int, winner: str, rater: str, *, cur) -> int:
    """One vote per pair of outputs and rater (either order); a second vote replaces the first."""
    found = db.one("SELECT id, generation_a FROM votes WHERE rater = ? AND ((generation_a = ? AND generation_b = ?) "
                   "OR (generation_a = ? AND generation_b = ?))",
                   [rater, generation_a, generation_b, generation_b, generation_a], cur=cur)
    if found is not None:
        cur.execute("UPDATE votes SET generation_a = ?, generation_b = ?, winner = ?, prompt_id = ?, "
                    "created_at = current_timestamp WHERE id = ?",
                    [generation_a, generation_b, winner, prompt_id, found["id"]])
        return int(found["id"])
    return int(db.scalar("INSERT INTO votes (prompt_id, generation_a, generation_b, winner, rater) "
                         "VALUES (?, ?, ?, ?, ?) RETURNING id", [prompt_id, generation_a, generation_b, winner, rater],
                         cur=cur))


def votes_for(generation_ids: Iterable[int], *, cur=None) -> list[dict]:
    ids = [int(i) for i in generation_ids]
    if not ids:
        return []
    return db.rows("SELECT * FROM votes WHERE generation_a IN (SELECT unnest(?::BIGINT[])) "
                   "AND generation_b IN (SELECT unnest(?::BIGINT[])) ORDER BY id", [ids, ids], cur=cur)


# ---------------------------------------------------------------- templates, requests, judge scores


def template(kind: str, name: str, *, cur=None) -> dict | None:
    return _decode_json(db.one("SELECT * FROM templates WHERE kind = ? AND name = ?", [kind, name], cur=cur), "body")


def templates(kind: str, *, cur=None) -> list[dict]:
    return [_decode_json(r, "body") for r in
            db.rows("SELECT * FROM templates WHERE kind = ? ORDER BY builtin DESC, name", [kind], cur=cur)]


def upsert_template(kind: str, name: str, body: dict, *, builtin: bool = False, cur) -> int:
    found = db.scalar("SELECT id FROM templates WHERE kind = ? AND name = ?", [kind, name], cur=cur)
    text = json.dumps(body, ensure_ascii=False)
    if found is not None:
        cur.execute("UPDATE templates SET body = ?::JSON, version = version + 1, updated_at = current_timestamp "
                    "WHERE id = ?", [text, found])
        return int(found)
    return int(db.scalar("INSERT INTO templates (name, kind, body, builtin) VALUES (?, ?, ?::JSON, ?) RETURNING id",
                         [name, kind, text, builtin], cur=cur))


def insert_request(row: dict, *, cur) -> int:
    """Log one LLM request (never the key)."""
    return int(db.scalar(
        "INSERT INTO llm_requests (purpose, step, model, options, prompt, response, status, error, prompt_tokens, "
        "completion_tokens, duration_ms) VALUES (?, ?, ?, ?::JSON, ?::JSON, ?, ?, ?, ?, ?, ?) RETURNING id",
        [row.get("purpose"), row.get("step"), row.get("model"), json.dumps(row.get("options") or {}),
         json.dumps(row.get("prompt") or [], ensure_ascii=False), row.get("response"), row["status"],
         row.get("error"), row.get("prompt_tokens"), row.get("completion_tokens"), row.get("duration_ms")], cur=cur))


def insert_requests(rows: list[dict], *, cur) -> list[int]:
    """Log several LLM requests in one statement (ids taken from the sequence first); their ids, in order."""
    if not rows:
        return []
    ids = [int(r["id"]) for r in db.rows("SELECT nextval('seq_requests') AS id FROM range(?)", [len(rows)], cur=cur)]
    cur.execute(
        "INSERT INTO llm_requests (id, purpose, step, model, options, prompt, response, status, error, prompt_tokens, "
        "completion_tokens, duration_ms) VALUES " + ", ".join(["(?, ?, ?, ?, ?::JSON, ?::JSON, ?, ?, ?, ?, ?, ?)"]
                                                              * len(rows)),
        [v for i, row in zip(ids, rows) for v in (
            i, row.get("purpose"), row.get("step"), row.get("model"), json.dumps(row.get("options") or {}),
            json.dumps(row.get("prompt") or [], ensure_ascii=False), row.get("response"), row["status"],
            row.get("error"), row.get("prompt_tokens"), row.get("completion_tokens"), row.get("duration_ms"))])
    return ids


def set_request_status(request_id: int, status: str, *, cur) -> None:
    cur.execute("UPDATE llm_requests SET status = ? WHERE id = ?", [status, request_id])


def request(request_id: int, *, cur=None) -> dict | None:
    return db.one("SELECT * FROM llm_requests WHERE id = ?", [request_id], cur=cur)


def insert_judge_score(row: dict, *, cur) -> int:
    return int(db.scalar(
        "INSERT INTO judge_scores (generation_id, request_id, judge_model, template, score, explanation, raw, parsed) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [row["generation_id"], row.get("request_id"), row.get("judge_model"), row.get("template"), row.get("score"),
         row.get("explanation"), row.get("raw"), bool(row.get("parsed"))], cur=cur))


def insert_judge_scores(rows: list[dict], *, cur) -> None:
    """Several judge scores in one statement (one judge request scores up to five systems)."""
    if rows:
        cur.execute("INSERT INTO judge_scores (generation_id, request_id, judge_model, template, score, explanation, "
                    "raw, parsed) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows)),
                    [v for r in rows for v in (r["generation_id"], r.get("request_id"), r.get("judge_model"),
                                               r.get("template"), r.get("score"), r.get("explanation"), r.get("raw"),
                                               bool(r.get("parsed")))])


def judge_scores_for(generation_ids: Iterable[int], *, judge_model: str | None = None, template: str | None = None,
                     cur=None) -> list[dict]:
    ids = [int(i) for i in generation_ids]
    if not ids:
        return []
    sql = "SELECT * FROM judge_scores WHERE generation_id IN (SELECT unnest(?::BIGINT[]))"
    params: list[Any] = [ids]
    if judge_model is not None:
        sql += " AND judge_model = ?"
        params.append(judge_model)
    if template is not None:
        sql += " AND template = ?"
        params.append(template)
    return db.rows(sql + " ORDER BY id", params, cur=cur)


# ---------------------------------------------------------------- exam evaluations


def insert_exam_eval(row: dict, *, cur=None) -> int:
    return int(db.scalar(
        "INSERT INTO exam_evals (model_system, base_model, dataset_id, shuffles, seed, decode, n, accuracy, "
        "shuffled_accuracy, consistent, unparsed, by_type, by_subject, details) "
        "VALUES (?, ?, ?, ?, ?, ?::JSON, ?, ?, ?, ?, ?, ?::JSON, ?::JSON, ?::JSON) RETURNING id",
        [row["model_system"], row.get("base_model"), row["dataset_id"], row.get("shuffles", 0), row.get("seed"),
         json.dumps(row.get("decode") or {}), row["n"], row.get("accuracy"), row.get("shuffled_accuracy"),
         row.get("consistent"), row.get("unparsed"), json.dumps(row.get("by_type") or {}),
         json.dumps(row.get("by_subject") or {}, ensure_ascii=False),
         json.dumps(row.get("details") or [], ensure_ascii=False)], cur=cur))


def exam_evals(*, cur=None) -> list[dict]:
    found = db.rows("""SELECT e.id, e.model_system, e.base_model, d.name AS dataset, e.shuffles, e.n, e.accuracy,
                              e.shuffled_accuracy, e.consistent, e.unparsed, e.by_type, e.by_subject, e.created_at
                       FROM exam_evals e LEFT JOIN datasets d ON d.id = e.dataset_id ORDER BY e.id DESC""", cur=cur)
    return [_decode_json(r, "by_type", "by_subject") for r in found]


def latest_exam_evals(dataset_id: int, *, cur=None) -> list[dict]:
    """The newest evaluation of each system on one exam dataset, details included, in order of first
    evaluation (the columns of the objective table)."""
    found = db.rows("""SELECT * FROM exam_evals WHERE dataset_id = ?
                       QUALIFY row_number() OVER (PARTITION BY model_system ORDER BY id DESC) = 1
                       ORDER BY (SELECT min(f.id) FROM exam_evals f WHERE f.dataset_id = exam_evals.dataset_id
                                 AND f.model_system = exam_evals.model_system)""", [dataset_id], cur=cur)
    return [_decode_json(r, "by_type", "by_subject", "details", "decode") for r in found]


# ---------------------------------------------------------------- API systems (never a key)


def api_system(label: str, *, cur=None) -> dict | None:
    return db.one("SELECT label, model, base_url, key_env FROM api_systems WHERE label = ?", [label], cur=cur)


def api_systems(*, cur=None) -> list[dict]:
    return db.rows("SELECT label, model, base_url, key_env FROM api_systems ORDER BY created_at, label", cur=cur)


def upsert_api_system(label: str, model: str, base_url: str, key_env: str | None, *, cur) -> None:
    """Define an API system, or change the model, endpoint or key variable of the one with this label."""
    cur.execute("INSERT INTO api_systems (label, model, base_url, key_env) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (label) DO UPDATE SET model = excluded.model, base_url = excluded.base_url, "
                "key_env = excluded.key_env, updated_at = now()::TIMESTAMP", [label, model, base_url, key_env])
