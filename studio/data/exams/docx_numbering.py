"""A Word document as the lines of a question bank: every paragraph in document order (inside content
controls too) and every table row, numbered by paragraph. Word auto-numbering (``w:numPr``; the number is
not in the paragraph's text) is rendered as Word shows it: decimal numbers start questions, letters
label options, Chinese numerals head sections.
"""
from __future__ import annotations

import re

from studio.data.exams.sheets import Sheet


def docx_tables(document) -> list[Sheet]:
    """Each Word table as a sheet of its cells (``表1``, ``表2``…), rows numbered from 1."""
    out = []
    for k, table in enumerate(document.tables, start=1):
        rows = [(i, [c.text.strip() or None for c in row.cells]) for i, row in enumerate(table.rows, start=1)]
        rows = [(i, cells) for i, cells in rows if any(cells)]
        out.append(Sheet(f"表{k}" if len(document.tables) > 1 else "", max((len(c) for _, c in rows), default=0), rows))
    return out


def docx_lines(document):
    """``(paragraph number, text)`` for every paragraph in document order (inside content controls too),
    its Word number put before its text; each table row counts as a paragraph, its cells joined by tabs."""
    from docx.oxml.ns import qn
    from docx.text.paragraph import Paragraph

    numbering = _Numbering(document)

    def blocks(parent):
        for child in parent.iterchildren():
            if child.tag in (qn("w:p"), qn("w:tbl")):
                yield child
            elif child.tag == qn("w:sdt") and child.find(qn("w:sdtContent")) is not None:
                yield from blocks(child.find(qn("w:sdtContent")))

    no = 0
    for block in blocks(document.element.body):
        if block.tag == qn("w:p"):
            p = Paragraph(block, document._body)
            label = numbering.label(p)
            texts = [f"{label} {p.text}" if label else p.text]
        else:
            texts = [_row_text(tr, document) for tr in block.iter(qn("w:tr"))]
        for text in texts:
            no += 1
            for line in text.split("\n"):
                yield no, line


def _row_text(tr, document) -> str:
    from docx.oxml.ns import qn
    from docx.text.paragraph import Paragraph

    cells = []
    for tc in tr.iter(qn("w:tc")):
        text = " ".join(Paragraph(p, document._body).text for p in tc.iter(qn("w:p"))).strip()
        if text and (not cells or cells[-1] != text):   # a merged cell repeats
            cells.append(text)
    return "\t".join(cells)


_CN = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"]


def _format(n: int, fmt: str) -> str:
    if fmt in ("upperLetter", "lowerLetter"):
        s = chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)
        return s if fmt == "upperLetter" else s.lower()
    if fmt.startswith(("chinese", "ideograph", "japanese", "taiwanese")) and 0 < n <= 99:
        return _CN[n] if n <= 10 else (_CN[n // 10] if n >= 20 else "") + "十" + _CN[n % 10]
    if fmt in ("upperRoman", "lowerRoman"):
        vals = [(10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
        out, k = "", n
        for v, s in vals:
            while k >= v:
                out, k = out + s, k - v
        return out if fmt == "upperRoman" else out.lower()
    if fmt == "decimalEnclosedCircle" and 0 < n <= 20:
        return chr(0x2460 + n - 1)
    return str(n)


class _Numbering:
    """Word's list numbering (``w:numPr`` on a paragraph or its style) rendered as Word shows it."""

    def __init__(self, document):
        from docx.oxml.ns import qn

        self.qn = qn
        try:
            self.root = document.part.numbering_part.element
        except Exception:  # noqa: BLE001 - a document without numbering definitions
            self.root = None
        self.counters: dict[str, dict[int, int]] = {}

    def _num_pr(self, p):
        ppr = p._p.pPr
        if ppr is not None and ppr.numPr is not None:
            return ppr.numPr
        style = p.style
        while style is not None:
            sppr = style.element.pPr
            if sppr is not None and sppr.numPr is not None:
                return sppr.numPr
            style = style.base_style
        return None

    def _definition(self, num_id: str):
        """(the ``w:num``, its abstract id, its levels by ilvl) of a list instance, or None."""
        w = self.qn
        num = self.root.find(f"{w('w:num')}[@{w('w:numId')}='{num_id}']")
        if num is None or num.find(w("w:abstractNumId")) is None:
            return None
        abstract_id = num.find(w("w:abstractNumId")).get(w("w:val"))
        abstract = self.root.find(f"{w('w:abstractNum')}[@{w('w:abstractNumId')}='{abstract_id}']")
        if abstract is None:
            return None
        return num, abstract_id, {int(l.get(w("w:ilvl"))): l for l in abstract.findall(w("w:lvl"))}

    def label(self, p) -> str | None:
        """The number Word shows before paragraph ``p`` (``1.`` ``A、`` ``一、``), or None; counts as it goes."""
        if self.root is None:
            return None
        try:
            num_pr = self._num_pr(p)
        except Exception:  # noqa: BLE001 - a style python-docx cannot resolve: no number
            return None
        if num_pr is None or num_pr.numId is None:
            return None
        ilvl = int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0
        found = self._definition(str(num_pr.numId.val))
        if found is None or ilvl not in found[2]:
            return None
        num, abstract_id, levels = found
        w = self.qn

        def val(level, tag, default):
            el = levels[level].find(w(tag)) if level in levels else None
            return el.get(w("w:val")) if el is not None else default

        def start(level):
            ov = num.find(f"{w('w:lvlOverride')}[@{w('w:ilvl')}='{level}']/{w('w:startOverride')}")
            return int(ov.get(w("w:val")) if ov is not None else val(level, "w:start", "1"))

        restart = num.find(f"{w('w:lvlOverride')}/{w('w:startOverride')}") is not None
        # lists sharing a definition continue each other's numbers unless one restarts (as Word shows them)
        counters = self.counters.setdefault(f"num{num_pr.numId.val}" if restart else f"abs{abstract_id}", {})
        counters[ilvl] = counters.get(ilvl, start(ilvl) - 1) + 1
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]
        if val(ilvl, "w:numFmt", "decimal") in ("bullet", "none"):
            return None
        return re.sub(r"%(\d)", lambda m: _format(counters.get(int(m.group(1)) - 1, start(int(m.group(1)) - 1)),
                                                  val(int(m.group(1)) - 1, "w:numFmt", "decimal")),
                      val(ilvl, "w:lvlText", f"%{ilvl + 1}."))
