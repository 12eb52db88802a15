"""Speed never changes what the importer decides: the importer as it stood before the speed work
(``OLD_COMMIT``, read from git) and the importer of this checkout read the same varied banks, and every
decision must be the same: each row's type, stem, options, answer labels and text, its refusal and reason,
the duplicates, the per-file readings (type codes, the 0/1 judge convention), the notes, what lands in the
bank (ids in file order) and the pairs a conversion writes.

The banks are generated here from a fixed seed: thousands of rows drawn from the forms real banks use and
break (options in separate columns with gaps, in one cell labelled every way, JSON, ``&``/``|``/``;``/new
lines; answers as letters in any width and case, texts, ordinals, judge words, 0/1 and 1/2, JSON arrays,
``答案：`` prefixes, nonsense; stated types, type codes, no type), each bank small (read in Python) and large
(over ``FAST_PATH_BYTES``: DuckDB reads the file itself), with blank rows, unread option-like columns,
duplicates. Both importers run in their own process on their own database.

``test_a_changed_decision_is_caught`` shows the comparison can fail: the same banks read with one rule
loosened (a choice row left with one option is no longer refused) must differ.

When a change of decisions is meant (a rule fixed on purpose), set ``OLD_COMMIT`` to the commit that
makes it, and say why in that commit.

Not part of ``make test``: it needs the git history (a shallow clone lacks ``OLD_COMMIT``). Run it on a
full clone after touching the importer's speed (about 35 s):

    .venv/bin/python -m pytest benchmarks/check_exam_import_old_vs_new.py
"""
from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD_COMMIT = "21857fd91a8e18f83e613eb66761053c91f9e17a"   # the last commit before the import's speed work
FAST_PATH_BYTES = 4 * 1024 * 1024                         # studio.data.exams.text_tables.FAST_PATH_BYTES

# ------------------------------------------------------------------ the banks

_STEMS = ["高压设备发生接地时，室内人员应距离故障点（　　）m以外。", "在带电设备周围严禁使用（ ）进行测量。",
          "接地线截面不得小于____mm²。", "停电、_(1)_、装设接地线和装设_(2)_。", "工作票签发人不得兼任该项工作的负责人。",
          "简述工作票制度的意义。", " \u3000验电前应先在有电设备上试验。\u3000", "", "Which of these is a conductor?",
          "倒闸操作必须由两人执行。", "下列属于绝缘安全工器具的是（　　）。", "雷雨天气应穿(  )。"]
_WORDS = ["绝缘靴", "绝缘手套", "钢卷尺", "工作负责人", "接地端", "两", "25", "1000", "安全帽", "2", "正确", "错误", "对", "错",
          "A", "电压C.类", "  x  "]


def _options_cell(rnd: random.Random) -> str:
    """One cell of options, in a form drawn from the ones banks use (and some they break)."""
    n = rnd.choice([0, 1, 2, 2, 3, 4, 4, 4, 5, 9])
    texts = [rnd.choice(_WORDS) + (str(rnd.randint(0, 3)) if rnd.random() < 0.5 else "") for _unused in range(n)]
    labels = [chr(65 + i) for i in range(n)]
    form = rnd.randrange(24)
    if form == 0:
        return ",".join(f"{l}. {t}" for l, t in zip(labels, texts))
    if form == 1:
        return " ".join(f"{l}．{t}" for l, t in zip(labels, texts))
    if form == 2:
        return "；".join(f"{l}、{t}" for l, t in zip(labels, texts)) + rnd.choice(["", "；", "。"])
    if form == 3:
        return "\n".join(f"({l}) {t}" for l, t in zip(labels, texts))
    if form == 4:
        return " ".join(f"{chr(ord(l) - 65 + 0xFF21)}.{t}" for l, t in zip(labels, texts))   # Ａ.x Ｂ.y
    if form == 5:   # labels out of order, repeated or with a gap
        bad = rnd.sample(labels + ["A", "C", "I"], k=min(n, len(labels) + 3)) if n else []
        return ",".join(f"{l}. {t}" for l, t in zip(bad, texts))
    if form == 6:   # an empty option, or a label without a separator before it
        return rnd.choice([f"A. {texts[0] if texts else 'x'},B. ,C. z", "A. 1B. 2C. 3", "A.  B. x", "A. x,,B. y"])
    if form == 7:
        return json.dumps(texts, ensure_ascii=False)
    if form == 8:
        return json.dumps([f"{l}. {t}" for l, t in zip(labels, texts)], ensure_ascii=False)
    if form == 9:
        return json.dumps(dict(zip(labels, texts)), ensure_ascii=False)
    if form == 10:
        return json.dumps([{"label": l, "text": t} for l, t in zip(labels, texts)], ensure_ascii=False)
    if form == 11:
        return json.dumps([{"optionContent": t, "isRight": i % 2} for i, t in enumerate(texts)], ensure_ascii=False)
    if form == 12:
        return "&".join(texts)
    if form == 13:
        return "|".join(texts)
    if form == 14:
        return ";".join(texts)
    if form == 15:
        return "\n".join(texts)
    if form == 16:
        return rnd.choice(["A. 正确,B. 错误", "A. 错 B. 对", "A.对 B.错", "对&错", '["正确", "错误"]', "A. √ B. ×"])
    if form == 17:
        return rnd.choice(["", " ", "\u3000", "x", "[1, 2]", "{broken", "[{\"a\": 1}]"])
    if form == 18:
        return "  " + ",".join(f"{l}. {t}" for l, t in zip(labels, texts)) + " \u3000"
    if form == 19:
        return "\n".join(f"{l}.{t}" for l, t in zip(labels, texts))
    if form == 20:
        return " ".join(f"{l}:{t}" for l, t in zip(labels, texts))
    if form == 21:
        return "，".join(f"{l}）{t}" for l, t in zip(labels, texts))
    if form == 22:
        return ",".join(f"{l}. {t}" for l, t in zip([x.lower() for x in labels], texts))
    return " ".join(f"{l} . {t}" for l, t in zip(labels, texts))


_ANSWERS = ["A", "B", "C", "D", "E", "b", "Ｄ", "AB", "A,C", "A、C", "ACD", "A和C", "a,c", "答案：B", "正确答案: A,C",
            '["A"]', '["A", "C"]', '["北京", "上海"]', "2", "1,3", "9", "１、３", "正确", "错误", "对", "错", "√", "×", "T", "F",
            "是", "否", "正确。", "0", "1", "2", "maybe", "复位", "", " ", "B. 绝缘靴", "B、绝缘靴", "绝缘靴", "绝缘靴;钢卷尺",
            "绝缘靴,钢卷尺", "25", "明确安全责任，落实安全措施。", "HH", "A B", "[A]", "（A）"]
_TYPES = ["单选题", "多选题", "判断题", "填空题", "问答题", "选择题", "", "", "single", "judge", "未知", "不定项选择"]


def _row(rnd: random.Random) -> list[str]:
    """A row drawn from the pools: some coherent, some not."""
    options = _options_cell(rnd)
    answer = rnd.choice(_ANSWERS)
    if rnd.random() < 0.25 and options:   # answered by one of its own option texts
        answer = rnd.choice(_WORDS)
    return [rnd.choice(_TYPES), rnd.choice(_STEMS) + str(rnd.randint(0, 40)), options, answer,
            rnd.choice(["", "安规第3条", " 见解析 "])]


def _csv_text(rows: list[list[str]]) -> str:
    import csv

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _big(rows: list[list[str]], header: list[str], pad_column: int) -> list[list[str]]:
    """The rows again, each with a long cell, until the file is over ``FAST_PATH_BYTES``; blank and white
    space rows among them (a spreadsheet's numbering keeps them). Line breaks inside cells become spaces:
    the importer before the speed work refused such a large file (DuckDB's parallel reader), see
    ``test_exam_import_speed_equivalence``."""
    out, size, i = [header], 0, 0
    while size <= FAST_PATH_BYTES * 1.05:
        r = [c.replace("\n", " ") for c in rows[i % len(rows)]]
        r[pad_column] = (r[pad_column] or "") + "解析" * 300 + str(i)
        out.append(r)
        if i % 97 == 5:
            out.append([""] * len(header))
            out.append([" ", "\u3000"] + [""] * (len(header) - 2))
        size += sum(len(c.encode()) for c in r) + len(r)
        i += 1
    return out


def _cols_row(rnd: random.Random) -> list[str]:
    """Options in separate columns, some empty between filled ones; an extra column that holds options
    the mapping does not read on some rows."""
    n = rnd.choice([0, 2, 3, 4, 4, 5, 6])
    cells = [rnd.choice(_WORDS) if rnd.random() > 0.08 else "" for _unused in range(n)] + [""] * (6 - n)
    extra = rnd.choice(["", "", "G. 其他", "G．备选", "G、不选"])
    return [rnd.choice(_STEMS) + str(rnd.randint(0, 9)), *cells, rnd.choice(_ANSWERS), rnd.choice(_TYPES), extra]


def _coded_row(i: int, rnd: random.Random) -> list[str]:
    """Type codes 1..4 (single, multi, judge, blank) and judge answers 1/2 (1 = 正确)."""
    code = str(i % 4 + 1)
    if code == "1":
        return [code, f"第{i}题应穿（　　）", "A. 雨鞋,B. 绝缘靴,C. 布鞋", rnd.choice(["B", "A", "D", "2"])]
    if code == "2":
        return [code, f"第{i}题措施有（　　）", "A. 停电,B. 验电,C. 接地", rnd.choice(["AB", "A,C", "B"])]
    if code == "3":
        return [code, f"第{i}题可以约时停送电。", rnd.choice(["", "A. 正确,B. 错误"]), rnd.choice(["1", "2", "2", "正确"])]
    return [code, f"第{i}题截面不得小于____mm²。", "", rnd.choice(["25", "16", ""])]


def _judge01_row(i: int, rnd: random.Random) -> list[str]:
    """No type column: judge questions answered 0/1 without options, choice questions, blanks."""
    k = i % 5
    if k < 2:
        return [f"第{i}题验电前应先试验。", "", rnd.choice(["0", "1", "1", "0", "2" if i % 211 == 0 else "0"])]
    if k < 4:
        return [f"第{i}题应穿（　　）", "A. 雨鞋,B. 绝缘靴,C. 布鞋", rnd.choice(["B", "AC", "1", "D"])]
    return [f"第{i}题截面不得小于____mm²。", "", rnd.choice(["25", "1", ""])]


def _jsonl(rnd: random.Random, n: int) -> str:
    lines = []
    for i in range(n):
        k = rnd.randrange(5)
        opts = ([f"选项{j}" for j in range(rnd.randint(0, 5))] if k < 2 else
                {l: f"选项{l}" for l in "ABCD"[:rnd.randint(1, 4)]} if k == 2 else
                [{"label": l, "text": f"文本{l}", "isRight": l == "B"} for l in "ABC"] if k == 3 else None)
        rec = {"id": i, "type": rnd.choice(_TYPES), "question": rnd.choice(_STEMS) + str(i),
               "answer": rnd.choice([["A"], ["A", "C"], "B", "正确", 1, 0, None, "选项1"]), "subject": rnd.choice(["变电", ""])}
        if opts is not None:
            rec["options"] = opts
        lines.append(json.dumps(rec, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def write_banks(folder: Path, seed: int = 16) -> list[dict]:
    """The banks and the options each is read with: [{file, options}]."""
    rnd = random.Random(seed)
    header = ["题型", "题目", "选项", "答案", "解析"]
    mixed = [_row(rnd) for _unused in range(2500)]
    mixed += [mixed[i] for i in range(0, 2500, 50)]   # duplicates (some answers then conflict: rows were drawn apart)
    files = {"mixed.csv": [header, *mixed], "mixed_big.csv": _big(mixed, header, 4)}
    cheader = ["题目", "A", "B", "C", "D", "E", "F", "答案", "题型", "附加"]
    cols = [_cols_row(rnd) for _unused in range(1500)]
    files["cols.csv"] = [cheader, *cols]
    files["cols_big.csv"] = _big(cols, cheader, 0)
    coded = [_coded_row(i, rnd) for i in range(1200)]
    files["coded.csv"] = [["题型", "题目", "选项", "答案"], *coded]
    files["coded_big.csv"] = _big(coded, ["题型", "题目", "选项", "答案"], 1)
    j01 = [_judge01_row(i, rnd) for i in range(1500)]
    files["judge01.csv"] = [["题目", "选项", "答案"], *j01]
    files["judge01_big.csv"] = _big(j01, ["题目", "选项", "答案"], 0)
    files["noheader.csv"] = [r[1:4] for r in mixed[:800]]
    specs = []
    for name, rows in files.items():
        (folder / name).write_text(_csv_text(rows), encoding="utf-8")
        specs.append({"file": name, "options": {"no_header": name == "noheader.csv"}})
    for name in ("judge01.csv", "judge01_big.csv", "mixed.csv"):
        specs.append({"file": name, "options": {"zero_is_true": False}})
    specs.append({"file": "cols.csv", "options": {"map": {"*": {"type": "none"}}}})
    (folder / "bank.jsonl").write_text(_jsonl(rnd, 1200), encoding="utf-8")
    specs.append({"file": "bank.jsonl", "options": {}})
    real = ROOT.parent / "shared" / "data" / "exam"   # the real banks (tests/conftest.py DATA), where present
    for path in sorted(real.rglob("*")) if real.is_dir() else []:
        if path.is_file():
            specs.append({"file": str(path), "options": {}})
            if "noheader" in path.name:
                specs.append({"file": str(path), "options": {"no_header": True}})
    return specs


# ------------------------------------------------------------------ reading them (in either checkout)

def decisions(folder: Path, specs: list[dict]) -> list[dict]:
    """What this process's importer decides on each bank: the preview of every row, then an import of the
    valid rows and their conversion to pairs, each on a fresh dataset."""
    from store import db
    from studio.core.errors import StudioError
    from studio.data.exams.convert import convert
    from studio.data.exams.importer import ImportOptions, import_exam, preview

    out = []
    for k, spec in enumerate(specs):
        path = folder / spec["file"]
        opts = ImportOptions.from_json(spec["options"])
        got: dict = {"spec": spec}
        try:
            p = preview(path, opts, limit=10**6)
        except StudioError as err:
            got["refused"] = str(err)
            out.append(got)
            continue
        got.update(total=p.total, by_type=p.by_type, errors=p.errors, duplicates=p.duplicates, rows=p.rows,
                   type_codes=p.type_codes, judge_01=p.judge_01, zero_is_true=p.zero_is_true, notes=p.notes,
                   skipped=p.skipped, sheets=[[s.name, s.rows, s.mapping.header_row, s.by_type, s.errors] for s in p.sheets])
        if path.stat().st_size < FAST_PATH_BYTES:   # the refusal of an import with invalid rows (small banks)
            try:
                import_exam(path, f"strict{k}", opts)
                got["strict"] = "imported"
            except StudioError as err:
                got["strict"] = str(err)
        opts.skip_invalid = True
        try:
            got["imported"] = import_exam(path, f"bank{k}", opts)["imported"]
        except StudioError as err:   # no valid rows
            got["imported"] = str(err)
        got["bank"] = db.rows("""SELECT q.qtype, q.question, q.options, q.answer_labels, q.answer_text, q.basis,
                                        q.subject, q.ext_id, q.source_sheet, q.source_row
                                 FROM exam_questions q JOIN datasets d ON d.id = q.dataset_id
                                 WHERE d.name = ? ORDER BY q.id""", [f"bank{k}"])
        if got["bank"]:
            convert(f"bank{k}", to="qa", into=f"pairs{k}")
            got["pairs"] = db.rows("""SELECT s.instruction, s.output, s.qtype, s.source_row FROM samples s
                                      JOIN datasets d ON d.id = s.dataset_id WHERE d.name = ? ORDER BY s.id""",
                                   [f"pairs{k}"])
        out.append(got)
    return out


def _worker(root: str, folder: str, out: str, loosen: bool) -> None:
    """Run as a script with the checkout ``root`` first on the path: its importer's decisions to ``out``."""
    sys.path.insert(0, root)
    if loosen:   # loosened on purpose: a choice row with one option left (it lost the others) is not refused
        from studio.core import exam_rules

        exam_rules.RULES = tuple(r for r in exam_rules.RULES if r.code != "too_few_options")
    specs = json.loads((Path(folder) / "specs.json").read_text(encoding="utf-8"))
    got = decisions(Path(folder), specs[:1] if loosen else specs)
    Path(out).write_text(json.dumps(got, ensure_ascii=False, default=str, indent=0), encoding="utf-8")


def _run(root: Path, folder: Path, tmp: Path, name: str, *, loosen: bool = False) -> list[dict]:
    out = tmp / f"{name}.json"
    env = {**os.environ, "STUDIO_DB": str(tmp / f"{name}.duckdb"), "STUDIO_LANG": "en", "STUDIO_DEMO": "0",
           "STUDIO_RUNS": str(tmp / f"{name}-runs"), "STUDIO_MODELS": str(tmp / f"{name}-models"),
           "STUDIO_EXPORTS": str(tmp / f"{name}-exports"), "PYTHONPATH": str(root)}
    got = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(root), str(folder), str(out),
                          "loosen" if loosen else "-"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert got.returncode == 0, f"the importer of {root} failed:\n{got.stderr[-4000:]}"
    return json.loads(out.read_text(encoding="utf-8"))


def old_checkout(into: Path) -> Path:
    """The importer of ``OLD_COMMIT``, from this repository's history."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the importer before the speed work cannot be read")
    got = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", OLD_COMMIT, "store", "studio", "locales"],
                         capture_output=True)
    if got.returncode:
        pytest.fail(f"commit {OLD_COMMIT} is not in this clone's history (a shallow clone? git fetch --unshallow): "
                    + got.stderr.decode(errors="replace")[-500:])
    with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def differences(old: list[dict], new: list[dict]) -> list[str]:
    """Where two runs' decisions differ, first difference per bank and field, as a person reads it."""
    found = []
    for a, b in zip(old, new):
        for key in sorted(set(a) | set(b)):
            x, y = a.get(key), b.get(key)
            if x == y:
                continue
            where = f"{Path(a['spec']['file']).name} {a['spec']['options']} · {key}"
            if isinstance(x, list) and isinstance(y, list):
                i = next((i for i, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
                found.append(f"{where}: {len(x)} vs {len(y)} items; first differing #{i}: "
                             f"{x[i] if i < len(x) else None!r} -> {y[i] if i < len(y) else None!r}")
            else:
                found.append(f"{where}: {str(x)[:300]!r} -> {str(y)[:300]!r}")
    if len(old) != len(new):
        found.append(f"{len(old)} banks read before, {len(new)} now")
    return found


@pytest.fixture(scope="module")
def banks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("banks")
    specs = write_banks(folder)
    (folder / "specs.json").write_text(json.dumps(specs), encoding="utf-8")
    work = tmp_path_factory.mktemp("runs")
    old = _run(old_checkout(tmp_path_factory.mktemp("old")), folder, work, "old")
    return folder, work, old


def test_the_banks_exercise_what_the_importer_decides(banks):
    """The generated banks reach every kind of decision: each type, refusals for many reasons, per-file
    readings, rows refused for an unread column, duplicates, both the Python and the DuckDB reading."""
    _folder, _work, old = banks
    reasons = {e["reason"].split(":")[0].split('"')[0][:30] for b in old for e in b.get("errors", [])}
    assert len(reasons) >= 15, reasons
    types = {t for b in old for t, n in b.get("by_type", {}).items() if n}
    assert types == {"single", "multi", "judge", "blank", "open"}
    assert any(b.get("type_codes") for b in old) and any(b.get("judge_01") for b in old)
    assert any("not mapped" in e["reason"] for b in old for e in b.get("errors", []))
    assert any(b.get("duplicates") for b in old)
    assert sum(len(b.get("rows", [])) for b in old) > 20_000
    assert all("malformed" in b["spec"]["file"] for b in old if "refused" in b)   # the real broken CSV only


def test_the_importer_decides_as_it_did_before_the_speed_work(banks):
    folder, work, old = banks
    new = _run(ROOT, folder, work, "new")
    found = differences(old, new)
    assert not found, "\n".join(found[:20])


def test_a_changed_decision_is_caught(banks):
    folder, work, old = banks
    loose = _run(ROOT, folder, work, "loose", loosen=True)   # the first bank only
    fields = {d.split(" · ")[1].split(":")[0] for d in differences(old[:1], loose)}
    assert {"by_type", "errors", "rows", "bank", "pairs"} <= fields


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "loosen")
