"""The one reader of a model's answer to a choice question: which option labels did it choose?

Every system kind (the base model, a run's adapter, an API system) is scored by this function, on the
text it wrote, so their accuracies compare. Tested on real model outputs (``tests/test_answers.py``):

    >>> opts = [{"label": "A", "text": "雨鞋"}, {"label": "B", "text": "绝缘靴"}, {"label": "C", "text": "橡胶鞋"}]
    >>> sorted(parse_labels("答案：B", opts)), sorted(parse_labels("正确答案是 A 和 C", opts))
    (['B'], ['A', 'C'])
    >>> parse_labels("雷雨天气要注意安全。", opts) is None     # prose naming no option: unparsed
    True

How:

- Option texts are masked first, so letters inside them (``10kV``, ``Linux``) are not read as labels.
- The first answer block counts: the first line with label tokens (``B``, ``B. 绝缘靴``, ``AC``, ``A、D``,
  ``选B``), plus the lines right after it that start with a label (the seed's newline-joined multi
  answer ``A. 值班调控人员\\nD. 线路工作许可人``).
- On that line an answer cue (``答案``, ``正确答案是``, ``选``, ``故选``, ``answer``) picks the labels right
  after it: ``答案：B。A 选项错在……`` chose B, not A and B.
- Without labels, the option texts the answer names count; for a judge question (options 正确 / 错误),
  whichever verdict word comes first: 正确 / 对 / √ versus 错误 / 不正确 / 错 / ×.
- Nothing found: ``None`` (unparsed, scored wrong).
"""
from __future__ import annotations

import re
import unicodedata

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TRUE_WORDS = ("正确", "对", "√", "✓", "true", "True")
FALSE_WORDS = ("不正确", "错误", "不对", "错", "×", "✗", "false", "False")
_TOKEN = re.compile(r"(?<![A-Za-z])([A-Z]+)(?![A-Za-z])")
# a cue, then labels joined by spaces, commas, 和 / 与 / 及, slashes
_CUE = re.compile(r"(?:正确答案|答案|故选|应选|选择|选|(?i:answer)(?:\s+(?i:is))?)\s*(?:应该|应)?\s*(?:是|为|:|：)?\s*"
                  r"([A-Z](?:[\s、,，;；和与及/&]*[A-Z])*)(?![A-Za-z])")


def norm(text: str) -> str:
    """Full-width forms folded (``Ｂ．`` -> ``B.``)."""
    return unicodedata.normalize("NFKC", text or "")


def _label_tokens(line: str, valid: set[str]) -> list[str]:
    """Label letters on one line: uppercase runs not touching other Latin letters, all valid, no repeats."""
    found: list[str] = []
    for m in _TOKEN.finditer(line):
        run = m.group(1)
        if len(run) <= len(valid) and set(run) <= valid and len(set(run)) == len(run):
            found.extend(ch for ch in run if ch not in found)
    return found


def _after_cue(line: str, valid: set[str]) -> list[str]:
    """The labels right after an answer cue on this line (``答案：B``), or none."""
    for m in _CUE.finditer(line):
        got = [ch for ch in re.sub(r"[^A-Z]", "", m.group(1)) if ch in valid]
        if got and len(got) == len(re.sub(r"[^A-Z]", "", m.group(1))):
            return list(dict.fromkeys(got))
    return []


def _starts_with_label(line: str, valid: set[str]) -> bool:
    m = re.match(r"\s*([A-Z])(?![A-Za-z])", line)
    return bool(m and m.group(1) in valid)


def _masked(text: str, options: list[dict[str, str]]) -> str:
    """``text`` with every option text replaced by ◇ (longest first), so its letters are not labels."""
    for o in sorted(options, key=lambda o: -len(o["text"])):
        t = norm(o["text"]).strip()
        if len(t) >= 2 or (t and not t.isascii()):
            text = text.replace(t, "◇")
    return text


def parse_labels(answer: str, options: list[dict[str, str]]) -> frozenset[str] | None:
    """The option labels an answer chose, or None when it names none."""
    text = norm(answer).strip()
    if not text:
        return None
    valid = {o["label"] for o in options}
    lines = [ln for ln in _masked(text, options).splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        got = _label_tokens(line, valid)
        if got:
            chosen = _after_cue(line, valid) or list(got)
            for nxt in lines[i + 1:]:
                if not _starts_with_label(nxt, valid):
                    break
                chosen.extend(lab for lab in _label_tokens(nxt, valid) if lab not in chosen)
            return frozenset(chosen)
    return by_text(text, options)


def by_text(text: str, options: list[dict[str, str]]) -> frozenset[str] | None:
    """The options whose text the first line names (the longest match, not a part of it); for a judge
    question the first verdict word."""
    first = text.splitlines()[0] if text.splitlines() else text
    compact = re.sub(r"\s+", "", first)
    by_option = {re.sub(r"\s+", "", norm(o["text"])): o["label"] for o in options}
    truth = {t: lab for t, lab in by_option.items() if t in ("正确", "对", "√")}
    falsity = {t: lab for t, lab in by_option.items() if t in ("错误", "错", "×")}
    if truth and falsity:  # a judge question: whichever verdict word comes first
        verdict = judge_word(compact)
        if verdict is None:
            return None
        return frozenset(truth.values() if verdict else falsity.values())
    matched = [t for t in by_option if t and t in compact]
    matched = [t for t in matched if not any(t != u and t in u for u in matched)]
    return frozenset(by_option[t] for t in matched) if matched else None


def judge_word(text: str) -> bool | None:
    """True for 正确 / 对 / √, False for 错误 / 不正确 / 错 / ×: whichever comes first (the longer word at a
    tie: 不正确 is false); None when the text says neither."""
    hits = [(text.find(w), -len(w), w) for w in TRUE_WORDS + FALSE_WORDS if w in text]
    if not hits:
        return None
    _pos, _len, word = min(hits)
    return word in TRUE_WORDS
