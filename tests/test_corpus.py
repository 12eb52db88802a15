"""Corpora: readers, structure-aware chunking on the real laws, import via CLI, all or nothing."""
import json
import re
import shutil
import subprocess

import pytest

from store import db
from studio.core.errors import InputError
from studio.data.corpus import chunk, import_corpus, read
from studio.data.corpus.chunking import ARTICLE
from tests.conftest import DATA, ROOT, run_cli

LAWS = DATA / "corpus" / "laws"
COUNTS = {"electric_power_law_2018.txt": 75, "work_safety_law_2021.txt": 119,
          "power_facilities_protection_regulations_2011.txt": 32}


def articles(text: str) -> list[str]:
    """The articles of a law file as written: the 第X条 line and its following paragraphs."""
    body = text.split("<!-- INFO END -->")[1]
    out, cur = [], None
    for line in body.split("\n"):
        if line.startswith("#"):
            cur = None
        elif ARTICLE.match(line):
            cur = [line]
            out.append(cur)
        elif cur is not None and line.strip():
            cur.append(line)
    return ["\n\n".join(a) for a in out]


@pytest.mark.parametrize("name,count", sorted(COUNTS.items()))
def test_one_passage_per_article_on_the_real_laws(name, count):
    doc = read(LAWS / name)[0]
    passages = chunk(doc.text)  # default size 800: every article of these laws fits
    assert len(passages) == count
    assert [p.ord for p in passages] == list(range(count))
    for p, article in zip(passages, articles(doc.text)):
        assert p.text == article.strip()  # whole article, nothing else
        assert doc.text[p.char_start:p.char_end] == p.text
        assert re.match(r"^第.+章 .+ / 第.+条$", p.heading), p.heading
    assert passages[0].heading.startswith("第一章 总则 / 第一条")


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_an_article_is_split_only_when_it_exceeds_the_size(name):
    doc = read(LAWS / name)[0]
    size = 150
    passages = chunk(doc.text, size=size, overlap=0)
    by_heading = {}
    for p in passages:
        assert len(p.text) <= size
        assert doc.text[p.char_start:p.char_end] == p.text
        by_heading.setdefault(p.heading, []).append(p)
    arts = articles(doc.text)
    assert len(by_heading) == len(arts) == COUNTS[name]
    split = 0
    for (heading, pieces), article in zip(by_heading.items(), arts):
        if len(article) <= size:
            assert len(pieces) == 1 and pieces[0].text == article.strip()
        else:
            split += 1
            assert len(pieces) > 1
            # pieces end at sentence or line ends (clause ends when one sentence is longer than the size)
            assert all(p.text[-1] in "。！？；，、：" or doc.text[p.char_end] == "\n" for p in pieces[:-1]), \
                [p.text[-3:] for p in pieces]
            assert "".join(re.sub(r"\s", "", p.text) for p in pieces) == re.sub(r"\s", "", article)
    assert split > 0


def test_overlap_repeats_whole_sentences():
    text = "第一条 " + "".join(f"第{i}句话讲安全距离。" for i in range(1, 30))
    pieces = chunk(text, size=60, overlap=25)
    assert len(pieces) > 3
    for a, b in zip(pieces, pieces[1:]):
        assert b.char_start < a.char_end  # overlapping
        shared = text[b.char_start:a.char_end]
        assert shared.endswith("。") and len(shared) <= 25


def test_paragraphs_pack_under_headings_and_plain_text_works():
    text = "# 手册\n\n## 一、概述\n\n短段一。\n\n短段二。\n\n## 二、要求\n\n要求一。\n" + "长" * 50 + "。\n"
    passages = chunk(text, size=40)
    assert [p.heading for p in passages][:1] == ["一、概述"]
    assert passages[0].text == "短段一。\n\n短段二。"
    assert all(p.heading == "二、要求" for p in passages[1:])
    assert all(len(p.text) <= 40 for p in passages)


def test_encodings_gbk_bom_and_utf8(tmp_path):
    text = "## 第一章 总则\n\n第一条 雷雨天气，需要巡视室外高压设备时，应穿绝缘靴。\n"
    (tmp_path / "gbk.txt").write_bytes(text.replace("\n", "\r\n").encode("gbk"))
    (tmp_path / "bom.md").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    for name in ("gbk.txt", "bom.md"):
        doc = read(tmp_path / name)[0]
        assert doc.text.startswith("## 第一章") and "\r" not in doc.text
        assert chunk(doc.text)[0].text == "第一条 雷雨天气，需要巡视室外高压设备时，应穿绝缘靴。"


def test_jsonl_text_field_and_a_clear_error(tmp_path):
    good = tmp_path / "docs.jsonl"
    good.write_text("\n".join(json.dumps({"title": f"篇{i}", "text": f"第{i}篇的正文。"}, ensure_ascii=False)
                              for i in range(3)), encoding="utf-8")
    docs = read(good)
    assert [d.title for d in docs] == ["篇0", "篇1", "篇2"]
    with pytest.raises(InputError) as err:
        read(DATA / "corpus" / "huatuo_med" / "llama_data_first1000.json")
    assert "row 1" in str(err.value) and "instruction, input, output" in str(err.value)
    docs = read(DATA / "corpus" / "huatuo_med" / "llama_data_first1000.json", text_field="output")
    assert len(docs) == 1000


def test_docx_headings_become_structure(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("配电规程", level=0)
    d.add_heading("第一章 总则", level=1)
    d.add_paragraph("第一条 为了规范作业，制定本规程。")
    d.add_paragraph("第二条 本规程适用于10千伏配电线路。")
    d.save(tmp_path / "rules.docx")
    doc = read(tmp_path / "rules.docx")[0]
    passages = chunk(doc.text)
    assert doc.title == "配电规程"
    assert [p.heading for p in passages] == ["第一章 总则 / 第一条", "第一章 总则 / 第二条"]


def test_pdf_text_is_reflowed(tmp_path):
    """A real PDF with Chinese text, printed by headless Chromium; hard line wraps are joined."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    html = tmp_path / "law.html"
    html.write_text("<html><body style='width:300px;font-size:16px'><h2>第一章 总则</h2>"
                    "<p>第一条 为了保障电力安全运行，维护电力投资者、经营者和使用者的合法权益，制定本规程。</p>"
                    "<p>第二条 本规程适用于本企业管辖的10千伏及以下配电线路和设备。</p></body></html>",
                    encoding="utf-8")
    pdf = tmp_path / "law.pdf"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--print-to-pdf={pdf}", html.as_uri()],
                   check=True, capture_output=True, timeout=120)
    doc = read(pdf)[0]
    passages = chunk(doc.text)
    assert [p.heading for p in passages] == ["第一章 总则 / 第一条", "第一章 总则 / 第二条"]
    assert passages[0].text.replace(" ", "") == \
        "第一条为了保障电力安全运行，维护电力投资者、经营者和使用者的合法权益，制定本规程。"


def test_cli_import_corpus(studio_env):
    files = [str(LAWS / n) for n in sorted(COUNTS)]
    r = run_cli("import", "corpus", *files, "--dataset", "电力法规", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"dataset": "电力法规", "documents": 3, "passages": 226}
    from studio.data.corpus import documents

    docs = documents("电力法规")
    assert sorted(d["passages"] for d in docs) == [32, 75, 119]


def test_a_bad_file_changes_nothing(studio_env, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "好的。"}\n{"text": 不是JSON}\n', encoding="utf-8")
    r = run_cli("import", "corpus", str(LAWS / "electric_power_law_2018.txt"), str(bad), "--dataset", "x")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "bad.jsonl, row 2: not valid JSON" in r.stderr
    with pytest.raises(InputError):
        import_corpus([LAWS / "electric_power_law_2018.txt", tmp_path / "none.txt"], "x")
    assert db.scalar("SELECT count(*) FROM datasets") == 0
    assert db.scalar("SELECT count(*) FROM passages") == 0


def test_page_errors_name_the_uploaded_file_not_its_temporary_copy(studio_env):
    """Upload errors used to name /tmp/studio-corpus-…/0-bad.jsonl."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/import_corpus.py").run()
    at.file_uploader(key="corpus_files").set_value(
        [("bad.jsonl", '{"text": "好的。"}\n{"text": 不是JSON}\n'.encode(), "application/json")])
    at.text_input(key="corpus_dataset").set_value("坏")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "bad.jsonl, row 2: not valid JSON: a value is missing, or text is not in double quotes (column 10)"]
    assert db.scalar("SELECT count(*) FROM passages") == 0
