"""What a header cell names: the fields' vocabulary (Chinese and English names, decorated or not) and
the reading of one cell (``题目（必填）：`` -> question, ``选项A`` / ``第一选项`` / ``optionA`` -> A, a type legend
``考题类型：0：单；1：多`` -> its codes). Used by the header detection in ``mapping`` and by ``column_content``.
"""
from __future__ import annotations

import re
import unicodedata

from studio.core.i18n import N_, _

LETTERS = "ABCDEFGH"
FIELDS = ("subject", "type", "question", "options", *LETTERS, "answer", "explanation", "id")
FIELD_HELP = {
    "subject": "专业 / 科目 / 类别", "type": "题型", "question": "题目 / 题干", "options": "all options in one cell",
    "answer": "正确答案", "explanation": "解析 / 依据", "id": "序号 / id",
    **{l: f"option {l}" for l in LETTERS},
}
# the fields as a page names them (the CLI's --map keeps the English names); an option column keeps its letter
FIELD_NAMES = {"subject": N_("subject"), "type": N_("type"), "question": N_("question"), "options": N_("options"),
               "answer": N_("answer"), "explanation": N_("explanation"), "id": N_("id")}
FIELD_LABELS = {  # a field with what it holds, for the mapping's selects
    "subject": N_("subject (专业 / 科目 / 类别)"), "type": N_("type (题型)"), "question": N_("question (题目 / 题干)"),
    "options": N_("options (all options in one cell)"), "answer": N_("answer (正确答案)"),
    "explanation": N_("explanation (解析 / 依据)"), "id": N_("id (序号 / id)"),
}


def field_name(field: str) -> str:
    """A field's name in the current language (``question`` -> 题目); an option letter as it is."""
    return _(FIELD_NAMES[field]) if field in FIELD_NAMES else field


def field_label(field: str) -> str:
    """A field with what it holds (``question (题目 / 题干)``), in the current language."""
    if field in FIELD_LABELS:
        return _(FIELD_LABELS[field])
    return _("{letter} (option {letter})").format(letter=field)

# header names, normalised (NFKC, lower case, no spaces, brackets or punctuation)
SYNONYMS = {
    "subject": ["专业", "科目", "类别", "分类", "学科", "课程", "专业类别", "所属专业", "题库", "章节", "知识点",
                "所属章节", "所属分类", "试题分类", "题目分类", "考点", "模块", "单元",
                "category", "subject", "discipline", "domain", "chapter", "section"],
    "type": ["题型", "类型", "题目类型", "试题类型", "考题类型", "题型名称", "题类",
             "type", "questiontype", "qtype", "kind"],
    "question": ["题目", "题干", "题目内容", "试题", "试题内容", "考题", "考题内容", "问题", "题目名称", "内容",
                 "试题题干", "题面", "题目描述", "question", "stem", "prompt", "title", "content",
                 "questioncontent", "questiontext", "questiontitle", "questionstem"],
    "options": ["选项", "选项内容", "备选项", "备选答案", "答案选项", "options", "choices", "option", "choice",
                "optioncontent", "optionlist", "optionscontent"],
    "answer": ["正确答案", "答案", "标准答案", "参考答案", "正确选项", "答案选项值", "试题答案", "考题答案", "题目答案",
               "answer", "answers", "correct", "correctanswer", "questionanswer", "key", "label", "target",
               "rightanswer", "solution"],
    "explanation": ["解析", "答案解析", "试题解析", "题目解析", "依据", "题目依据条款", "依据条款", "出处", "解释",
                    "说明", "explanation", "analysis", "rationale", "reference", "basis", "explain"],
    "id": ["id", "序号", "编号", "题号", "试题编号", "题目编号", "考题编号", "no", "number", "index", "qid",
           "questionid"],
    # named columns that are none of the fields (they still make a row look like a header)
    "ignore": ["难度", "难易度", "难度系数", "分值", "分数", "得分", "状态", "时间", "日期", "创建时间", "创建人", "作者",
               "图片", "备注", "标签", "审核", "是否", "score", "difficulty", "level", "time", "date", "status",
               "image", "remark", "note", "notes", "tag", "tags"],
}
# English words (camelCase / snake_case split) -> field, the first matching field in this order wins
_WORDS = (
    ("id", {"id", "qid"}),
    ("explanation", {"analysis", "explanation", "explain", "rationale", "reason", "basis", "parse", "reference"}),
    ("answer", {"answer", "answers", "correct", "key", "solution", "right"}),
    ("type", {"type", "kind", "qtype"}),
    ("options", {"option", "options", "choice", "choices", "item", "items"}),
    ("ignore", {"score", "difficulty", "level", "time", "date", "status", "image", "remark", "note", "created",
                "updated"}),
    ("subject", {"subject", "category", "chapter", "section", "course", "knowledge", "domain", "tag"}),
    ("question", {"question", "content", "stem", "title", "body", "text", "prompt"}),
)
_NUMERALS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "七": 6, "八": 7, "九": 8, "十": 9,
             "十一": 10, "十二": 11}
_PUNCT = re.compile(r"[\s:*_\-.、#/\\|'\"“”‘’!?？！,;，；=+~`^$@&%]+")
_BRACKETED = re.compile(r"[(\[{【〔<《][^)\]}】〕>》]*[)\]}】〕>》]")
_BRACKETS = re.compile(r"[()\[\]{}【】〔〕<>《》]")
_OPTION_COL = re.compile(r"(?:选项|option|opt|choice|item)?([a-h])(?:选项|项)?")
_OPTION_NUM = re.compile(r"(?:选项|option|choice|opt)([1-8一二三四五六七八])|第([1-8一二三四五六七八])个?选项|"
                         r"选项([一二三四五六七八])")
_ANSWER_PART = re.compile(r"(?:答案|answer|空|填空|blank)([a-l]|[1-9]|1[0-2]|[一二三四五六七八九十]|十[一二])|"
                          r"第([1-9一二三四五六七八九十])(?:个)?(?:空|答案)")
ORDINAL_WORDS = re.compile(r"第几|几个|序号|顺序|ordinal|index|1-4|1～4|1~4|数字")
_LEGEND_PAIR = re.compile(r"([0-9A-Za-z]{1,3})\s*[:=：、.\-]?\s*([\u4e00-\u9fff]{1,6})")
_LEGEND_WORDS = (("single", "单"), ("multi", "多|不定"), ("judge", "判|是非|对错"), ("blank", "填"),
                 ("open", "问答|简答|论述|问|简"))


def fold(text: str | None) -> str:
    """NFKC (full-width forms to ASCII: ``（``, ``：``, ``Ａ``) and stripped."""
    return unicodedata.normalize("NFKC", text or "").strip()


def _norm(text: str | None) -> str:
    return _PUNCT.sub("", _BRACKETS.sub("", fold(text).lower()))


def _cores(name: str | None) -> list[str]:
    """The ways to read a header cell, most specific first: without its bracketed annotations and
    anything after a colon, with them, and the whole cell."""
    text = fold(name).lstrip("*").strip()
    plain = _BRACKETED.sub("", text)
    out = []
    for t in (plain.split(":")[0], plain, text.split(":")[0], text):
        n = _norm(t)
        if n and n not in out:
            out.append(n)
    return out


def header_kind(name: str | None) -> str | None:
    """The field a header cell names (``answer_part`` for one of several answer columns, ``ignore`` for a
    named column that is no field), or None. ``选项A（必填）`` / ``A`` / ``第一选项`` / ``optionA`` -> ``A``."""
    raw = fold(name)
    cores = _cores(name)
    if not cores or cores[0].startswith("unnamed"):
        return None
    for n in cores:
        if len(n) > 24:
            continue
        m = _OPTION_COL.fullmatch(n)
        if m:
            return m.group(1).upper()
        m = _OPTION_NUM.fullmatch(n)
        if m:
            k = next(g for g in m.groups() if g)
            return LETTERS[_NUMERALS[k] if k in _NUMERALS else int(k) - 1]
        if _ANSWER_PART.fullmatch(n):
            return "answer_part"
        for f, names in SYNONYMS.items():
            if n in names:
                return f
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", _BRACKETED.sub("", raw).split(":")[0])]
    if words and re.fullmatch(r"[\x00-\x7f]*", _BRACKETED.sub("", raw).split(":")[0]):
        for f, vocab in _WORDS:
            if vocab & set(words):
                return f
        return None
    n = cores[0]
    if len(n) > 12:
        return None
    # Chinese names put the head noun last: 试题分类 is a category, 考题内容 the question
    ends = [(len(s), f) for f, names in SYNONYMS.items() for s in names if len(s) >= 2 and n.endswith(s)]
    if ends:
        return max(ends)[1]
    hits = [(len(s), f) for f, names in SYNONYMS.items() for s in names if len(s) >= 2 and s in n]
    return max(hits)[1] if hits else None


def header_field(name: str | None) -> str | None:
    """The field a header cell names, or None (``answer_part`` reads as ``answer``)."""
    kind = header_kind(name)
    return "answer" if kind == "answer_part" else None if kind == "ignore" else kind


def type_legend(name: str | None) -> dict[str, str]:
    """Codes a type header explains: ``考题类型：0：单；1：多；3：判断`` -> {'0': single, '1': multi, '3': judge}."""
    text = fold(name)
    rest = text.split(":", 1)[1] if ":" in text else "".join(_BRACKETED.findall(text))
    out = {}
    for code, word in _LEGEND_PAIR.findall(rest):
        qtype = next((t for t, p in _LEGEND_WORDS if re.match(p, word)), None)
        if qtype and code not in out:
            out[code] = qtype
    return out if len(out) >= 2 else {}
