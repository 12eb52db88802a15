"""Chinese first: every string a person reads comes from the catalogs, and zh has all of them.

- The catalog is complete: every message marked in the code is in ``locales/zh_CN`` with a translation
  (``python -m studio.core.catalogs update`` merges new ones; a new untranslated string fails here).
- Nothing visible is written around the catalog: an ``ast`` walk finds text literals (or f-strings) handed
  to Streamlit's display calls in pages/, to the studio's errors, and to the CLI's prints.
- Each page rendered in zh (AppTest, demo project loaded) shows no English words in its titles, labels,
  buttons, captions and messages, beyond names of formats and tools.
- The language follows the switch, then STUDIO_LANG, then the browser; the switch sticks across pages.
- The glossary's terms are what the translations use.
"""
from __future__ import annotations

import ast
import csv
import re
from pathlib import Path

import pytest

from studio.core import i18n
from tests.conftest import ROOT

# --- the catalog -------------------------------------------------------------------------------------


def test_every_marked_message_has_a_chinese_translation():
    from studio.core import catalogs

    extracted = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalogs.extract() if m.id}
    zh = catalogs._read("zh")
    in_catalog = {m.id[0] if isinstance(m.id, tuple) else m.id for m in zh if m.id}
    missing = sorted(extracted - in_catalog)
    assert not missing, f"run `python -m studio.core.catalogs update`; not in the zh catalog: {missing[:20]}"
    untranslated = catalogs.untranslated("zh")
    assert not untranslated, f"zh has {len(untranslated)} untranslated messages, e.g. {untranslated[:20]}"


def test_translations_keep_their_placeholders():
    from studio.core import catalogs

    for message in catalogs._read("zh"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"\{\w*\}", ids[-1]))
        for text in strings:
            assert set(re.findall(r"\{\w*\}", text)) == wanted, (ids[0], text)


# --- nothing visible outside the catalog ---------------------------------------------------------------

# Streamlit calls whose text arguments a person reads, and the keyword arguments that carry text
DISPLAY_CALLS = {
    "title", "header", "subheader", "caption", "markdown", "write", "text", "button", "download_button",
    "form_submit_button", "checkbox", "toggle", "radio", "selectbox", "multiselect", "slider",
    "select_slider", "text_input", "number_input", "text_area", "date_input", "time_input", "file_uploader",
    "info", "warning", "error", "success", "toast", "metric", "expander", "tabs", "popover", "status",
    "spinner", "progress", "segmented_control", "pills", "link_button", "page_link", "dialog", "chat_input",
    "color_picker", "feedback", "TextColumn", "NumberColumn", "CheckboxColumn", "SelectboxColumn",
    "LinkColumn", "ListColumn", "DatetimeColumn", "DateColumn", "ProgressColumn", "Column", "JSONColumn",
    "MultiselectColumn", "update_layout", "update_xaxes", "update_yaxes", "Page",
}
TEXT_KWARGS = {"label", "help", "placeholder", "title", "caption", "body", "text", "value_label",
               "xaxis_title", "yaxis_title", "legend_title", "legend_title_text", "title_text"}
PLOTLY_CALLS = {"bar", "line", "scatter", "histogram", "box", "pie", "imshow", "area", "violin", "strip"}
ERROR_NAMES = re.compile(r"(Error|Invalid|Conflict|Refused|NotFound|Exception)$")
_WORD = re.compile(r"[A-Za-z]{2,}")


def _has_words(node: ast.AST) -> bool:
    """A text literal or f-string whose own text holds English words (format fields do not count)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if re.search(r"[\u4e00-\u9fff]", node.value):
            return False  # written in both languages on purpose ("语言 / Language")
        text = re.sub(r":material/\w+:|\{[^}]*\}|<[^>]*>|\S*/\S*|\S*\.py\b", "", node.value)
        return bool(_WORD.search(text))
    if isinstance(node, ast.JoinedStr):
        return any(_has_words(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):
        return _has_words(node.left) or _has_words(node.right)
    if isinstance(node, ast.IfExp):
        return _has_words(node.body) or _has_words(node.orelse)
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        return any(_has_words(e) for e in node.elts)
    return False


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _bare_texts(path: Path, rules) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in rules(node):
                if _has_words(arg):
                    found.append(f"{path.relative_to(ROOT)}:{arg.lineno}: {ast.unparse(arg)[:80]}")
    return found


def _page_rule(node: ast.Call):
    name = _call_name(node)
    if name in DISPLAY_CALLS:
        yield from node.args[:1] if name not in {"tabs", "radio", "Page"} else node.args[:2]
        yield from (k.value for k in node.keywords if k.arg in TEXT_KWARGS)
    if name in PLOTLY_CALLS:
        yield from (k.value for k in node.keywords if k.arg in TEXT_KWARGS)
        for k in node.keywords:
            if k.arg == "labels" and isinstance(k.value, ast.Dict):
                yield from k.value.values


def _error_rule(node: ast.Call):
    if ERROR_NAMES.search(_call_name(node)) and node.args:
        yield node.args[0]


def _print_rule(node: ast.Call):
    if _call_name(node) in {"print", "exit", "error", "write"} and node.args:
        yield node.args[-1] if _call_name(node) == "exit" else node.args[0]


def _files(*folders: str) -> list[Path]:
    out = []
    for folder in folders:
        path = ROOT / folder
        out += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [p for p in out if "__pycache__" not in p.parts]


def test_pages_hand_streamlit_no_text_outside_the_catalog():
    found = [hit for path in _files("pages", "app.py") for hit in _bare_texts(path, _page_rule)]
    assert not found, "wrap in _():\n" + "\n".join(found)


def test_errors_people_read_come_from_the_catalog():
    found = [hit for path in _files("studio", "store", "exports", "trainers")
             if path.name != "catalogs.py" for hit in _bare_texts(path, _error_rule)]
    assert not found, "wrap in _():\n" + "\n".join(found)


def test_cli_prints_come_from_the_catalog():
    found = [hit for path in _files("studio/cli") for hit in _bare_texts(path, _print_rule)]
    assert not found, "wrap in _():\n" + "\n".join(found)


def test_no_module_hides_the_translation_function():
    """``for _ in ...`` or ``a, _ = ...`` in a module that imports ``_`` would shadow it."""
    offenders = []
    for path in _files("pages", "studio", "store", "exports", "trainers", "app.py", "serve.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports_it = any(isinstance(n, ast.ImportFrom) and n.module == "studio.core.i18n"
                         and any(a.name == "_" for a in n.names) for n in ast.walk(tree))
        if not imports_it:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


# --- the language ---------------------------------------------------------------------------------------


def test_language_tags_and_defaults(monkeypatch):
    assert [i18n.normalise(t) for t in ("zh-CN", "zh_CN.UTF-8", "zh-Hans-CN", "en-US", "fr", None)] == \
        ["zh", "zh", "zh", "en", None, None]
    monkeypatch.delenv("STUDIO_LANG")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert i18n.default_lang() == "zh"
    monkeypatch.setenv("STUDIO_LANG", "en")
    assert i18n.default_lang() == "en"
    with i18n.using("zh"):
        assert i18n.current() == "zh" and i18n._("Home") == "首页"
    assert i18n.current() == "en" and i18n._("Home") == "Home"


def _app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


def _switch(at):
    return next(w for w in at.sidebar if getattr(w, "label", None) == "语言 / Language")


def test_switch_beats_the_environment_and_sticks_across_pages_and_reloads(monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "en")
    at = _app()
    at.run()
    assert at.title and not any(re.search(r"[\u4e00-\u9fff]", t.value) for t in at.title)  # English first
    at.session_state["ui_lang"] = "zh"  # what the switch's click stores (and puts in the address)
    at.run()
    at.switch_page("pages/datasets.py")
    at.run()
    assert not at.exception, at.exception
    assert any("数据集" in t.value for t in [*at.title, *at.header, *at.subheader]), [t.value for t in at.title]
    reloaded = _app()  # a reload: a new session with the address's ?lang=zh (the browser test clicks it)
    reloaded.query_params["lang"] = "zh"
    reloaded.run()
    assert any(re.search(r"[\u4e00-\u9fff]", t.value) for t in reloaded.title), [t.value for t in reloaded.title]


def test_browser_locale_when_nothing_else_says(monkeypatch):
    from pages import ui

    monkeypatch.delenv("STUDIO_LANG")

    class Context:
        locale = "en-GB"

    class Query(dict):
        def get(self, key, default=None):
            return dict.get(self, key, default)

    monkeypatch.setattr(ui.st, "context", Context())
    monkeypatch.setattr(ui.st, "session_state", {})
    monkeypatch.setattr(ui.st, "query_params", Query())
    assert ui.chosen_language() == "en"
    Context.locale = None
    assert ui.chosen_language() == "zh"  # Chinese first when the browser says nothing
    monkeypatch.setenv("STUDIO_LANG", "en")
    assert ui.chosen_language() == "en"


# --- the glossary ---------------------------------------------------------------------------------------


def _glossary() -> list[dict]:
    with (ROOT / "locales" / "glossary.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_translations_use_the_glossary_terms():
    from studio.core import catalogs

    terms = [(g["en"], g["zh"]) for g in _glossary() if len(g["en"]) > 3]
    wrong = []
    for message in catalogs._read("zh"):
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        text = message.string[0] if isinstance(message.string, tuple) else message.string
        if not msgid or not text:
            continue
        for en, zh in terms:
            if re.fullmatch(re.escape(en), msgid.strip(" .:"), flags=re.I) and zh not in text:
                wrong.append(f"{msgid!r} -> {text!r} (glossary: {zh})")
    assert not wrong, wrong


# --- every page in zh -----------------------------------------------------------------------------------

PAGES = ["home", "jobs", "import_exam", "questions", "import_corpus", "convert", "generate", "review",
         "datasets", "snapshots", "export", "train", "runs", "compare", "results", "tasks", "playground", "reports"]
# names of formats, tools and units a Chinese page may show as they are
ALLOWED_WORDS = {w.lower() for w in """
LoRA QLoRA P-Tuning PTuning v2 JSON JSONL CSV XLSX XLS Excel Word API URL GPU CPU CUDA token tokens ChatGLM
Alpaca ShareGPT OpenAI Hugging Face HF parquet DuckDB LLM ID Markdown UTF GBK SQL CLI vLLM peft Qwen
DeepSeek Ollama MB GB KB ms min zh en English Language Streamlit docx doc txt pdf bf fp top_p top_k
LLaMA LLaMA-Factory TRL md messages content summary instruction input output history conversations tools
DreamerGPT YaYi GPT ChatGPT max_new_tokens seed Krippendorff Elo rank alpha dropout batch cutoff TSV
STUDIO_LANG OPENAI_API_KEY base_url jsonl xlsx csv json id ok pid Self-instruct vllm
""".split()}


def english_words(text: str) -> list[str]:
    """English words left in a text a Chinese reader sees (code spans, names of formats and tools allowed)."""
    text = re.sub(r"`[^`]*`|:material/\w+:|https?://\S+|\b[A-Z][A-Z0-9_]{2,}\b|\b[\w.-]+\.(?:py|json|jsonl|csv|"
                  r"xlsx|xls|md|txt|docx|parquet|duckdb)\b", " ", text)
    return [w for w in re.findall(r"[A-Za-z][A-Za-z_-]*[A-Za-z]", text) if w.lower() not in ALLOWED_WORDS
            and not DATA_WORDS.search(w)]


DATA_WORDS = re.compile(r"^(demo|exam|corpus|tiny|llama|run|snapshot|qa|mc|cloze)\b", re.I)  # demo data's names


def visible_texts(at) -> list[str]:
    texts = []
    for kind in ("title", "header", "subheader", "caption", "info", "warning", "error", "success",
                 "markdown"):
        texts += [e.value for e in getattr(at, kind)]
    for kind in ("button", "text_input", "number_input", "selectbox", "multiselect", "radio", "checkbox",
                 "toggle", "slider", "text_area", "date_input", "select_slider"):
        texts += [w.label for w in getattr(at, kind)]
        texts += [w.help for w in getattr(at, kind) if getattr(w, "help", None)]
    texts += [t.label for t in at.tabs] + [e.label for e in at.expander] + [m.label for m in at.metric]
    return [t for t in texts if t and t != "语言 / Language"]


@pytest.fixture
def zh_demo(monkeypatch, studio_env):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    monkeypatch.setenv("STUDIO_DEMO", "1")
    from studio.project import init

    init(build_model=False)
    yield
    from studio.service import supervisor

    supervisor.stop()


@pytest.mark.parametrize("page", PAGES)
def test_each_page_in_chinese_shows_no_english(zh_demo, page):
    at = _app()
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    leftovers = {t: english_words(t) for t in visible_texts(at)}
    leftovers = {t: w for t, w in leftovers.items() if w}
    assert not leftovers, leftovers
    headings = [e.value for e in [*at.title, *at.header, *at.subheader]]
    assert any(re.search(r"[\u4e00-\u9fff]", h) for h in headings), headings
