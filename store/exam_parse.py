"""Parsing an exam bank in SQL: every staged row (``exam_raw``, see ``store.exam_cells``) read at once.

One set-based statement per sheet (``parse_sheets``) reads, decides and checks every row into the
temporary table ``exam_final``, so a million-row bank is parsed at DuckDB's speed in one pass rather than a
Python loop's (or a pass per step):

1. read: per row, the cleaned cells, the options split (separate columns, one cell with ``A. x,B. y`` /
   ``A.admin B.root`` / ``A．x`` / new lines / ``&`` / ``;`` / a JSON array of strings or of objects with
   any text key, a JSON object, or ``stem&opt&opt`` in the question cell), the answer (a JSON array
   ``["B"]`` read as its items) read as labels (letters in any form, ``B. 绝缘靴``, option text, several
   option texts, option ordinals ``2`` / ``1,3``), its judge reading, and a type inferred from content;
2. decide and check: the type (stated when recognisable, else a file's type code, else inferred; a stated
   type the content contradicts beyond doubt is read as the content's, ``exam_rules.RECLASSIFY``), the
   answer read for that type (judge answers 1/2 as option ordinals in a file that answers so), and the
   first exam rule the row breaks, if any — the rule table of ``studio.core.exam_rules`` compiled to SQL,
   the same rules the editor and generated questions are checked with; options as ``[{label, text}]``,
   the answer as labels and text; a row holding data in a column the mapping leaves unread is refused.

Step 2 needs a few per-file readings (``Decisions``: what an unknown type code means, how 0/1 and 1/2
judge answers read), which Python (``studio.data.exams.importer``) takes from small GROUP BY results over
step 1's columns, kept in ``exam_final``. The parse runs with the usual readings first; only when the file
needs others and some row depends on them does it run again (``reparse_needed``). User text only enters
as parameters; column identifiers are our own ``c1..cN``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store import db
from store.exam_cells import ROW_NO, fast_clean
from studio.core import exam_rules as rules
from studio.core.exam_rules import (
    FULL_LETTERS,
    JUDGE_AMBIGUOUS,
    JUDGE_FALSE,
    JUDGE_TRUE,
    SEPS,
    WS,
)
from studio.core.exam_rules import sql_among as _among
from studio.core.exam_rules import sql_literal as _lit
from studio.core.exam_rules import sql_text as _text
from studio.core.i18n import N_, _

_LABEL_AT = _lit(rules.LABEL_AT)
_FL, _TL = (_lit(x) for x in FULL_LETTERS)
_LABEL_START = _lit(rules.LABEL_START)
_AH = "[" + ", ".join(_lit(x) for x in rules.LABELS) + "]"   # labels A, B, C… in order, sliced per row


@dataclass(frozen=True)
class Decisions:
    """The per-file readings step 2 of the parse needs (the importer takes them from step 1's counts)."""
    type_codes: tuple[tuple[str, str], ...] = ()   # a type value we do not recognise -> the type its rows show
    judge01: bool = False      # 0/1 answers on rows without options are judge answers
    one_two: bool = False      # judge answers 1/2 are option ordinals (1 = 正确)
    zero_is_true: bool = True  # 0/1 judge answers: 0 = 正确


@dataclass
class SheetParse:
    """What the parse of one sheet reads: the field columns (0-based ``c`` indexes, derived ones too), the
    header row, options written in the question cell (``&`` / ``labels``), and columns holding data the
    mapping leaves unread, each with the reason its rows are refused."""
    sheet: str
    sheet_ord: int
    fields: dict[str, int]
    header_row: int | None
    options_in_question: str | None
    unread: list[tuple[int, str]] = field(default_factory=list)
    stated: tuple[tuple[str, str | None], ...] | None = None   # each type value and the type it names


class _Params(dict):
    """Named parameters of one statement: ``p(value)`` adds one and returns its ``$name``."""

    def __call__(self, value) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return "$" + name


# ------------------------------------------------------------------ the parse

_FINAL_COLUMNS = ("sheet VARCHAR, sheet_ord INTEGER, row_no INTEGER, ext_id VARCHAR, subject VARCHAR, type_raw VARCHAR, "
                  "stated VARCHAR, inferred VARCHAR, judge_word VARCHAR, bare BOOLEAN, judge_opts BOOLEAN, "
                  "has_blank BOOLEAN, qtype VARCHAR, stem VARCHAR, basis VARCHAR, opt_labels VARCHAR[], "
                  "opt_texts VARCHAR[], answer_labels VARCHAR[], answer_text VARCHAR, key UBIGINT, error VARCHAR")


def parse_sheets(cur, sheets: list[SheetParse], decisions: Decisions) -> None:
    """Read, decide and check every row of ``sheets`` into ``exam_final`` (replacing what it held)."""
    cur.execute(f"CREATE OR REPLACE TEMP TABLE exam_final ({_FINAL_COLUMNS})")
    for sp in sheets:
        if sp.stated is None:
            sp.stated = _type_values(cur, sp)
        p = _Params()
        cur.execute(_sheet_sql(sp, decisions, p), p)


def plan(cur, sp: SheetParse, decisions: Decisions) -> str:
    """The plan DuckDB makes for one sheet's parse (``exam_raw`` and ``exam_final`` in place): it must hold
    no join, which would give up the rows' order that the landing keeps instead of sorting."""
    p = _Params()
    return cur.execute("EXPLAIN " + _sheet_sql(sp, decisions, p), p).fetchall()[0][1]


def _sheet_sql(sp: SheetParse, d: Decisions, p: _Params) -> str:
    """The one statement that parses a sheet (steps 1 and 2)."""
    stem_part, stem, options, opt_kind = _cells(sp.fields, sp.options_in_question)
    f = sp.fields
    sheet = p(sp.sheet)
    return f"""
    INSERT INTO exam_final
    WITH src AS (
        SELECT {ROW_NO} AS row_no, * EXCLUDE (sheet, row_no){stem_part} FROM exam_raw WHERE sheet = {sheet}
    ),
    s AS (
        SELECT row_no, {_col(f, 'id')} AS ext_id, {_col(f, 'subject')} AS subject, {_col(f, 'type')} AS type_raw,
               {stem} AS stem, {_col(f, 'explanation')} AS basis, {_answer(_col(f, 'answer'))} AS answer,
               {options}, {_unread(sp.unread, p)} AS unread
        FROM src WHERE row_no > {p(sp.header_row or 0)}
    ),
    {_split_options(opt_kind)},
    {_read_answer(_stated(sp, p))},
    i AS (
        SELECT *, {_INFERRED} AS inferred FROM r
        WHERE stem IS NOT NULL OR answer IS NOT NULL OR len(opt_texts) > 0
    ),
    {_decide(d, p)}
    SELECT {sheet}, {p(sp.sheet_ord)}, row_no, ext_id, subject, type_raw, recognised, inferred, judge_word, bare,
      judge_opts, has_blank, qtype, question, basis, opt_labels, opt_texts,
      coalesce(answer_labels, []::VARCHAR[]),
      CASE
        WHEN qtype = 'judge' THEN CASE WHEN truth THEN '正确' ELSE '错误' END
        WHEN qtype IN ('single', 'multi') THEN
          array_to_string(list_transform(answer_labels, lambda l: opt_texts[list_position(opt_labels, l)]), '; ')
        ELSE answer
      END,
      hash(question, opt_texts), coalesce(error, unread)
    FROM checked"""


def _col(fields: dict[str, int], name: str) -> str:
    return f"c{fields[name] + 1}" if name in fields else "NULL"


def _unread(unread: list[tuple[int, str]], p: _Params) -> str:
    """The reason a row is refused for holding data in a column the mapping leaves unread (the first such
    column), NULL when none; it applies when no exam rule refused the row first."""
    if not unread:
        return "NULL::VARCHAR"
    return "CASE " + " ".join(f"WHEN c{col + 1} IS NOT NULL THEN {p(reason)}" for col, reason in unread) + " END"


def _type_values(cur, sp: SheetParse) -> tuple[tuple[str, str | None], ...] | None:
    """The sheet's type values and the type each names (``exam_rules.stated_type``), read once per value
    rather than once per row; None when there are too many values to list (read per row then)."""
    if "type" not in sp.fields:
        return ()
    col = _col(sp.fields, "type")
    got = cur.execute(f"""SELECT t, {rules.sql_stated_type('t')} FROM (
                              SELECT DISTINCT {col} AS t FROM exam_raw WHERE sheet = ? AND {ROW_NO} > ?)
                          WHERE t IS NOT NULL LIMIT 65""", [sp.sheet, sp.header_row or 0]).fetchall()
    return None if len(got) > 64 else tuple((t, s) for t, s in got)


def _stated(sp: SheetParse, p: _Params) -> str:
    """``stated_type`` of the column ``type_raw``: looked up among the sheet's few type values."""
    if sp.stated is None:
        return rules.sql_stated_type("type_raw")
    whens = " ".join(f"WHEN {p(t)} THEN {_lit(s)}" for t, s in sp.stated if s)
    return f"CASE type_raw {whens} END" if whens else "NULL::VARCHAR"


def _answer(col: str) -> str:
    """The answer cell without a leading ``答案：`` / ``正确答案:``; a JSON array (``["B"]``) as its items
    joined by ``; `` (``exam_rules.clean_answer``)."""
    prefix = _lit(rules.ANSWER_PREFIX)
    items = f"list_filter(from_json({col}, '[\"VARCHAR\"]'), {_KEEP})"
    return (f"CASE WHEN starts_with({col}, '[') AND json_valid({col}) AND json_type({col}) = 'ARRAY' "
            f"THEN nullif(array_to_string(list_transform({items}, lambda x: trim(x, {_lit(WS)})), '; '), '') "
            f"WHEN regexp_matches({col}, {prefix}) THEN "
            f"{fast_clean(f'regexp_replace({col}, {prefix}, {_lit(chr(39) * 0)})')} ELSE {col} END")


def _cells(fields: dict[str, int], options_in_question: str | None) -> tuple[str, str, str, str]:
    """Where a sheet's stem and options come from: (a column the source adds, the stem expression, the
    option source columns ``oc_cols, oc_labels, oc``, the kind of option cell, or NULL to sniff it per row)."""
    letters = [l for l in rules.LABELS if l in fields]
    q = _col(fields, "question")
    stem_part = ""
    if options_in_question == "labels":
        # the stem is what precedes the first `A.` label that starts the cell or follows white space
        a_label = "[(（]?[AＡ][ \t\u3000]*[.．、:：)）]"
        has_a = _lit("(?:^|[" + WS + "])" + a_label)
        before_a = _lit("^([\\s\\S]*?)(?:^|[" + WS + "]+)" + a_label)
        stem_part = f", CASE WHEN regexp_matches({q}, {has_a}) THEN regexp_extract({q}, {before_a}, 1) END AS stem_part"
        stem = fast_clean(f"coalesce(stem_part, {q})")
    elif options_in_question:
        stem = fast_clean(f"split_part({q}, '&', 1)")
    else:
        stem = q
    no_cols = "NULL::VARCHAR[] AS oc_cols, NULL::VARCHAR[] AS oc_labels"
    if letters:
        cols = "[" + ", ".join(f"c{fields[l] + 1}" for l in letters) + "]"
        labels = "[" + ", ".join(_lit(l) for l in letters) + "]"
        return stem_part, stem, f"{cols} AS oc_cols, {labels} AS oc_labels, NULL::VARCHAR AS oc", "'cols'"
    if "options" in fields:
        return stem_part, stem, f"{no_cols}, {_col(fields, 'options')} AS oc", "NULL"
    if options_in_question == "labels":
        rest = fast_clean(f"substr({q}, length(stem_part) + 1)")
        return stem_part, stem, f"{no_cols}, CASE WHEN stem_part IS NOT NULL THEN {rest} END AS oc", "NULL"
    if options_in_question:
        return (stem_part, stem, f"{no_cols}, CASE WHEN contains({q}, '&') THEN substr({q}, strpos({q}, '&') + 1) END AS oc",
                "CASE WHEN oc IS NULL THEN 'none' ELSE 'amp' END")
    return stem_part, stem, f"{no_cols}, NULL::VARCHAR AS oc", "'none'"


# problems met splitting one cell of options (the rules report them as the row's reason)
SPLIT_OUT_OF_ORDER = N_("cannot split the options: labels {labels} are not A, B, C… in order")
SPLIT_EMPTY = N_("an option is empty in \"{cell}\"")
# a label's letter and mark (`B.`, `C、`, `D)`), found wherever it stands: every label that splits a cell
# is one of them, so when there are as many as pieces they are the labels (no capturing regex per row)
_MARK = _lit("[A-H][ \t\u3000]*[.．、:：)）]")


def _split_options(opt_kind: str) -> str:
    """CTEs k, k2, o, o2: the option cell's kind (``opt_kind``, or sniffed per row when NULL), a labelled
    cell split once, then the options' texts and labels (``_OPTIONS``)."""
    return f"""k AS (
        SELECT *,
          coalesce({opt_kind}, CASE
            WHEN oc IS NULL THEN 'none'
            WHEN starts_with(oc, '[') AND json_valid(oc) THEN
              CASE WHEN regexp_matches(oc, '^\\[[ \t\r\n]*\\{{') THEN 'jsonobjs' ELSE 'jsonarr' END
            WHEN starts_with(oc, '{{') AND json_valid(oc) THEN 'jsonobj'
            WHEN regexp_matches(oc, {_lit(rules.LABEL_START.replace('[A-H]', '[A-HＡ-Ｈ]'))}) THEN 'labelled'
            WHEN contains(oc, chr(10)) THEN 'lines'
            WHEN contains(oc, '&') THEN 'amp'
            WHEN contains(oc, '|') THEN 'pipe'
            WHEN contains(oc, ';') OR contains(oc, '；') THEN 'semi'
            ELSE 'one' END) AS okind,
          -- separate columns: up to the last filled one
          len(oc_cols) + 1 - coalesce(list_position(list_reverse(list_transform(oc_cols, lambda x: x IS NOT NULL)), true),
                                      len(oc_cols) + 1) AS oc_used
        FROM s
    ),
    k2 AS (
        SELECT *, CASE WHEN okind = 'labelled' AND regexp_matches(oc, '[ＡＢＣＤＥＦＧＨ]')
                       THEN translate(oc, 'ＡＢＣＤＥＦＧＨ', 'ABCDEFGH') ELSE oc END AS ocn
        FROM k
    ),
    k3 AS (
        SELECT *, CASE WHEN okind = 'labelled' THEN regexp_split_to_array(ocn, {_SPLIT}) END AS pieces,
                  CASE WHEN okind = 'labelled' THEN regexp_extract_all(ocn, {_MARK}) END AS marks
        FROM k2
    ),
    {_OPTIONS}"""


_TRIM_OPT = _lit(WS + SEPS)
_SPLIT = _lit(rules.LABEL_SPLIT)
_KEEP = f"lambda x: x IS NOT NULL AND trim(x, {_lit(WS)}) <> ''"
# options as JSON objects (``exam_rules.option_object``): the text is the first key that holds no label
# or flag; the labels are kept only when every object names a single letter
_OPT_PREFIX = _lit(rules.OPTION_PREFIX)
_JA = f"list_filter(from_json(oc, '[\"VARCHAR\"]'), {_KEEP})"
# every string of the array starts with its label (`["A. 雨鞋", "B. 绝缘靴"]`)
_JA_LABELLED = f"coalesce(list_bool_and(list_transform({_JA}, lambda s: regexp_matches(s, {_OPT_PREFIX}))), false)"
_OJ = "json_extract(oc, '$[*]')"
_OBJ_TEXT = (f"list_transform({_OJ}, lambda e: CASE WHEN json_type(e) = 'OBJECT' THEN coalesce(json_extract_string(e, "
             f"list_filter(json_keys(e), lambda k: NOT regexp_matches(lower(k), {_lit(rules.OPTION_NOT_TEXT_KEY)}))[1]), '') "
             f"ELSE coalesce(json_extract_string(e, '$'), '') END)")
_OBJ_LABELS = (f"list_transform({_OJ}, lambda e: CASE WHEN json_type(e) = 'OBJECT' THEN upper(translate(trim(json_extract_string(e, "
               f"list_filter(json_keys(e), lambda k: regexp_matches(lower(k), {_lit(rules.OPTION_LABEL_KEY)}))[1]), "
               f"{_lit(WS + '.．、:：)）(（')}), {_lit(FULL_LETTERS[0])}, {_lit(FULL_LETTERS[1])})) END)")
# CTEs o, o2: the options' texts and labels, and why a labelled cell cannot be split (labels not A, B,
# C… or an empty option: the importer's reading problem). Separate columns keep an empty column between
# filled ones as an empty option (the rules refuse it); trailing ones are dropped. A JSON object keeps
# its keys as labels and its empty values (the rules say which is wrong).
_OPTIONS = f"""o AS (
        SELECT *,
          CASE okind
            WHEN 'cols' THEN oc_cols[1:oc_used]
            WHEN 'none' THEN []::VARCHAR[]
            WHEN 'labelled' THEN CASE WHEN regexp_matches(ocn, '[{SEPS}]$')
                THEN list_transform(pieces[2:], lambda x: trim(x, {_TRIM_OPT}))
                ELSE pieces[2:] END
            WHEN 'jsonobj' THEN list_transform(json_extract_string(oc, '$.*'), lambda x: coalesce(trim(x, {_TRIM_OPT}), ''))
            WHEN 'jsonobjs' THEN list_transform({_OBJ_TEXT}, lambda x: trim(x, {_TRIM_OPT}))
            WHEN 'jsonarr' THEN CASE WHEN {_JA_LABELLED}
                THEN list_transform({_JA}, lambda x: trim(regexp_replace(x, {_OPT_PREFIX}, ''), {_TRIM_OPT}))
                ELSE list_transform({_JA}, lambda x: trim(x, {_TRIM_OPT})) END
            ELSE list_transform(list_filter(CASE okind
                WHEN 'lines' THEN string_split(replace(oc, chr(13), ''), chr(10))
                WHEN 'amp' THEN string_split(oc, '&')
                WHEN 'pipe' THEN string_split(oc, '|')
                WHEN 'semi' THEN regexp_split_to_array(oc, '[;；]')
                ELSE [oc] END, {_KEEP}), lambda x: trim(x, {_TRIM_OPT}))
          END AS opt_texts,
          CASE okind
            WHEN 'cols' THEN oc_labels[1:oc_used]
            WHEN 'labelled' THEN CASE WHEN len(marks) = len(pieces) - 1 THEN list_transform(marks, lambda x: left(x, 1))
                ELSE regexp_extract_all(ocn, {_LABEL_AT}, 1) END
            WHEN 'jsonobj' THEN list_transform(json_keys(oc), lambda x: upper(translate(trim(x), {_FL}, {_TL})))
            WHEN 'jsonarr' THEN CASE WHEN {_JA_LABELLED} THEN list_transform({_JA}, lambda x:
                upper(translate(regexp_extract(x, {_OPT_PREFIX}, 1), {_FL}, {_TL}))) END
            WHEN 'jsonobjs' THEN CASE WHEN list_bool_and(list_transform({_OBJ_LABELS},
                lambda l: coalesce(regexp_full_match(l, '[A-Z]'), false))) THEN {_OBJ_LABELS} END
            ELSE NULL END AS given_labels
        FROM k3
    ),
    o2 AS (
        SELECT * EXCLUDE (given_labels, oc_cols, oc_labels, ocn, oc_used, pieces, marks),
          coalesce(given_labels, CASE WHEN len(opt_texts) <= 8 THEN {_AH}[1:len(opt_texts)] ELSE
                   list_transform(range(1, len(opt_texts) + 1), lambda i: chr((64 + i)::INTEGER)) END) AS opt_labels,
          CASE
            -- labels past H are never in order (A..H[1:n] is shorter than n)
            WHEN okind = 'labelled' AND given_labels <> {_AH}[1:len(given_labels)]
              AND list_unique(given_labels) = len(given_labels)  -- repeated labels: the rules say which
              THEN {_text(_(SPLIT_OUT_OF_ORDER), {"labels": "array_to_string(given_labels, ', ')"})}
            WHEN okind = 'labelled' AND list_contains(opt_texts, '')
              THEN {_text(_(SPLIT_EMPTY), {"cell": "left(oc, 60)"})}
          END AS opt_error,
          CASE WHEN answer IS NULL THEN NULL
               WHEN regexp_matches(answer, {_lit('[' + FULL_LETTERS[0] + ']')}) THEN upper(translate(answer, {_FL}, {_TL}))
               ELSE upper(answer) END AS an
        FROM o
    )"""


# several option texts in the answer: every piece must be an option's text
_BY_TEXT = ("list_transform([list_transform(list_filter(list_transform({split}, lambda x: trim(x, " + _lit(WS) + ")), "
            "lambda x: x <> ''), lambda p: list_position(opt_texts, p))], lambda pos: CASE WHEN len(pos) > 1 AND "
            "list_bool_and(list_transform(pos, lambda x: x IS NOT NULL)) THEN list_sort(list_distinct("
            "list_transform(pos, lambda x: opt_labels[x]))) END)[1]")

# option ordinals (``exam_rules.read_ordinals``): ``2`` / ``1,3`` when every digit names an option
_ORDINALS = ("CASE WHEN regexp_full_match(a_letters, '[1-8]+') AND list_bool_and(list_transform(string_split(a_letters, ''), "
             "lambda d: TRY_CAST(d AS INTEGER) <= len(opt_texts))) THEN list_sort(list_distinct(list_transform(string_split(a_letters, ''), "
             "lambda d: chr((64 + TRY_CAST(d AS INTEGER))::INTEGER)))) END")

def _read_answer(stated: str) -> str:
    """CTEs a, a3, r: the answer read as labels (``exam_rules.read_choice``), as a judge word, whether the
    options are a true/false pair, whether the stem has a blank (looked for only on rows whose reading
    can turn on it: fewer than two options, or a true/false pair answered 0/1/2), and the type as written
    (``stated``, an expression over ``type_raw``)."""
    return f"""a AS (
        SELECT *, regexp_replace(an, {_lit(rules.LABEL_NOISE)}, '', 'g') AS a_letters FROM o2
    ),
    a3 AS (
        SELECT *,
          regexp_full_match(a_letters, '[A-H]+') AS ans_letters,
          CASE WHEN length(an) <= 12 THEN regexp_replace(an, {_lit(rules.JUDGE_END)}, '') END AS aj
        FROM a
    ),
    r AS (
        SELECT *,
          CASE
            WHEN answer IS NULL THEN NULL
            -- one letter (most answers): no list to split, sort and deduplicate
            WHEN len(opt_texts) >= 1 AND ans_letters AND strlen(a_letters) = 1 AND list_contains(opt_labels, a_letters)
              THEN [a_letters]
            WHEN len(opt_texts) >= 1 AND ans_letters AND list_has_all(opt_labels, string_split(a_letters, ''))
              THEN list_sort(list_distinct(string_split(a_letters, '')))
            WHEN len(opt_texts) >= 1 AND regexp_matches(an, {_LABEL_START})
              THEN list_sort(list_distinct(regexp_extract_all(an, {_LABEL_AT}, 1)))
            WHEN list_position(opt_texts, answer) IS NOT NULL THEN [opt_labels[list_position(opt_texts, answer)]]
            WHEN len(opt_texts) >= 1 THEN coalesce(
              {_BY_TEXT.format(split="regexp_split_to_array(answer, '[&;；|' || chr(10) || ']')")},
              {_BY_TEXT.format(split="regexp_split_to_array(answer, '[,，、]')")},
              {_ORDINALS},
              CASE WHEN ans_letters THEN list_sort(list_distinct(string_split(a_letters, ''))) END)
          END AS ans_labels,
          CASE WHEN {_among('aj', JUDGE_TRUE)} THEN 'true' WHEN {_among('aj', JUDGE_FALSE)} THEN 'false'
               WHEN {_among('aj', JUDGE_AMBIGUOUS + rules.JUDGE_ORDINALS)} THEN aj END AS judge_word,
          coalesce({rules.SQL_JUDGE_PAIR}, false) AS judge_opts,
          CASE WHEN len(opt_texts) < 2 OR (len(opt_texts) = 2 AND {_among('aj', ('0', '1', '2'))}) THEN
            -- a numbered blank `_(1)_` is rare: its longer pattern only where `_(` is
            coalesce(regexp_matches(stem, {_lit(rules.BLANK)}) OR ((contains(stem, '_(') OR contains(stem, '_（'))
                     AND regexp_matches(stem, {_lit(rules.BLANK_ANY)})), false)
          ELSE false END AS has_blank,
          {stated} AS stated
        FROM a3
    )"""


# the type a row's content suggests (``judge01``: answered 0/1 without options, decided per file)
_INFERRED = """CASE
        WHEN judge_opts THEN 'judge'
        WHEN len(opt_texts) >= 2 THEN CASE WHEN len(ans_labels) > 1 THEN 'multi' ELSE 'single' END
        WHEN len(opt_texts) = 1 AND ans_letters THEN 'single'
        WHEN answer IS NULL THEN CASE WHEN has_blank THEN 'blank' ELSE 'open' END
        WHEN judge_word IN ('true', 'false') THEN 'judge'
        WHEN judge_word IS NOT NULL THEN 'judge01'
        WHEN ans_letters AND len(a_letters) <= 8 AND NOT has_blank THEN 'single'
        WHEN has_blank THEN 'blank'
        ELSE 'open'
      END"""


def _decide(d: Decisions, p: _Params) -> str:
    """CTEs c, t, j, shape, checked: the type (stated when recognisable, else a per-file type code, else
    inferred), whether the file gave it, a judge answer's truth (``exam_rules.read_judge``), a judge
    question's options, the answer labels for the type, and the first rule the row breaks."""
    codes = " ".join(f"WHEN {p(k)} THEN {p(v)}" for k, v in d.type_codes)
    code = f"CASE WHEN stated IS NULL THEN CASE type_raw {codes} END END" if codes else "NULL::VARCHAR"
    amb_true, amb_false = ("0", "1") if d.zero_is_true else ("1", "0")
    pick = "upper(opt_texts[CASE WHEN judge_word = '1' THEN 1 ELSE 2 END])"
    return f"""c AS (SELECT *, {code} AS code FROM i),
    t AS (
        SELECT *,
          CASE
            -- a stated type the content contradicts beyond doubt (exam_rules.RECLASSIFY)
            {rules.sql_reclassify_whens('coalesce(stated, code)')}
            WHEN stated = 'choice' THEN CASE WHEN len(ans_labels) > 1 THEN 'multi' ELSE 'single' END
            WHEN stated IS NOT NULL THEN stated
            WHEN code IS NOT NULL THEN code
            WHEN inferred = 'judge01' THEN CASE WHEN {p(d.judge01)} THEN 'judge' WHEN has_blank THEN 'blank' ELSE 'open' END
            ELSE inferred
          END AS qtype,
          (stated IS NOT NULL AND stated <> 'choice') OR code IS NOT NULL AS type_given,
          CASE
            WHEN judge_word = 'true' THEN true
            WHEN judge_word = 'false' THEN false
            WHEN {p(d.one_two)} AND judge_word IN ('1', '2') THEN CASE WHEN judge_opts
                 THEN {_among(pick, JUDGE_TRUE)} ELSE judge_word = '1' END
            WHEN judge_word = '{amb_true}' THEN true
            WHEN judge_word = '{amb_false}' THEN false
            WHEN len(opt_texts) = 0 AND ans_letters AND an = 'A' THEN true
            WHEN len(opt_texts) = 0 AND ans_letters AND an = 'B' THEN false
            WHEN judge_opts AND len(ans_labels) = 1 AND list_position(opt_labels, ans_labels[1]) IS NOT NULL
              THEN {_among('upper(opt_texts[list_position(opt_labels, ans_labels[1])])', JUDGE_TRUE)}
          END AS truth
        FROM c
    ),
    j AS (
        SELECT *,
          CASE WHEN qtype = 'judge' AND len(opt_texts) = 0 THEN ['A', 'B'] ELSE opt_labels END AS f_labels,
          CASE WHEN qtype = 'judge' AND len(opt_texts) = 0 THEN ['正确', '错误'] ELSE opt_texts END AS f_texts
        FROM t
    ),
    shape AS (
        SELECT row_no, ext_id, subject, type_raw, stated AS recognised, inferred, judge_word, judge_opts, has_blank,
          len(opt_texts) = 0 AS bare, unread, qtype, basis, truth, stem AS question, answer, type_raw AS stated,
          opt_error AS reading, f_labels AS opt_labels, f_texts AS opt_texts,
          CASE
            WHEN qtype = 'judge' THEN CASE WHEN truth IS NOT NULL THEN
                 list_filter(f_labels, lambda l, i: {_among('upper(f_texts[i])', JUDGE_TRUE)} = truth) END
            WHEN qtype IN ('blank', 'open') THEN
                 CASE WHEN type_given AND len(opt_texts) >= 2 AND ans_letters THEN ans_labels ELSE []::VARCHAR[] END
            ELSE ans_labels
          END AS answer_labels
        FROM j
    ),
    checked AS (SELECT *, {rules.sql_problem()} AS error FROM shape)"""


# judge answers 1/2 (1 = 正确, the options' order): the file's judge-like rows (no options or 正确/错误
# options, no blank, typed judge or not at all) answer 2 somewhere and 0 nowhere
_ONE_TWO = """(SELECT coalesce(count(*) FILTER (WHERE judge_word = '2') > 0 AND count(*) FILTER (WHERE judge_word = '0') = 0,
                      false) FROM exam_final
    WHERE judge_word IN ('0', '1', '2') AND (bare OR judge_opts) AND NOT has_blank
      AND (stated IS NULL OR stated = 'judge'))"""


def stage_type_counts(cur) -> list[dict[str, Any]]:
    """(sheet, type as written, recognised type, inferred type, rows) — for per-file decisions."""
    return db.rows("""SELECT sheet, type_raw, stated, inferred, count(*) AS n FROM exam_final
                      GROUP BY ALL ORDER BY n DESC""", cur=cur)


def stage_judge_words(cur) -> list[dict[str, Any]]:
    """How often each 0/1 judge answer appears on rows without options; none when the file answers 1/2
    (1 = 正确, no convention needed: see ``Decisions``)."""
    return db.rows("""SELECT judge_word AS word, count(*) AS n FROM exam_final
                      WHERE judge_word IN ('0', '1') AND bare AND NOT """ + _ONE_TWO + """
                      GROUP BY ALL""", cur=cur)


def answers_one_two(cur) -> bool:
    """Whether the file's judge answers are 1/2 option ordinals (a 2 somewhere and no 0)."""
    return bool(cur.execute(f"SELECT {_ONE_TWO}").fetchone()[0])


def reparse_needed(cur, decisions: Decisions, first: Decisions) -> bool:
    """Whether rows parsed with the readings ``first`` would read otherwise with ``decisions``: only rows
    without a recognised type, or answered 1/2, can."""
    if decisions == first:
        return False
    return bool(cur.execute("""SELECT count(*) FROM exam_final
                               WHERE (stated IS NULL AND (type_raw IS NOT NULL OR inferred = 'judge01'))
                                  OR judge_word IN ('1', '2')""").fetchone()[0])


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


DUPLICATE = N_("duplicate of row {row}")
DUPLICATE_IN_SHEET = N_("duplicate of row {row} (sheet {sheet})")
CONFLICTING = N_("{duplicate} with a conflicting answer: {here} here, {there} there")
ALREADY_IN_DATASET = N_("already in the dataset (question #{id})")


def final_duplicates(cur, dataset_id: int | None) -> list[dict[str, Any]]:
    """Rows repeating an earlier row of the file (same stem and options; across sheets too), saying when
    the answers conflict, or a question already in the dataset (``existing``: its id). The parse keeps
    each row's key (a hash of stem and options): only keys seen twice are read further, so a large bank
    without duplicates costs one pass over one column."""
    found = db.rows("""
        WITH d AS (SELECT key FROM exam_final WHERE error IS NULL GROUP BY key HAVING count(*) > 1),
        k AS (SELECT sheet, sheet_ord, row_no, key,
                     CASE WHEN len(answer_labels) > 0 THEN array_to_string(answer_labels, '') ELSE answer_text END AS ans
              FROM exam_final f SEMI JOIN d USING (key) WHERE f.error IS NULL),
        w AS (SELECT k.*, first_value(sheet) OVER win AS first_sheet, first_value(row_no) OVER win AS first_row,
                     first_value(ans) OVER win AS first_ans, row_number() OVER win AS nth
              FROM k WINDOW win AS (PARTITION BY k.key ORDER BY sheet_ord, row_no))
        SELECT sheet, row_no AS row, first_row, first_sheet, ans, first_ans
        FROM w WHERE nth > 1 ORDER BY sheet_ord, row_no""", cur=cur)
    out = [{"sheet": d["sheet"], "row": d["row"], "reason": _duplicate_reason(d), "existing": None} for d in found]
    if dataset_id is not None:
        for d in db.rows("""
            WITH old AS (SELECT min(q.id) AS id, hash(q.question, list_transform(
                           from_json(q.options, '[{"label":"VARCHAR","text":"VARCHAR"}]'), lambda o: o.text)) AS key
                         FROM exam_questions q WHERE q.dataset_id = ? GROUP BY key)
            SELECT f.sheet, f.row_no AS row, old.id AS existing
            FROM exam_final f JOIN old ON old.key = f.key
            WHERE f.error IS NULL ORDER BY f.sheet_ord, f.row_no""", [dataset_id], cur=cur):
            out.append({**d, "reason": _(ALREADY_IN_DATASET).format(id=d["existing"])})
    return out


def _duplicate_reason(d: dict[str, Any]) -> str:
    """Where the first copy of a duplicated row is, and the two answers when they differ."""
    if d["first_sheet"] != d["sheet"]:
        reason = _(DUPLICATE_IN_SHEET).format(row=d["first_row"], sheet=d["first_sheet"])
    else:
        reason = _(DUPLICATE).format(row=d["first_row"])
    if d["ans"] != d["first_ans"]:
        reason = _(CONFLICTING).format(duplicate=reason, here=(d["ans"] or "")[:40], there=(d["first_ans"] or "")[:40])
    return reason


def drop_temp(cur) -> None:
    for t in ("exam_raw", "exam_final"):
        cur.execute(f"DROP TABLE IF EXISTS {t}")
