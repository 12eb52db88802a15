"""The offline generator: cloze (fill-in-the-blank) pairs from a passage, with no endpoint.

Key terms become ``___`` and the term is the answer:

- numbers with units: ``10千伏``, ``5米``, ``三十日``, ``百分之五``, ``2%``;
- quoted or titled terms: ``“电力设施”``, ``《电力法》``, ``「…」``;
- defined terms: ``本法所称电网，是指…`` / ``X是指…`` (the term defined).

Each candidate's sentence is the question (the term blanked once, the rest of the sentence kept);
at most ``per_passage`` pairs a passage, defined terms first, then numbers, then quoted terms.
"""
from __future__ import annotations

import re

_CN = "零一二三四五六七八九十百千万两〇"
UNITS = ("千伏安", "千伏", "千瓦时", "千瓦", "兆瓦", "伏", "安培", "瓦", "千米", "公里", "厘米", "毫米", "米",
         "平方毫米", "平方厘米", "平方米", "立方米", "学时", "级", "公顷", "亩", "吨", "千克", "公斤", "个工作日", "个月", "小时", "分钟", "秒", "周年",
         "年", "日", "天", "周", "倍", "元", "万元", "亿元", "人", "名", "次", "度", "℃", "摄氏度", "kV", "kW",
         "MW", "V", "A", "m", "km", "mm", "cm", "%", "％")
_UNIT = "|".join(sorted((re.escape(u) for u in UNITS), key=len, reverse=True))
NUMBER = re.compile(rf"(?:\d{{4}}年\d{{1,2}}月\d{{1,2}}日|百分之[{_CN}\d.]+|(?:\d+(?:\.\d+)?|[{_CN}]{{1,6}})\s*(?:{_UNIT}))")
QUOTED = re.compile(r"“([^“”]{2,20})”|《([^《》]{2,30})》|「([^「」]{2,20})」|\"([^\"]{2,20})\"")
DEFINED = re.compile(r"(?:所称|所指的?)([^，,。；：]{2,20}?)[，,]?(?:是指|系指|指)|"
                     r"(?:^|[。；\n])([^，,。；：\n]{2,12}?)(?:是指|系指)")
_SENTENCE = re.compile(r"[^。！？；\n]+[。！？；]?")
_NOT_TERMS = {"本法", "本条例", "本规定", "本规程", "本办法", "其他"}


def _sentences(text: str):
    for m in _SENTENCE.finditer(text):
        s = m.group(0).strip()
        if len(s) >= 8:
            yield s


def candidates(text: str) -> list[tuple[str, str, str]]:
    """(kind, sentence, term) for each key term found, in priority order, without repeats."""
    found: list[tuple[str, str, str]] = []
    for sentence in _sentences(text):
        sentence = re.sub(r"^第[零一二三四五六七八九十百千〇两\d]+条[\s\u3000]*", "", sentence)
        for m in DEFINED.finditer(sentence):
            term = (m.group(1) or m.group(2) or "").strip(" “”\"")
            if term and term not in _NOT_TERMS and not term.startswith("本"):
                found.append(("defined", sentence, term))
        for m in NUMBER.finditer(sentence):
            term = m.group(0).strip()
            if re.fullmatch(rf"[{_CN}]+(?:人|名|次|日|天|年)", term) and term[0] in "一两" and len(term) <= 2:
                continue  # 一人, 一次: ordinary words, not facts worth asking
            if m.start() > 0 and sentence[m.start() - 1] == "第":
                continue  # 第三人, 第十日: an ordinal, not a quantity
            found.append(("number", sentence, term))
        for m in QUOTED.finditer(sentence):
            term = next(g for g in m.groups() if g)
            whole = m.group(0)
            found.append(("quoted", sentence, whole if whole.startswith("《") else term))
    order = {"defined": 0, "number": 1, "quoted": 2}
    seen, out = set(), []
    for kind, sentence, term in sorted(found, key=lambda f: order[f[0]]):
        if term in seen or len(term) < 2 or term == sentence:
            continue
        seen.add(term)
        out.append((kind, sentence, term))
    return out


def cloze_pairs(text: str, per_passage: int = 3) -> list[dict]:
    """Up to ``per_passage`` cloze pairs {instruction, output, kind} from a passage."""
    pairs = []
    for kind, sentence, term in candidates(text):
        blanked = sentence.replace(term, "___", 1)
        if blanked == sentence or len(blanked.replace("___", "").strip()) < 6:
            continue
        pairs.append({"instruction": blanked, "output": term, "kind": kind})
        if len(pairs) >= per_passage:
            break
    return pairs
