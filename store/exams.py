"""Exam banks in SQL: staging a file's cells, parsing every row at once, storing questions, converting
them into training pairs, and the convert templates.

The parse runs as two set-based statements over a temporary table of text cells (``exam_raw``), so a
million-row bank is parsed at DuckDB's speed rather than a Python loop's:

1. ``exam_stage``: per row, the cleaned cells, the options split (separate columns, one cell with
   ``A. x,B. y`` / ``A.admin B.root`` / ``A．x`` / new lines / ``&`` / ``;`` / a JSON array or object, or
   ``stem&opt&opt`` in the question cell), the answer read as labels (letters in any form, ``B. 绝缘靴``,
   option text, several option texts), its judge reading, and a type inferred from content.
2. ``exam_final``: the decided type (stated when recognisable and consistent, else inferred) and the
   first reason the row is invalid, if any; options as ``[{label, text}]``, the answer as labels and text.

Python (``studio.exams``) only decides per-file questions between the two (what an unknown type code
means, how 0/1 judge answers read) from small GROUP BY results. User text only enters as parameters;
column identifiers are our own ``c1..cN``.
"""
from __future__ import annotations

import json
from typing import Any

from store import db

WS = " \t\r\n\u3000\u00a0\u200b\ufeff"
SEPS = ",，;；、|"
FULL_LETTERS = ("ＡＢＣＤＥＦＧＨａｂｃｄｅｆｇｈ", "ABCDEFGHabcdefgh")
# a label at the start or after a separator: `A.` `B、` `(C)` `D:` `A．`
LABEL_AT = "(?:^|[" + WS + SEPS + "]+)[(（]?([A-H])[ \t\u3000]*[.．、:：)）]"
LABEL_SPLIT = "(?:^|[" + WS + SEPS + "]+)[(（]?[A-H][ \t\u3000]*[.．、:：)）][ \t\u3000]*"
LABEL_START = "^[(（]?[A-H][ \t\u3000]*[.．、:：)）]"
BLANK = "[（(][ \t\u3000\u00a0]*[)）]|__+"
JUDGE_TRUE = ("正确", "对", "√", "✓", "✔", "T", "TRUE", "Y", "YES", "是", "对的", "正确的", "RIGHT", "☑")
JUDGE_FALSE = ("错误", "错", "×", "✗", "✘", "X", "F", "FALSE", "N", "NO", "否", "错的", "错误的", "WRONG", "☒", "╳")
JUDGE_AMBIGUOUS = ("0", "1")
_OPTS_TYPE = '[{"label":"VARCHAR","text":"VARCHAR"}]'
TYPE_NAMES = {"single": "单选题", "multi": "多选题", "judge": "判断题", "blank": "填空题", "open": "问答题"}


def _lit(text: str) -> str:
    """A SQL string literal of our own constants (never user text)."""
    return "'" + text.replace("'", "''") + "'"


def _in(values) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _clean(expr: str) -> str:
    return f"nullif(trim({expr}, {_lit(WS)}), '')"


# ------------------------------------------------------------------ staging the cells

def create_raw(cur, ncols: int) -> None:
    """The temporary table of text cells: sheet, row number, c1..cN."""
    cols = ", ".join(f"c{i} VARCHAR" for i in range(1, ncols + 1))
    cur.execute(f"CREATE OR REPLACE TEMP TABLE exam_raw (sheet VARCHAR, row_no INTEGER{', ' + cols if cols else ''})")


def insert_raw_rows(cur, sheet: str, rows: list[tuple[int, list[str | None]]], ncols: int) -> None:
    """Add parsed rows (row number, cells) of one sheet, through Arrow (no per-row INSERT)."""
    import pyarrow as pa

    data = {"sheet": pa.array([sheet] * len(rows), pa.string()),
            "row_no": pa.array([r[0] for r in rows], pa.int32())}
    for i in range(ncols):
        data[f"c{i + 1}"] = pa.array([cells[i] if i < len(cells) else None for _, cells in rows], pa.string())
    table = pa.table(data)
    cur.register("exam_raw_in", table)
    try:
        cur.execute("INSERT INTO exam_raw SELECT * FROM exam_raw_in")
    finally:
        cur.unregister("exam_raw_in")


def insert_raw_csv(cur, sheet: str, path: str, ncols: int, delimiter: str, *, display_name: str) -> None:
    """Add a UTF-8 CSV read by DuckDB itself; strict: a row with more fields than the first is an error."""
    import duckdb

    try:
        _insert_raw_csv(cur, sheet, path, ncols, delimiter)
    except duckdb.Error as err:
        raise _csv_error(err, path, ncols, delimiter, display_name) from None


def _csv_error(err: Exception, path: str, ncols: int, delimiter: str, name: str):
    import csv
    import itertools
    import re

    from studio.core.errors import InputError

    text = str(err)
    m = re.search(r"CSV Error on Line: (\d+)", text)
    if m:
        line_no = int(m.group(1))
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            line = next(itertools.islice(f, line_no - 1, None), "")
        found = len(next(csv.reader([line], delimiter=delimiter), []))
        if "Expected Number of Columns" in text and found > ncols:
            return InputError(f"line {line_no} has {found} fields where the first row has {ncols} "
                              "(an unquoted delimiter inside a cell?); fix the file or quote that cell", file=name)
        if "Maximum line size" in text:
            return InputError(f"line {line_no} is longer than 16 MB: not an exam bank, or a broken file", file=name)
        return InputError(f"malformed CSV at line {line_no}: {text.splitlines()[0][:200]}", file=name)
    if "unicode" in text.lower() or "utf" in text.lower():
        return InputError("not valid UTF-8 text past the start of the file (mixed encodings?)", file=name)
    return InputError(f"cannot read the CSV: {text.splitlines()[0][:200]}", file=name)


def _insert_raw_csv(cur, sheet: str, path: str, ncols: int, delimiter: str) -> None:
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, ncols + 1)) + "}"
    cleaned = ", ".join(f"{_fast_clean(f'c{i}')} AS c{i}" for i in range(1, ncols + 1))
    any_text = " OR ".join(f"c{i} IS NOT NULL" for i in range(1, ncols + 1))
    cur.execute(f"""
        INSERT INTO exam_raw
        SELECT * FROM (
          SELECT ? AS sheet, (row_number() OVER ())::INTEGER AS row_no, {cleaned}
          FROM read_csv(?, columns = {columns}, auto_detect = false, header = false, delim = ?,
                        quote = '"', escape = '"', strict_mode = true, null_padding = true,
                        max_line_size = 16000000, parallel = true))
        WHERE {any_text}  -- rows with no text at all are not questions (blank trailing rows)""",
                [sheet, path, delimiter])


def raw_head(cur, sheet: str, ncols: int, limit: int = 300) -> list[tuple[int, list[str | None]]]:
    """The first rows of a staged sheet (for header and mapping detection)."""
    cols = ", ".join(f"c{i}" for i in range(1, ncols + 1))
    got = cur.execute(f"SELECT row_no, {cols} FROM exam_raw WHERE sheet = ? ORDER BY row_no LIMIT ?",
                      [sheet, limit]).fetchall()
    out = []
    for r in got:
        cells = list(r[1:])
        while cells and cells[-1] is None:
            cells.pop()
        out.append((r[0], cells))
    return out


def raw_count(cur, sheet: str, after_row: int) -> int:
    return cur.execute("SELECT count(*) FROM exam_raw WHERE sheet = ? AND row_no > ?", [sheet, after_row]).fetchone()[0]


def max_cell_length(cur, ncols: int) -> tuple[int, str, int] | None:
    """The longest cell (length, sheet, row) of the staged cells."""
    if not ncols:
        return None
    longest = " , ".join(f"coalesce(length(c{i}), 0)" for i in range(1, ncols + 1))
    expr = f"greatest({longest})" if ncols > 1 else longest
    return cur.execute(f"SELECT {expr} AS n, sheet, row_no FROM exam_raw ORDER BY n DESC LIMIT 1").fetchone()


# ------------------------------------------------------------------ stage 1: split and read

def create_stage(cur) -> None:
    cur.execute("""CREATE OR REPLACE TEMP TABLE exam_stage (
        sheet VARCHAR, sheet_ord INTEGER, row_no INTEGER, ext_id VARCHAR, subject VARCHAR, type_raw VARCHAR,
        stated VARCHAR, stem VARCHAR, basis VARCHAR, answer VARCHAR, opt_labels VARCHAR[], opt_texts VARCHAR[],
        opt_error VARCHAR, ans_labels VARCHAR[], ans_letters BOOLEAN, judge_word VARCHAR, judge_opts BOOLEAN,
        has_blank BOOLEAN, inferred VARCHAR)""")


def _col(fields: dict[str, int], name: str) -> str:
    return f"c{fields[name] + 1}" if name in fields else "NULL"


def _fast_clean(expr: str) -> str:
    """``_clean`` for hot paths: the costly trim with a character list only where an edge needs it."""
    return (f"CASE WHEN regexp_matches({expr}, '^[{WS}]|[{WS}]$') THEN nullif(trim({expr}, {_lit(WS)}), '') "
            f"ELSE nullif({expr}, '') END")


def _answer(col: str) -> str:
    """The answer cell without a leading ``答案：`` / ``正确答案:``."""
    prefix = _lit("^(?:正确|参考|标准)?答案[ \t\u3000]*[:：]")
    return (f"CASE WHEN regexp_matches({col}, {prefix}) THEN "
            f"{_fast_clean(f'regexp_replace({col}, {prefix}, {_lit(chr(39) * 0)})')} ELSE {col} END")


def stage_sheet(cur, sheet: str, sheet_ord: int, fields: dict[str, int], header_row: int | None,
                options_in_question: str | None) -> None:
    """Parse one sheet's rows (after the header) into ``exam_stage``. Cells arrive trimmed (NULL when
    empty) from ``insert_raw_*``. ``options_in_question``: ``&`` (``题目&选项&选项``) or ``labels``
    (``题目 A. x B. y`` in the question cell), else None."""
    letters = [l for l in "ABCDEFGH" if l in fields]
    q = _col(fields, "question")
    source = "exam_raw"
    if options_in_question == "labels":
        # the stem is what precedes the first `A.` label that starts the cell or follows white space
        a_label = "[(（]?[AＡ][ \t\u3000]*[.．、:：)）]"
        has_a = _lit("(?:^|[" + WS + "])" + a_label)
        before_a = _lit("^([\\s\\S]*?)(?:^|[" + WS + "]+)" + a_label)
        source = (f"(SELECT *, CASE WHEN regexp_matches({q}, {has_a}) "
                  f"THEN regexp_extract({q}, {before_a}, 1) END AS stem_part FROM exam_raw)")
        stem = _fast_clean(f"coalesce(stem_part, {q})")
    elif options_in_question:
        stem = _fast_clean(f"split_part({q}, '&', 1)")
    else:
        stem = q
    if letters:
        cols = "[" + ", ".join(f"c{fields[l] + 1}" for l in letters) + "]"
        labels = "[" + ", ".join(_lit(l) for l in letters) + "]"
        opt_src = f"{cols} AS oc_cols, {labels} AS oc_labels, NULL::VARCHAR AS oc"
        opt_kind = "'cols'"
    elif "options" in fields:
        opt_src = f"NULL::VARCHAR[] AS oc_cols, NULL::VARCHAR[] AS oc_labels, {_col(fields, 'options')} AS oc"
        opt_kind = "NULL"
    elif options_in_question == "labels":
        opt_src = ("NULL::VARCHAR[] AS oc_cols, NULL::VARCHAR[] AS oc_labels, "
                   f"CASE WHEN stem_part IS NOT NULL THEN {_fast_clean(f'substr({q}, length(stem_part) + 1)')} END AS oc")
        opt_kind = "NULL"
    elif options_in_question:
        opt_src = (f"NULL::VARCHAR[] AS oc_cols, NULL::VARCHAR[] AS oc_labels, "
                   f"CASE WHEN contains({q}, '&') THEN substr({q}, strpos({q}, '&') + 1) END AS oc")
        opt_kind = "CASE WHEN oc IS NULL THEN 'none' ELSE 'amp' END"
    else:
        opt_src = "NULL::VARCHAR[] AS oc_cols, NULL::VARCHAR[] AS oc_labels, NULL::VARCHAR AS oc"
        opt_kind = "'none'"
    trim_ws = _lit(WS)
    trim_opt = _lit(WS + SEPS)
    fl, tl = (_lit(x) for x in FULL_LETTERS)
    keep = f"lambda x: x IS NOT NULL AND trim(x, {trim_ws}) <> ''"
    # several option texts in the answer: every piece must be an option's text
    by_text = ("list_transform([list_transform(list_filter(list_transform({split}, lambda x: trim(x, " + trim_ws + ")), "
               "lambda x: x <> ''), lambda p: list_position(opt_texts, p))], lambda pos: CASE WHEN len(pos) > 1 AND "
               "list_bool_and(list_transform(pos, lambda x: x IS NOT NULL)) THEN list_sort(list_distinct("
               "list_transform(pos, lambda x: opt_labels[x]))) END)[1]")
    sql = f"""
    INSERT INTO exam_stage
    WITH s AS (
        SELECT row_no, {_col(fields, 'id')} AS ext_id, {_col(fields, 'subject')} AS subject,
               {_col(fields, 'type')} AS type_raw, {stem} AS stem,
               {_col(fields, 'explanation')} AS basis, {_answer(_col(fields, 'answer'))} AS answer,
               {opt_src}
        FROM {source} WHERE sheet = ? AND row_no > ?
    ),
    k AS (
        SELECT *,
          CASE WHEN regexp_matches(oc, '[ＡＢＣＤＥＦＧＨ]') THEN translate(oc, 'ＡＢＣＤＥＦＧＨ', 'ABCDEFGH') ELSE oc END AS ocn,
          coalesce({opt_kind}, CASE
            WHEN oc IS NULL THEN 'none'
            WHEN left(oc, 1) = '[' AND json_valid(oc) THEN 'jsonarr'
            WHEN left(oc, 1) = '{{' AND json_valid(oc) THEN 'jsonobj'
            WHEN regexp_matches(oc, {_lit(LABEL_START.replace('[A-H]', '[A-HＡ-Ｈ]'))}) THEN 'labelled'
            WHEN contains(oc, chr(10)) THEN 'lines'
            WHEN contains(oc, '&') THEN 'amp'
            WHEN contains(oc, '|') THEN 'pipe'
            WHEN contains(oc, ';') OR contains(oc, '；') THEN 'semi'
            ELSE 'one' END) AS okind
        FROM s
    ),
    o AS (
        SELECT *,
          CASE okind
            WHEN 'cols' THEN list_filter(oc_cols, lambda x: x IS NOT NULL)
            WHEN 'none' THEN []::VARCHAR[]
            WHEN 'labelled' THEN CASE WHEN regexp_matches(ocn, '[{SEPS}]$')
                THEN list_transform(regexp_split_to_array(ocn, {_lit(LABEL_SPLIT)})[2:], lambda x: trim(x, {trim_opt}))
                ELSE regexp_split_to_array(ocn, {_lit(LABEL_SPLIT)})[2:] END
            ELSE list_transform(list_filter(CASE okind
                WHEN 'jsonarr' THEN from_json(oc, '["VARCHAR"]')
                WHEN 'jsonobj' THEN json_extract_string(oc, '$.*')
                WHEN 'lines' THEN string_split(replace(oc, chr(13), ''), chr(10))
                WHEN 'amp' THEN string_split(oc, '&')
                WHEN 'pipe' THEN string_split(oc, '|')
                WHEN 'semi' THEN regexp_split_to_array(oc, '[;；]')
                ELSE [oc] END, {keep}), lambda x: trim(x, {trim_opt}))
          END AS opt_texts,
          CASE okind
            WHEN 'cols' THEN list_filter(oc_labels, lambda x, i: oc_cols[i] IS NOT NULL)
            WHEN 'labelled' THEN regexp_extract_all(ocn, {_lit(LABEL_AT)}, 1)
            WHEN 'jsonobj' THEN list_transform(json_keys(oc), lambda x: upper(trim(x)))
            ELSE NULL END AS given_labels
        FROM k
    ),
    o2 AS (
        SELECT * EXCLUDE (given_labels, oc_cols, oc_labels, ocn),
          coalesce(given_labels, list_transform(range(1, len(opt_texts) + 1), lambda i: chr((64 + i)::INTEGER))) AS opt_labels,
          CASE
            WHEN okind = 'labelled' AND given_labels <> list_transform(range(1, len(given_labels) + 1), lambda i: chr((64 + i)::INTEGER))
              THEN 'cannot split the options: labels ' || array_to_string(given_labels, ', ') || ' are not A, B, C… in order'
            WHEN okind = 'labelled' AND list_contains(opt_texts, '')
              THEN 'an option is empty in "' || left(oc, 60) || '"'
          END AS opt_error,
          CASE WHEN answer IS NULL THEN NULL
               WHEN regexp_matches(answer, {_lit('[' + FULL_LETTERS[0] + ']')}) THEN upper(translate(answer, {fl}, {tl}))
               ELSE upper(answer) END AS an
        FROM o
    ),
    a AS (
        SELECT *,
          regexp_replace(an, '[' || {_lit(WS + SEPS)} || '/&和\\[\\]"''.．]+', '', 'g') AS a_letters
        FROM o2
    ),
    a3 AS (
        SELECT *,
          regexp_full_match(a_letters, '[A-H]+') AS ans_letters,
          CASE WHEN length(an) <= 12 THEN regexp_replace(an, '[' || {_lit(WS)} || '。.!！]+$', '') END AS aj
        FROM a
    ),
    r AS (
        SELECT *,
          CASE
            WHEN answer IS NULL THEN NULL
            WHEN len(opt_texts) >= 1 AND ans_letters AND list_has_all(opt_labels, string_split(a_letters, ''))
              THEN list_sort(list_distinct(string_split(a_letters, '')))
            WHEN len(opt_texts) >= 1 AND regexp_matches(an, {_lit(LABEL_START)})
              THEN list_sort(list_distinct(regexp_extract_all(an, {_lit(LABEL_AT)}, 1)))
            WHEN list_position(opt_texts, answer) IS NOT NULL THEN [opt_labels[list_position(opt_texts, answer)]]
            WHEN len(opt_texts) >= 1 THEN coalesce(
              {by_text.format(split="regexp_split_to_array(answer, '[&;；|' || chr(10) || ']')")},
              {by_text.format(split="regexp_split_to_array(answer, '[,，、]')")},
              CASE WHEN ans_letters THEN list_sort(list_distinct(string_split(a_letters, ''))) END)
          END AS ans_labels,
          CASE WHEN aj IN {_in(JUDGE_TRUE)} THEN 'true' WHEN aj IN {_in(JUDGE_FALSE)} THEN 'false'
               WHEN aj IN {_in(JUDGE_AMBIGUOUS)} THEN aj END AS judge_word,
          (len(opt_texts) = 2 AND (
             (upper(opt_texts[1]) IN {_in(JUDGE_TRUE)} AND upper(opt_texts[2]) IN {_in(JUDGE_FALSE)}) OR
             (upper(opt_texts[1]) IN {_in(JUDGE_FALSE)} AND upper(opt_texts[2]) IN {_in(JUDGE_TRUE)}))) AS judge_opts,
          coalesce(regexp_matches(stem, {_lit(BLANK)}), false) AS has_blank,
          CASE
            WHEN type_raw IS NULL THEN NULL
            WHEN regexp_matches(lower(type_raw), '多选|多项|不定项|multi|multiple') THEN 'multi'
            WHEN regexp_matches(lower(type_raw), '单选|单项|single') THEN 'single'
            WHEN regexp_matches(lower(type_raw), '判断|是非|对错|judge|true.?false|^tf$|boolean') THEN 'judge'
            WHEN regexp_matches(lower(type_raw), '填空|blank|fill|cloze') THEN 'blank'
            WHEN regexp_matches(lower(type_raw), '问答|简答|论述|计算|案例|分析|名词解释|open|essay|short') THEN 'open'
            WHEN regexp_matches(lower(type_raw), '选择|choice') THEN 'choice'
          END AS stated
        FROM a3
    )
    SELECT ? AS sheet, ? AS sheet_ord, row_no, ext_id, subject, type_raw, stated, stem, basis, answer,
      opt_labels, opt_texts, opt_error, ans_labels, ans_letters, judge_word, judge_opts, has_blank,
      CASE
        WHEN judge_opts THEN 'judge'
        WHEN len(opt_texts) >= 2 THEN CASE WHEN len(ans_labels) > 1 THEN 'multi' ELSE 'single' END
        WHEN len(opt_texts) = 1 AND ans_letters THEN 'single'
        WHEN answer IS NULL THEN CASE WHEN has_blank THEN 'blank' ELSE 'open' END
        WHEN judge_word IN ('true', 'false') THEN 'judge'
        WHEN judge_word IS NOT NULL THEN 'judge01'
        WHEN ans_letters AND len(a_letters) <= 8 AND NOT has_blank THEN 'single'
        WHEN has_blank THEN 'blank'
        ELSE 'open'
      END AS inferred
    FROM r
    WHERE stem IS NOT NULL OR answer IS NOT NULL OR len(opt_texts) > 0
    """
    cur.execute(sql, [sheet, header_row or 0, sheet, sheet_ord])


def stage_type_counts(cur) -> list[dict[str, Any]]:
    """(sheet, type as written, recognised type, inferred type, rows) — for per-file decisions."""
    return db.rows("""SELECT sheet, type_raw, stated, inferred, count(*) AS n FROM exam_stage
                      GROUP BY ALL ORDER BY n DESC""", cur=cur)


def stage_judge_words(cur) -> list[dict[str, Any]]:
    """How often each 0/1 judge answer appears on rows without options."""
    return db.rows("""SELECT judge_word AS word, count(*) AS n FROM exam_stage
                      WHERE judge_word IN ('0', '1') AND len(opt_texts) = 0 GROUP BY ALL""", cur=cur)


# ------------------------------------------------------------------ stage 2: decide and validate

def build_final(cur, *, type_codes: dict[str, str], judge01: bool, zero_is_true: bool) -> None:
    """Decide each row's type and its first error into ``exam_final``."""
    codes = [[k, v] for k, v in type_codes.items()]
    amb_true, amb_false = ("0", "1") if zero_is_true else ("1", "0")
    cur.execute(f"""
    CREATE OR REPLACE TEMP TABLE exam_final AS
    WITH c AS (SELECT unnest(?::VARCHAR[][]) AS pair),
    codes AS (SELECT pair[1] AS code, pair[2] AS qtype FROM c),
    t AS (
        SELECT s.*,
          CASE
            WHEN s.stated = 'choice' THEN CASE WHEN len(s.ans_labels) > 1 THEN 'multi' ELSE 'single' END
            WHEN s.stated IS NOT NULL THEN s.stated
            WHEN codes.qtype IS NOT NULL THEN codes.qtype
            WHEN s.inferred = 'judge01' THEN CASE WHEN ? THEN 'judge' WHEN s.has_blank THEN 'blank' ELSE 'open' END
            ELSE s.inferred
          END AS qtype,
          (s.stated IS NOT NULL AND s.stated <> 'choice') OR codes.qtype IS NOT NULL AS type_given,
          CASE
            WHEN s.judge_word = 'true' OR s.judge_word = ? THEN true
            WHEN s.judge_word = 'false' OR s.judge_word = ? THEN false
            WHEN len(s.opt_texts) = 0 AND s.ans_letters AND upper(s.answer) = 'A' THEN true
            WHEN len(s.opt_texts) = 0 AND s.ans_letters AND upper(s.answer) = 'B' THEN false
            WHEN s.judge_opts AND len(s.ans_labels) = 1 AND list_position(s.opt_labels, s.ans_labels[1]) IS NOT NULL
              THEN upper(s.opt_texts[list_position(s.opt_labels, s.ans_labels[1])]) IN {_in(JUDGE_TRUE)}
          END AS truth
        FROM exam_stage s LEFT JOIN codes ON s.stated IS NULL AND codes.code = s.type_raw
    ),
    j AS (
        SELECT *,
          CASE WHEN qtype = 'judge' AND len(opt_texts) = 0 THEN ['A', 'B'] ELSE opt_labels END AS f_labels,
          CASE WHEN qtype = 'judge' AND len(opt_texts) = 0 THEN ['正确', '错误'] ELSE opt_texts END AS f_texts
        FROM t
    ),
    v AS (
        SELECT *,
          CASE WHEN qtype = 'judge' AND truth IS NOT NULL THEN
                 list_filter(f_labels, lambda l, i: (upper(f_texts[i]) IN {_in(JUDGE_TRUE)}) = truth)
               ELSE ans_labels END AS f_answer,
          list_filter(ans_labels, lambda l: NOT list_contains(opt_labels, l)) AS missing_labels,
          CASE WHEN qtype IN ('single', 'multi') THEN 'choice' ELSE qtype END AS family
        FROM j
    )
    SELECT sheet, sheet_ord, row_no, ext_id, subject, type_raw, qtype, stem, basis, answer,
      f_labels AS opt_labels, f_texts AS opt_texts,
      CASE WHEN family IN ('blank', 'open') THEN []::VARCHAR[] ELSE coalesce(f_answer, []) END AS answer_labels,
      CASE
        WHEN qtype = 'judge' THEN CASE WHEN truth THEN '正确' ELSE '错误' END
        WHEN family = 'choice' THEN array_to_string(list_transform(f_answer, lambda l: f_texts[list_position(f_labels, l)]), '; ')
        ELSE answer
      END AS answer_text,
      CASE
        WHEN stem IS NULL THEN 'empty question'
        WHEN opt_error IS NOT NULL THEN opt_error
        WHEN answer IS NULL THEN 'missing answer'
        WHEN family = 'choice' AND len(opt_texts) < 2 THEN
          'too few options (' || len(opt_texts) || ') for a ' || CASE qtype WHEN 'single' THEN 'single' ELSE 'multiple' END || '-choice question'
        WHEN family = 'choice' AND ans_labels IS NULL THEN
          'answer "' || left(answer, 40) || '" is neither an option label nor an option''s text (a shifted row?)'
        WHEN family = 'choice' AND len(missing_labels) > 0 THEN
          'answer label ' || array_to_string(missing_labels, ', ') || ' is not among the options ' || array_to_string(opt_labels, '')
        WHEN qtype = 'single' AND len(ans_labels) > 1 THEN
          'the type says single choice (' || coalesce(type_raw, '') || ') but the answer has ' || len(ans_labels) || ' labels (' || array_to_string(ans_labels, '') || ')'
        WHEN qtype = 'judge' AND len(opt_texts) > 0 AND NOT judge_opts THEN
          'the type says judge (' || coalesce(type_raw, '') || ') but the options are not 正确/错误'
        WHEN qtype = 'judge' AND truth IS NULL THEN
          'judge answer "' || left(answer, 40) || '" is not one of 正确/错误, 对/错, √/×, T/F, 是/否, 0/1, A/B'
        WHEN family IN ('blank', 'open') AND type_given AND len(opt_texts) >= 2 AND ans_letters THEN
          'the type says ' || qtype || ' (' || coalesce(type_raw, '') || ') but the row has options and a letter answer'
      END AS error
    FROM v""", [codes, judge01, amb_true, amb_false])


def final_counts(cur) -> dict[str, int]:
    got = cur.execute("SELECT qtype, count(*) FROM exam_final WHERE error IS NULL GROUP BY ALL").fetchall()
    return {k: v for k, v in got}


def final_errors(cur) -> list[dict[str, Any]]:
    return db.rows("SELECT sheet, row_no AS row, error AS reason FROM exam_final WHERE error IS NOT NULL "
                   "ORDER BY sheet_ord, row_no", cur=cur)


def final_total(cur) -> int:
    return cur.execute("SELECT count(*) FROM exam_final").fetchone()[0]


def final_preview(cur, limit: int = 20) -> list[dict[str, Any]]:
    """The first parsed rows, as a person reads them."""
    return db.rows("""SELECT sheet, row_no AS row, qtype AS type, stem AS question,
        array_to_string(list_transform(opt_labels, lambda l, i: l || '. ' || opt_texts[i]), ' | ') AS options,
        array_to_string(answer_labels, '') AS answer_labels, answer_text, subject, error
        FROM exam_final ORDER BY sheet_ord, row_no LIMIT ?""", [limit], cur=cur)


def final_duplicates(cur, dataset_id: int | None) -> list[dict[str, Any]]:
    """Rows repeating an earlier row of the file (same stem and options), or a question already in the
    dataset. Only keys seen twice are ranked, so a large bank without duplicates costs one hash pass."""
    found = db.rows("""
        WITH k AS (SELECT sheet, sheet_ord, row_no, hash(stem, opt_texts) AS key FROM exam_final WHERE error IS NULL),
        d AS (SELECT key FROM k GROUP BY key HAVING count(*) > 1),
        w AS (SELECT k.*, first_value(sheet) OVER win AS first_sheet, first_value(row_no) OVER win AS first_row,
                     row_number() OVER win AS nth
              FROM k SEMI JOIN d ON k.key = d.key WINDOW win AS (PARTITION BY k.key ORDER BY sheet_ord, row_no))
        SELECT sheet, row_no AS row, 'duplicate of row ' || first_row ||
               CASE WHEN first_sheet <> sheet THEN ' (sheet ' || first_sheet || ')' ELSE '' END AS reason
        FROM w WHERE nth > 1 ORDER BY sheet_ord, row_no""", cur=cur)
    if dataset_id is not None:
        found += db.rows(f"""
            WITH old AS (SELECT min(q.id) AS id, hash(q.question, list_transform(
                           from_json(q.options, '{_OPTS_TYPE}'), lambda o: o.text)) AS key
                         FROM exam_questions q WHERE q.dataset_id = ? GROUP BY key)
            SELECT f.sheet, f.row_no AS row, 'already in the dataset (question #' || old.id || ')' AS reason
            FROM exam_final f JOIN old ON old.key = hash(f.stem, f.opt_texts)
            WHERE f.error IS NULL ORDER BY f.sheet_ord, f.row_no""", [dataset_id], cur=cur)
    return found


def drop_temp(cur) -> None:
    for t in ("exam_raw", "exam_stage", "exam_final"):
        cur.execute(f"DROP TABLE IF EXISTS {t}")


# ------------------------------------------------------------------ storing

def insert_import(cur, dataset_id: int, source_file: str, sha256: str | None, options: dict, total: int,
                  imported: int, rejected: int, errors: list[dict]) -> int:
    return cur.execute("""INSERT INTO imports (dataset_id, kind, source_file, source_sha256, options, rows_total,
                              rows_imported, rows_rejected, errors)
                          VALUES (?, 'exam', ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                       [dataset_id, source_file, sha256, json.dumps(options, ensure_ascii=False), total,
                        imported, rejected, json.dumps(errors, ensure_ascii=False)]).fetchone()[0]


def insert_questions(cur, dataset_id: int, import_id: int, source_file: str) -> int:
    """Move the valid rows of ``exam_final`` into ``exam_questions`` in one statement."""
    return cur.execute("""
        INSERT INTO exam_questions (dataset_id, import_id, ext_id, subject, qtype, question, options,
                                    answer_labels, answer_text, basis, source_file, source_sheet, source_row)
        SELECT ?, ?, ext_id, subject, qtype, stem,
               to_json(list_transform(opt_labels, lambda l, i: {'label': l, 'text': opt_texts[i]})),
               answer_labels, answer_text, basis, ?, nullif(sheet, ''), row_no
        FROM exam_final WHERE error IS NULL ORDER BY sheet_ord, row_no""",
                       [dataset_id, import_id, source_file]).fetchone()[0]


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
            raise ValueError(f"not an editable field: {k}")
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
    "q": "regexp_replace(question, " + _lit(BLANK) + ", '___', 'g')",
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
    return {PLACEHOLDERS[name] for t in templates for _, name in t if name}


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
    """Render every question of ``source_id`` and insert the pairs into ``target_id`` (status accepted)."""
    src, p_src, ins, p_ins, out, p_out, where, p_where = _rendered(instruction, output, qtypes, shuffle, seed)
    sql = f"""
    INSERT INTO samples (dataset_id, instruction, input, output, system, status, tags, origin, qtype,
                         question_id, import_id, source_file, source_row, template)
    {src}
    SELECT ?, concat(?::VARCHAR, {ins}), '', {out}, ?, 'accepted',
           CASE WHEN copy > 0 THEN ['shuffled'] ELSE []::VARCHAR[] END, ?, qtype, id, import_id, source_file, source_row, ?
    FROM r {where} ORDER BY id, copy"""
    params = [source_id, *p_src, target_id, prefix or "", *p_ins, *p_out, system, origin, template, *p_where]
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
    """Insert the built-in convert templates that are missing (user edits of them are kept)."""
    c = cur or db.cursor()
    for name, body in builtins.items():
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
