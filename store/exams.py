"""Exam questions in SQL: landing a parsed bank, reading and fixing its questions, converting them into
training pairs, and the convert templates.

Parsing a bank happens before, in temporary tables: ``store.exam_cells`` stages the cells and
``store.exam_parse`` reads and checks every row; ``insert_questions`` lands the valid ones. Questions are
stored as ``exam_questions`` rows: options as JSON ``[{label, text}]``, the answer as labels and text.
"""
from __future__ import annotations

import json
from typing import Any

from store import db
from studio.core.exam_rules import BLANK, TYPE_NAMES
from studio.core.exam_rules import sql_literal as _lit
from studio.core.i18n import _

_OPTS_TYPE = '[{"label":"VARCHAR","text":"VARCHAR"}]'


# ------------------------------------------------------------------ storing

def insert_import(cur, dataset_id: int, source_file: str, sha256: str | None, options: dict, total: int,
                  imported: int, rejected: int, errors: list[dict]) -> int:
    return cur.execute("""INSERT INTO imports (dataset_id, kind, source_file, source_sha256, options, rows_total,
                              rows_imported, rows_rejected, errors)
                          VALUES (?, 'exam', ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                       [dataset_id, source_file, sha256, json.dumps(options, ensure_ascii=False), total,
                        imported, rejected, json.dumps(errors, ensure_ascii=False)]).fetchone()[0]


def insert_questions(cur, dataset_id: int, import_id: int, source_file: str) -> int:
    """Move the valid rows of ``exam_final`` into ``exam_questions`` in one statement. The parse wrote
    them in file order (sheet by sheet, row by row) and DuckDB keeps a table's order as it inserts, so ids
    numbered by ``rowid`` follow the file without sorting (a rejected row leaves its id unused). The ids are
    taken from the sequence at once (``db.reserve_ids``): the insert then runs in parallel."""
    lo, hi = cur.execute("SELECT min(rowid), max(rowid) FROM exam_final WHERE error IS NULL").fetchone()
    if lo is None:
        return 0
    first = db.reserve_ids("seq_questions", hi - lo + 1, cur=cur)
    return cur.execute("""
        INSERT INTO exam_questions (id, dataset_id, import_id, ext_id, subject, qtype, question, options,
                                    answer_labels, answer_text, basis, source_file, source_sheet, source_row)
        SELECT ? + rowid, ?, ?, ext_id, subject, qtype, stem,
               to_json(list_transform(opt_labels, lambda l, i: {'label': l, 'text': opt_texts[i]})),
               answer_labels, answer_text, basis, ?, nullif(sheet, ''), row_no
        FROM exam_final WHERE error IS NULL""",
                       [first - lo, dataset_id, import_id, source_file]).fetchone()[0]


def question_counts(dataset_id: int, *, cur=None) -> dict[str, int]:
    got = db.rows("SELECT qtype, count(*) AS n FROM exam_questions WHERE dataset_id = ? GROUP BY ALL",
                  [dataset_id], cur=cur)
    return {r["qtype"]: r["n"] for r in got}


def questions(dataset_id: int, limit: int = 50, offset: int = 0, *, cur=None) -> list[dict[str, Any]]:
    return db.rows("""SELECT id, ext_id, subject, qtype, question, options, answer_labels, answer_text, basis,
                             source_file, source_sheet, source_row, version
                      FROM exam_questions WHERE dataset_id = ? ORDER BY id LIMIT ? OFFSET ?""",
                   [dataset_id, limit, offset], cur=cur)


def update_question(question_id: int, version: int, fields: dict[str, Any], *, cur=None) -> bool:
    """Fix a question (row version checked); False when someone changed it since ``version``."""
    allowed = ("subject", "qtype", "question", "options", "answer_labels", "answer_text", "basis")
    sets, params = [], []
    for k, v in fields.items():
        if k not in allowed:
            raise ValueError(_("not an editable field: {field}").format(field=k))
        sets.append(f"{db.quote_identifier(k)} = ?")
        params.append(json.dumps(v, ensure_ascii=False) if k == "options" else v)
    if not sets:
        return True
    got = db.one(f"""UPDATE exam_questions SET {', '.join(sets)}, version = version + 1, updated_at = current_timestamp
                     WHERE id = ? AND version = ? RETURNING id""", params + [question_id, version], cur=cur)
    return got is not None


# ------------------------------------------------------------------ converting

PLACEHOLDERS = {
    "question": "q",
    "question_raw": "question",
    "options": "options_lines",
    "options_inline": "options_inline",
    "answer": "answer_text",
    "answer_labels": "answer_letters",
    "answer_options": "answer_options",
    "answer_options_inline": "answer_options_inline",
    "subject": "subject_text",
    "type_name": "type_name",
    "explanation": "basis_text",
}


def _render_expr(parts: list[tuple[str, str]]) -> tuple[str, list]:
    """[(literal, placeholder)...] -> a concat() expression and its parameters."""
    pieces, params = [], []
    for literal, name in parts:
        if literal:
            pieces.append("?::VARCHAR")
            params.append(literal)
        if name:
            pieces.append(PLACEHOLDERS[name])
    if not pieces:
        return "''", []
    return "concat(" + ", ".join(pieces) + ")", params


_PLACEHOLDER_SQL = {
    # only a stem holding a bracket or `__` can hold a blank: the regex runs on those alone
    "q": ("CASE WHEN contains(question, '（') OR contains(question, '(') OR contains(question, '__') "
          "THEN regexp_replace(question, " + _lit(BLANK) + ", '___', 'g') ELSE question END"),
    "options_lines": "array_to_string(list_transform(opts, lambda o: o.label || '. ' || o.text || chr(10)), '')",
    "options_inline": ("array_to_string(list_transform(opts, lambda o: o.label || '. ' || o.text), '; ') "
                       "|| CASE WHEN len(opts) > 0 THEN ';' ELSE '' END"),
    "answer_options": ("array_to_string(list_transform(list_filter(opts, lambda o: list_contains(answer_labels, o.label)), "
                       "lambda o: o.label || '. ' || o.text), chr(10))"),
    "answer_options_inline": ("array_to_string(list_transform(list_filter(opts, lambda o: list_contains(answer_labels, o.label)), "
                              "lambda o: o.label || '. ' || o.text), '； ')"),
    "answer_letters": "array_to_string(answer_labels, '')",
    "subject_text": "coalesce(subject, '')",
    "basis_text": "coalesce(basis, '')",
    "type_name": "CASE qtype " + " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in TYPE_NAMES.items()) + " ELSE '' END",
}
_NEEDS_OPTIONS = {"options_lines", "options_inline", "answer_options", "answer_options_inline", "answer_letters"}


def _source_sql(shuffle: int, seed: int, used: set[str]) -> tuple[str, list]:
    """The questions of a dataset with the placeholders a template uses computed; with ``shuffle`` K, K
    extra copies of each choice question with options in a seeded order and the answer relabelled."""
    needs_opts = bool(used & _NEEDS_OPTIONS) or shuffle
    if shuffle:
        copies = f"""
        base AS (SELECT q.*, from_json(q.options, '{_OPTS_TYPE}') AS opts0 FROM exam_questions q WHERE q.dataset_id = ?),
        n AS (SELECT b.*, k.copy FROM base b, range(0, ? + 1) k(copy)
              WHERE k.copy = 0 OR (b.qtype IN ('single', 'multi') AND len(b.opts0) >= 2)),
        p AS (SELECT *, CASE WHEN copy = 0 THEN range(1, len(opts0) + 1) ELSE list_transform(
                 list_sort(list_transform(range(1, len(opts0) + 1),
                   lambda i: {{'h': md5(? || ':' || id || ':' || copy || ':' || i), 'i': i}})), lambda s: s.i) END AS perm
              FROM n),
        src AS (SELECT * EXCLUDE (opts0, perm, answer_labels),
                  list_transform(perm, lambda pi, j: {{'label': chr((64 + j)::INTEGER), 'text': opts0[pi].text}}) AS opts,
                  CASE WHEN copy = 0 THEN answer_labels ELSE list_filter(
                    list_transform(perm, lambda pi, j: CASE WHEN list_contains(answer_labels, opts0[pi].label) THEN chr((64 + j)::INTEGER) END),
                    lambda x: x IS NOT NULL) END AS answer_labels
                FROM p)"""
        params = [shuffle, str(seed)]
    else:
        opts = f"from_json(q.options, '{_OPTS_TYPE}')" if needs_opts else "NULL"
        copies = f"""
        src AS (SELECT q.*, 0 AS copy, {opts} AS opts FROM exam_questions q WHERE q.dataset_id = ?)"""
        params = []
    cols = "".join(f",\n          {_PLACEHOLDER_SQL[c]} AS {c}" for c in sorted(used) if c in _PLACEHOLDER_SQL)
    sql = f"""
    WITH {copies.strip()},
    r AS (SELECT src.*{cols} FROM src)"""
    return sql, params


def _used(*templates: list[tuple[str, str]]) -> set[str]:
    return {PLACEHOLDERS[name] for t in templates for _unused, name in t if name}


def _rendered(instruction, output, qtypes, shuffle: int, seed: int):
    """What the preview and the conversion both render questions with: the source rows (with shuffled
    copies), the two template expressions and the type filter, each with its parameters."""
    src, p_src = _source_sql(shuffle, seed, _used(instruction, output))
    ins, p_ins = _render_expr(instruction)
    out, p_out = _render_expr(output)
    where, p_where = ("WHERE qtype IN (SELECT unnest(?::VARCHAR[]))", [list(qtypes)]) if qtypes else ("", [])
    return src, p_src, ins, p_ins, out, p_out, where, p_where


def render_rows(dataset_id: int, instruction: list[tuple[str, str]], output: list[tuple[str, str]],
                *, limit: int = 5, qtypes: tuple[str, ...] | None = None, shuffle: int = 0, seed: int = 0,
                cur=None) -> list[dict[str, Any]]:
    """A live preview: the first ``limit`` questions rendered through a template."""
    src, p_src, ins, p_ins, out, p_out, where, p_where = _rendered(instruction, output, qtypes, shuffle, seed)
    sql = f"""{src}
    SELECT id AS question_id, copy, qtype, {ins} AS instruction, {out} AS output FROM r {where}
    ORDER BY id, copy LIMIT ?"""
    params = [dataset_id, *p_src, *p_ins, *p_out, *p_where, limit]
    return db.rows(sql, params, cur=cur)


def insert_samples(cur, source_id: int, target_id: int, instruction, output, *, origin: str, template: str,
                   prefix: str | None, system: str | None, qtypes: tuple[str, ...] | None,
                   shuffle: int = 0, seed: int = 0) -> int:
    """Render every question of ``source_id`` and insert the pairs into ``target_id`` (status accepted), in
    question order (sorted: an edited question is no longer where its id would put it in the table)."""
    src, p_src, ins, p_ins, out, p_out, where, p_where = _rendered(instruction, output, qtypes, shuffle, seed)
    n = cur.execute(f"{src} SELECT count(*) FROM r {where}", [source_id, *p_src, *p_where]).fetchone()[0]
    first = db.reserve_ids("seq_samples", n, cur=cur)   # numbered here, the insert runs in parallel
    sql = f"""
    INSERT INTO samples (id, dataset_id, instruction, input, output, system, status, tags, origin, qtype,
                         question_id, import_id, source_file, source_row, template)
    {src}
    SELECT ? - 1 + row_number() OVER (ORDER BY id, copy), ?, concat(?::VARCHAR, {ins}), '', {out}, ?, 'accepted',
           CASE WHEN copy > 0 THEN ['shuffled'] ELSE []::VARCHAR[] END, ?, qtype, id, import_id, source_file, source_row, ?
    FROM r {where} ORDER BY id, copy"""
    params = [source_id, *p_src, first, target_id, prefix or "", *p_ins, *p_out, system, origin, template, *p_where]
    return cur.execute(sql, params).fetchone()[0]


def delete_converted(cur, source_id: int, target_id: int, origin: str) -> int:
    """Remove the pairs of one origin earlier converted from ``source_id``'s questions into ``target_id``."""
    return cur.execute("""DELETE FROM samples WHERE dataset_id = ? AND origin = ?
                          AND question_id IN (SELECT id FROM exam_questions WHERE dataset_id = ?)""",
                       [target_id, origin, source_id]).fetchone()[0]


def set_dataset_prompt(cur, dataset_id: int, *, system: str | None, prefix: str | None) -> None:
    cur.execute("UPDATE datasets SET system_prompt = ?, domain_prefix = ?, updated_at = current_timestamp WHERE id = ?",
                [system, prefix, dataset_id])


def sample_rows(dataset_id: int, limit: int = 20, *, cur=None) -> list[dict[str, Any]]:
    return db.rows("""SELECT id, instruction, input, output, system, status, origin, qtype, question_id, template, tags
                      FROM samples WHERE dataset_id = ? ORDER BY id LIMIT ?""", [dataset_id, limit], cur=cur)


# ------------------------------------------------------------------ templates

def ensure_templates(builtins: dict[str, dict], *, cur=None) -> None:
    """Insert the built-in convert templates that are missing (user edits of them are kept). A read first:
    pages call this on every render, and a write each time would queue behind other writers."""
    have = {r["name"] for r in db.rows("SELECT name FROM templates WHERE kind = 'convert'", cur=cur)}
    missing = {name: body for name, body in builtins.items() if name not in have}
    if not missing:
        return
    c = cur or db.cursor()
    for name, body in missing.items():
        c.execute("""INSERT INTO templates (name, kind, body, builtin) VALUES (?, 'convert', ?, true)
                     ON CONFLICT DO NOTHING""", [name, json.dumps(body, ensure_ascii=False)])


def list_templates(*, cur=None) -> list[dict[str, Any]]:
    got = db.rows("SELECT id, name, body, builtin, version FROM templates WHERE kind = 'convert' ORDER BY builtin DESC, name",
                  cur=cur)
    for r in got:
        r["body"] = json.loads(r["body"]) if isinstance(r["body"], str) else r["body"]
    return got


def get_template(name: str, *, cur=None) -> dict[str, Any] | None:
    r = db.one("SELECT id, name, body, builtin, version FROM templates WHERE kind = 'convert' AND name = ?", [name], cur=cur)
    if r:
        r["body"] = json.loads(r["body"]) if isinstance(r["body"], str) else r["body"]
    return r


def save_template(name: str, body: dict, *, cur=None) -> int:
    """Create or replace a user template (built-in names are refused by the caller)."""
    c = cur or db.cursor()
    text = json.dumps(body, ensure_ascii=False)
    got = c.execute("""UPDATE templates SET body = ?, version = version + 1, updated_at = now()
                       WHERE kind = 'convert' AND name = ? RETURNING id""", [text, name]).fetchone()
    if got:
        return got[0]
    return c.execute("INSERT INTO templates (name, kind, body) VALUES (?, 'convert', ?) RETURNING id",
                     [name, text]).fetchone()[0]


def delete_template(name: str, *, cur=None) -> None:
    (cur or db.cursor()).execute("DELETE FROM templates WHERE kind = 'convert' AND name = ? AND NOT builtin", [name])


# ------------------------------------------------------------------ editing questions (the Exam questions page)

_FIND_WHERE = """dataset_id = ?
    AND (?::VARCHAR IS NULL OR qtype = ?)
    AND (?::VARCHAR IS NULL OR ?::BIGINT = id OR strpos(lower(concat_ws(' ', question, options::VARCHAR,
         answer_text, basis, subject, ext_id)), lower(?)) > 0)"""


def _find_params(dataset_id: int, search: str | None, qtype: str | None) -> list:
    as_id = int(search.lstrip("#")) if search and search.lstrip("#").isdigit() else None
    return [dataset_id, qtype, qtype, search or None, as_id, search or ""]


def find_questions(dataset_id: int, *, search: str | None = None, qtype: str | None = None, limit: int = 20,
                   offset: int = 0, cur=None) -> tuple[int, list[dict[str, Any]]]:
    """(how many match, one page of them): questions of a dataset whose text, options, answer, basis,
    subject or own id contain ``search`` (``#12`` / ``12`` also finds question 12), of type ``qtype``."""
    params = _find_params(dataset_id, search, qtype)
    total = db.scalar(f"SELECT count(*) FROM exam_questions WHERE {_FIND_WHERE}", params, cur=cur)
    page = db.rows(f"""SELECT id, ext_id, subject, qtype, question, options, answer_labels, answer_text, basis,
                              source_file, source_sheet, source_row, version, updated_at
                       FROM exam_questions WHERE {_FIND_WHERE} ORDER BY id LIMIT ? OFFSET ?""",
                   params + [limit, offset], cur=cur)
    return total, page


def get_question(question_id: int, *, cur=None) -> dict[str, Any] | None:
    return db.one("""SELECT id, dataset_id, ext_id, subject, qtype, question, options, answer_labels, answer_text,
                            basis, source_file, source_sheet, source_row, version, updated_at
                     FROM exam_questions WHERE id = ?""", [question_id], cur=cur)


def converted_pairs(question_ids: list[int], *, cur=None) -> list[dict[str, Any]]:
    """Per question and target dataset: the pairs converted from it, and how many predate its last fix."""
    if not question_ids:
        return []
    return db.rows("""SELECT s.question_id, d.name AS dataset, s.origin, count(*) AS n,
                             count(*) FILTER (WHERE s.created_at < q.updated_at) AS stale
                      FROM samples s JOIN datasets d ON d.id = s.dataset_id JOIN exam_questions q ON q.id = s.question_id
                      WHERE s.question_id IN (SELECT unnest(?::BIGINT[])) AND s.origin LIKE 'exam-%'
                      GROUP BY ALL ORDER BY s.question_id, dataset, s.origin""", [list(question_ids)], cur=cur)


def converted_targets(dataset_id: int, *, cur=None) -> list[dict[str, Any]]:
    """The datasets holding pairs converted from a bank: per target and origin, the pairs, how many predate
    their question's last fix, and the template most of them were rendered with."""
    return db.rows("""SELECT d.name AS dataset, s.origin, count(*) AS n,
                             count(*) FILTER (WHERE s.created_at < q.updated_at) AS stale, mode(s.template) AS template
                      FROM samples s JOIN exam_questions q ON q.id = s.question_id JOIN datasets d ON d.id = s.dataset_id
                      WHERE q.dataset_id = ? AND s.origin LIKE 'exam-%'
                      GROUP BY ALL ORDER BY dataset, s.origin""", [dataset_id], cur=cur)
