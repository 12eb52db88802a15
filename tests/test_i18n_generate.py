"""Corpus, generation and review in the reader's language, and the rough edges found in a full walk.

- Enter in the corpus name no longer imports: only the Import button does.
- Every number a batch takes has a range checked by ``studio.generate`` (the CLI exits 2 with one line;
  the Generate page disables Start and says why while a field shows an out-of-range value).
- Review: the pending counts in the dataset picker and the status filter update right after a bulk decision;
  the throughput chart has a readable hour axis and translated titles.
- A broken, empty or locked file is named in the user's words, never the reading library's.
"""
from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from store import db
from studio.core import i18n
from studio.core.errors import InputError, WorkFailed
from studio.data.corpus import import_corpus, read
from studio.generate import Options, option_problems, run
from tests.conftest import DATA, ROOT, run_cli

LAW = DATA / "corpus" / "laws" / "power_facilities_protection_regulations_2011.txt"  # 32 passages
TEXT = "## 第一章 总则\n\n第一条 雷雨天气，需要巡视室外高压设备时，应穿绝缘靴。\n\n第二条 安全距离不得小于0.7米。\n"


def _page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


# --- Import corpus: Enter in a field is not a click ------------------------------------------------------

def test_entering_a_corpus_name_does_not_import_only_the_button_does():
    at = _page("pages/import_corpus.py")
    at.file_uploader(key="corpus_files").set_value([("rules.txt", TEXT.encode(), "text/plain")]).run()
    at.text_input(key="corpus_dataset").input("安规").run()  # typing the name and pressing Enter: one rerun
    assert not at.exception, at.exception
    assert db.scalar("SELECT count(*) FROM datasets") == 0 and db.scalar("SELECT count(*) FROM passages") == 0
    assert not at.success
    at.button(key="corpus_import").click().run()
    assert not at.exception, at.exception
    assert db.scalar("SELECT count(*) FROM passages") == 2
    assert any("2 passages" in s.value for s in at.success)


def test_an_out_of_range_passage_size_disables_import_with_the_reason():
    at = _page("pages/import_corpus.py")
    at.number_input(key="corpus_size").set_value(-3).run()
    assert at.button(key="corpus_import").disabled
    assert any("Passage size must be a whole number from 20 to 20,000 characters." in w.value for w in at.warning)
    at.number_input(key="corpus_size").set_value(400).run()
    assert not at.button(key="corpus_import").disabled


# --- Generate: numbers in range, checked where the work is defined -----------------------------------------

@pytest.mark.parametrize("options,problem", [
    (Options(), None),
    (Options(concurrency=-3), "Concurrency must be a whole number from 1 to 64, not -3."),
    (Options(concurrency=65), "Concurrency must be a whole number from 1 to 64, not 65."),
    (Options(concurrency=2.5), "Concurrency must be a whole number from 1 to 64, not 2.5."),
    (Options(temperature=3.0), "Temperature must be a number from 0 to 2, not 3.0."),
    (Options(n=0), "Questions / pairs per passage must be a whole number from 1 to 20, not 0."),
    (Options(retries=-1), "Retries must be a whole number from 0 to 20, not -1."),
    (Options(timeout=0), "Timeout (seconds per request) must be a number from 1 to 3,600, not 0."),
    (Options(rpm=-5), "Requests / minute must be a number from 0 to 100,000, not -5."),
    (Options(limit=0), "Passages this run must be a whole number from 1 to 1,000,000,000, not 0."),
    (Options(per_passage=21), "Cloze pairs per passage must be a whole number from 1 to 20, not 21."),
    (Options(budget=float("nan")), "Budget (estimated cost) must be a number from 0 to 1,000,000,000, not nan."),
])
def test_every_number_has_a_range(options, problem):
    assert option_problems(options) == ([problem] if problem else [])


def test_the_cli_refuses_a_negative_concurrency_with_one_line():
    r = run_cli("generate", "--dataset", "条例", "--into", "x", "--strategy", "cloze", "--concurrency", "-3")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["error: Concurrency must be a whole number from 1 to 64, not -3."]
    zh = run_cli("generate", "--dataset", "条例", "--into", "x", "--concurrency", "-3", env={"STUDIO_LANG": "zh"})
    assert zh.returncode == 2 and "并发数必须是 1 到 64 之间的整数，当前为 -3。" in zh.stderr
    assert zh.stderr.strip().count("\n") == 0


def test_run_refuses_before_anything_is_written():
    import_corpus([LAW], "条例")
    with pytest.raises(InputError, match="Cloze pairs per passage"):
        run("条例", "条例-cloze", "cloze", options=Options(per_passage=0))
    assert db.scalar("SELECT count(*) FROM generation_batches") == 0


def test_start_is_disabled_while_a_number_is_out_of_range():
    import_corpus([LAW], "条例")
    at = _page("pages/generate.py")
    at.number_input(key="gen_concurrency").set_value(-3).run()
    assert at.button(key="gen_start").disabled
    assert any("Concurrency must be a whole number from 1 to 64, not -3." in w.value for w in at.warning)
    at.number_input(key="gen_concurrency").set_value(4).run()
    assert not at.button(key="gen_start").disabled and not at.warning
    at.radio(key="gen_strategy").set_value("cloze").run()
    at.number_input(key="gen_per_passage").set_value(0).run()
    assert at.button(key="gen_start").disabled
    assert db.scalar("SELECT count(*) FROM generation_batches") == 0


def test_a_batch_writes_its_messages_in_the_language_of_whoever_started_it(monkeypatch):
    """The pause reason comes from the worker threads: they carry the starter's language."""
    from testkit.canned import reply
    from testkit.fake_openai import FakeOpenAI

    import_corpus([LAW], "条例")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-studio-TEST-7f3a9c1e5b2d4a6f")
    with FakeOpenAI(reply=reply) as server, i18n.using("zh"):
        server.fail_with = 500
        with pytest.raises(WorkFailed) as err:
            run("条例", "条例-qa", "qa", model="m", base_url=server.url,
                options=Options(concurrency=2, pause_after=2, timeout=2.0, retries=0, backoff_s=0.01))
    assert "连续 2 个段落失败后已暂停：接口出错（500）" in str(err.value), str(err.value)
    assert "再次运行即可继续" in str(err.value)


# --- Review: counts that follow the decisions, a readable throughput chart -----------------------------------

def _shown(box, before: str) -> str:
    """The text a browser shows in a keyed selectbox after this run: the value handed to it, else what it
    showed before (Streamlit keeps the chosen option's text in the browser)."""
    return box.proto.raw_value if box.proto.set_value else before


def test_pending_counts_update_right_after_a_bulk_decision():
    from studio.project.demo_corpus import DEMO_CLOZE, load_demo

    load_demo()
    pending = db.scalar("SELECT count(*) FROM samples WHERE status = 'pending'")
    at = _page("pages/review.py")
    at.text_input(key="review_reviewer").input("carol").run()
    picker = at.selectbox(key="review_dataset")
    shown_picker = picker.options[picker.index]
    status = at.selectbox(key="review_status")
    shown_status = status.options[status.index]
    assert shown_picker == f"{DEMO_CLOZE} · {pending} pending of {pending}" and shown_status == f"pending ({pending})"
    at.checkbox(key="review_bulk_confirm").check().run()
    at.button(key="review_bulk_apply").click().run()
    assert not at.exception, at.exception
    assert db.scalar("SELECT count(*) FROM samples WHERE status = 'pending'") == 0
    assert any(f"{pending} samples accepted by carol." in s.value for s in at.success)
    shown_picker = _shown(at.selectbox(key="review_dataset"), shown_picker)
    shown_status = _shown(at.selectbox(key="review_status"), shown_status)
    assert shown_picker == f"{DEMO_CLOZE} · 0 pending of {pending}"
    assert shown_status == "pending (0)"
    at.run()  # and stays right on the runs after
    assert _shown(at.selectbox(key="review_dataset"), shown_picker) == f"{DEMO_CLOZE} · 0 pending of {pending}"
    at.selectbox(key="review_status").set_value("all").run()
    assert at.checkbox(key="review_bulk_confirm").value is False  # the next bulk decision asks again


def test_throughput_is_plotted_per_hour_on_a_readable_axis_in_the_readers_language():
    from studio.data import review
    from studio.project.demo_corpus import DEMO_CLOZE, load_demo

    load_demo()
    review.bulk(DEMO_CLOZE, review.Filters(status="pending", search="千伏"), "accept", "alice")
    stats = review.stats(DEMO_CLOZE)
    fig = review.figures(stats)["throughput"]
    assert fig.layout.xaxis.type == "category"
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:00", x) for trace in fig.data for x in trace.x)
    assert fig.layout.title.text == "Decisions per reviewer per hour"
    with i18n.using("zh"):
        figs = review.figures(stats)
    assert figs["throughput"].layout.title.text == "每位审核人每小时的审核数"
    assert figs["throughput"].layout.xaxis.title.text == "小时"
    assert figs["throughput"].layout.yaxis.title.text == "审核数"
    assert figs["model"].data[0].x[0] == "离线填空题" and figs["template"].layout.title.text == "各模板的通过率"


# --- Corpus files: the user's words, the file (and line) named -------------------------------------------

def _pdf(*, text_page: bool = False, password: str | None = None) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx() -> bytes:
    import docx

    out = io.BytesIO()
    d = docx.Document()
    d.add_paragraph("第一条 为了规范作业，制定本规程。")
    d.save(out)
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.txt", "x")
    return out.getvalue()


LIBRARY_WORDS = re.compile(r"Expecting|PackageNotFound|BadZip|zip file|Stream has ended|EOF|KeyError|PdfReadError|"
                           r"Content_Types|decrypted|Traceback", re.I)


@pytest.mark.parametrize("name,data,row,words", [
    ("empty.txt", b"", None, "the file is empty"),
    ("empty.jsonl", b"\n\n", None, "the file is empty: it holds no JSON lines"),
    ("bad.jsonl", '{"text": "好。"}\n{"text": "好。"}\n{"text": 不是}\n'.encode(), 3,
     "not valid JSON: a value is missing, or text is not in double quotes (column 10)"),
    ("comma.jsonl", b'{"text": "a" "title": "b"}\n', 1, "a comma is missing between two values"),
    ("list.jsonl", b'["a", "b"]\n', 1, "each line must be a JSON object with a text field"),
    ("empty.docx", b"", None, "the file is empty"),
    ("text.docx", b"just some text", None, "this file is not a Word .docx document"),
    ("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, None, "an old Word .doc file"),
    ("other.docx", _zip(), None, "this .docx file is damaged or is not a Word document"),
    ("cut.docx", _docx()[:2000], None, "this .docx file is damaged or is not a Word document"),
    ("empty.pdf", b"", None, "the file is empty"),
    ("text.pdf", b"hello", None, "this file is not a PDF"),
    ("cut.pdf", _pdf()[:200], None, "this PDF is damaged"),
    ("locked.pdf", _pdf(password="pw"), None, "protected by a password"),
    ("scanned.pdf", _pdf(), None, "no text to extract (a scanned PDF needs OCR first)"),
    ("notes.rtf", b"{\\rtf1}", None, "cannot read .rtf files"),
])
def test_a_bad_file_reads_as_the_users_words(tmp_path, capfd, name, data, row, words):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        read(path)
    message = str(err.value)
    assert words in message and name in message, message
    assert err.value.row == row and (f"row {row}" in message if row else "row" not in message)
    assert not LIBRARY_WORDS.search(message), message
    assert not capfd.readouterr().err  # nothing from the reading library on stderr either


def test_the_errors_read_in_chinese_and_the_cli_names_the_file(tmp_path):
    bad = tmp_path / "坏.jsonl"
    bad.write_text('{"text": "好。"}\n{"text": 不是JSON}\n', encoding="utf-8")
    with i18n.using("zh"), pytest.raises(InputError) as err:
        read(bad)
    assert "不是有效的 JSON：缺少一个值，或文字没有用双引号括起来（第 10 列）" in str(err.value)
    r = run_cli("import", "corpus", str(bad), "--dataset", "x")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "坏.jsonl, row 2: not valid JSON: a value is missing" in r.stderr and "Expecting" not in r.stderr


def test_a_json_array_file_is_read_item_by_item(tmp_path):
    path = tmp_path / "docs.json"
    path.write_text(json.dumps([{"title": f"篇{i}", "text": f"第{i}篇的正文。"} for i in range(3)], ensure_ascii=False,
                               indent=2), encoding="utf-8")
    assert [d.title for d in read(path)] == ["篇0", "篇1", "篇2"]


# --- the pages in Chinese ------------------------------------------------------------------------------------

def test_the_pages_read_in_chinese(monkeypatch):
    from studio.project.demo_corpus import load_demo

    monkeypatch.setenv("STUDIO_LANG", "zh")
    load_demo()
    at = _page("pages/import_corpus.py")
    assert at.title[0].value == "导入语料" and at.button(key="corpus_import").label == "导入"
    assert at.text_input(key="corpus_dataset").label == "语料名称"
    at = _page("pages/generate.py")
    assert at.button(key="gen_start").label == "开始 / 继续"
    assert at.number_input(key="gen_concurrency").label == "并发数"
    at.number_input(key="gen_concurrency").set_value(-3).run()
    assert any("并发数必须是 1 到 64 之间的整数，当前为 -3。" in w.value for w in at.warning)
    assert at.radio(key="gen_strategy").format_func("cloze") == "填空题（离线）"
    at = _page("pages/review.py")
    at.text_input(key="review_reviewer").input("张工").run()
    assert not at.exception, at.exception
    assert at.button(key="review_accept").label == "通过" and at.button(key="review_reject").label == "驳回"
    assert [t.label for t in at.tabs] == ["审核队列", "批量操作", "统计"]
    assert "待审核" in at.selectbox(key="review_dataset").options[0]
    assert any(c.value.startswith("答案在段落中的依据") for c in at.caption)
