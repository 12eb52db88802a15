"""Property tests (hypothesis) of issue 13's classes 4-6: generated banks, written with any option layout
(``A. x`` lines, ``A、x``, a JSON array of strings or of objects, a JSON object, separate columns), any
answer form (full width, lower case, separators, letter plus text, option text, ordinals, a JSON array;
judge words in either option order, letters of the options, 1/2) and a type column of words, codes or
none, read back through the real importer (file -> DuckDB staging -> set-based parse) as the same
questions."""
from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core import exam_rules as rules
from studio.data.exams.importer import preview

WORDS = ["雨鞋", "绝缘靴", "橡胶鞋", "绝缘手套", "安全带", "验电器", "接地线", "标示牌", "遮栏", "工作票",
         "操作票", "安全帽", "围栏", "梯子", "绳索", "10kV", "Linux", "《史记》", "0.7米", "隔离开关"]
JUDGE_PAIRS = [("正确", "错误"), ("错误", "正确"), ("对", "错"), ("错", "对"), ("√", "×"), ("×", "√")]
TRUE_WORDS, FALSE_WORDS = ["正确", "对", "√", "T", "是", "对的"], ["错误", "错", "×", "F", "否", "错的"]
BLANKS = ["_(1)_", "____", "（　　）", "(  )"]
LAYOUTS = ["lines", "dun", "json_array", "json_labelled", "json_objects", "json_object", "columns"]
CODES = {"single": "1", "multi": "2", "judge": "3", "blank": "4"}
FULL = str.maketrans("ABCDEFGH", "ＡＢＣＤＥＦＧＨ")


@dataclass
class Q:
    """A question as it must come back, and how its row is written."""
    qtype: str
    stem: str
    options: list[tuple[str, str]]        # what the row's options hold (judge: a 正确/错误 pair, or none)
    labels: list[str]                     # the answer's labels (judge: the true or false option's)
    answer_text: str = ""                 # blank questions
    written: str = ""                     # the answer cell
    stored_options: list[tuple[str, str]] = field(default_factory=list)


def _labels(n: int) -> list[str]:
    return [chr(65 + i) for i in range(n)]


@st.composite
def choice(draw, i: int, qtype: str) -> Q:
    texts = draw(st.lists(st.sampled_from(WORDS), min_size=2 if qtype == "single" else 3, max_size=6, unique=True))
    labels = _labels(len(texts))
    if qtype == "single":
        chosen = [draw(st.sampled_from(labels))]
    else:
        chosen = sorted(draw(st.lists(st.sampled_from(labels), min_size=2, max_size=len(labels), unique=True)))
    by = dict(zip(labels, texts))
    form = draw(st.sampled_from(["plain", "lower", "full", "comma", "dun", "space", "semi", "letter_text",
                                 "text", "ordinal", "json"]))
    written = {
        "plain": "".join(chosen), "lower": "".join(chosen).lower(), "full": "".join(chosen).translate(FULL),
        "comma": ",".join(chosen), "dun": "、".join(chosen), "space": " ".join(chosen), "semi": ";".join(chosen),
        "letter_text": "；".join(f"{l}、{by[l]}" for l in chosen), "text": "；".join(by[l] for l in chosen),
        "ordinal": ",".join(str(ord(l) - 64) for l in chosen), "json": json.dumps(chosen),
    }[form]
    stem = f"第{i}题 下列{'正确' if qtype == 'single' else '属于安全用具'}的是（ ）"
    opts = list(zip(labels, texts))
    return Q(qtype, stem, opts, chosen, written=written, stored_options=opts)


@st.composite
def judge(draw, i: int, one_two: bool, truth: bool | None = None, typed: bool = True) -> Q:
    """A judge row. Without options, A/B (A = 正确) only where the type says judge (``typed``): a row
    answered by a letter without options is otherwise a choice row that lost its options (refused)."""
    truth = draw(st.booleans()) if truth is None else truth
    pair = draw(st.sampled_from([None, *JUDGE_PAIRS]))
    opts = list(zip("AB", pair)) if pair else []
    stored = opts or [("A", "正确"), ("B", "错误")]
    label = next(l for l, t in stored if (t in ("正确", "对", "√")) == truth)
    forms = ["word"] + (["letter", "lower_letter"] if pair or typed else []) + (["ordinal"] if one_two else [])
    form = draw(st.sampled_from(forms))
    if form == "word":
        written = draw(st.sampled_from(TRUE_WORDS if truth else FALSE_WORDS))
    elif form == "ordinal":   # 1/2: the options' order when there are options, else 1 = 正确
        written = str(_labels(2).index(label) + 1)
    else:
        written = label if form == "letter" else label.lower()
    return Q("judge", f"第{i}题 作业前应{'先' if truth else '不'}验电。", opts, [label], written=written,
             stored_options=stored)


@st.composite
def blank(draw, i: int) -> Q:
    gaps = draw(st.lists(st.sampled_from(BLANKS), min_size=1, max_size=2))
    answers = draw(st.lists(st.sampled_from([w for w in WORDS if not w[0].isdigit()]), min_size=len(gaps),
                            max_size=len(gaps)))
    stem = f"第{i}题 " + "和".join(f"作业时应使用{g}" for g in gaps) + "。"
    return Q("blank", stem, [], [], answer_text="；".join(answers), written="；".join(answers))


@st.composite
def banks(draw):
    one_two = draw(st.booleans())
    type_col = draw(st.sampled_from(["words", "codes", "none"] if not one_two else ["words", "codes"]))
    kinds = draw(st.lists(st.sampled_from(["single", "multi", "judge"] + ([] if one_two else ["blank"])),
                          min_size=1, max_size=10))
    qs = []
    for i, kind in enumerate(kinds, 1):
        if kind == "judge":
            qs.append(draw(judge(i, one_two, typed=type_col == "words")))
        elif kind == "blank":
            qs.append(draw(blank(i)))
        else:
            qs.append(draw(choice(i, kind)))
    if one_two and any(q.qtype == "judge" for q in qs):  # a 1/2 file shows its 2 somewhere (else 1/0 reads as 0/1)
        qs.append(Q("judge", f"第{len(qs) + 1}题 可以约时停电。", [], ["B"], written="2",
                    stored_options=[("A", "正确"), ("B", "错误")]))
    layout = draw(st.sampled_from(LAYOUTS))
    fmt = draw(st.sampled_from(["csv", "json"]))
    return qs, type_col, layout, fmt


def _options_cell(opts: list[tuple[str, str]], layout: str):
    if not opts:
        return ""
    if layout == "lines":
        return "\n".join(f"{l}. {t}" for l, t in opts)
    if layout == "dun":
        return " ".join(f"{l}、{t}" for l, t in opts)
    if layout == "json_array":
        return [t for _, t in opts]
    if layout == "json_labelled":
        return [f"{l}. {t}" for l, t in opts]
    if layout == "json_objects":
        return [{"optionContent": t, "isRight": 0} for _, t in opts]
    return {l: t for l, t in opts}


def _write(qs: list[Q], type_col: str, layout: str, fmt: str, folder: Path) -> Path:
    width = max([len(q.options) for q in qs] + [2])
    header = (["题型"] if type_col != "none" else []) + ["题目"]
    header += [f"选项{l}" for l in _labels(width)] if layout == "columns" else ["选项"]
    header.append("答案")
    rows = []
    for q in qs:
        row = [rules.TYPE_NAMES[q.qtype] if type_col == "words" else CODES[q.qtype]] if type_col != "none" else []
        row.append(q.stem)
        if layout == "columns":
            texts = [t for _, t in q.options]
            row += texts + [""] * (width - len(texts))
        else:
            row.append(_options_cell(q.options, layout))
        row.append(q.written)
        rows.append(row)
    if fmt == "json":
        path = folder / "bank.json"
        path.write_text(json.dumps([dict(zip(header, r)) for r in rows], ensure_ascii=False), encoding="utf-8")
        return path
    path = folder / "bank.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([json.dumps(c, ensure_ascii=False) if isinstance(c, (list, dict)) else c for c in r])
    return path


def _expected(q: Q) -> dict:
    by = dict(q.stored_options)
    if q.qtype == "judge":
        text = "正确" if by[q.labels[0]] in ("正确", "对", "√") else "错误"
    elif q.qtype == "blank":
        text = q.answer_text
    else:
        text = "; ".join(by[l] for l in q.labels)
    return {"type": q.qtype, "question": q.stem, "options": " | ".join(f"{l}. {t}" for l, t in q.stored_options),
            "answer_labels": "".join(q.labels), "answer_text": text, "error": None}


# each example is one import (~0.3 s: DuckDB plans the parse), so few examples of up to 10 questions each
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(banks())
def test_generated_banks_round_trip_to_the_same_questions(bank):
    qs, type_col, layout, fmt = bank
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(qs, type_col, layout, fmt, Path(tmp))
        p = preview(path, limit=100)
    got = [{k: r[k] for k in ("type", "question", "options", "answer_labels", "answer_text", "error")} for r in p.rows]
    assert p.errors == [], (p.errors, [q.written for q in qs])
    assert got == [_expected(q) for q in qs]


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_python_reading_agrees_with_the_importer(data):
    """``read_choice`` / ``read_judge`` (editor, generated questions) read an answer as the importer does."""
    q = data.draw(st.one_of(choice(1, "single"), choice(1, "multi"), judge(1, False)))
    opts = [{"label": l, "text": t} for l, t in q.options]
    if q.qtype == "judge":
        assert rules.read_judge(rules.clean_answer(q.written), opts or None) == q.labels
    else:
        assert rules.read_choice(rules.clean_answer(q.written), opts) == q.labels


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=2, max_size=8, unique=True),
       st.sampled_from(["json_array", "json_labelled", "json_objects", "json_object"]))
def test_json_options_read_alike_in_python(texts, layout):
    """``json_options`` (editor, generated questions) reads every JSON option layout the importer reads."""
    opts = list(zip(_labels(len(texts)), texts))
    cell = json.loads(json.dumps(_options_cell(opts, layout), ensure_ascii=False))
    assert rules.json_options(cell) == [{"label": l, "text": t} for l, t in opts]
