"""Convert: an exam bank -> QA pairs (一问一答) or choice pairs (带选项), through a template previewed live
on the bank's real rows; optional option-shuffle copies, domain prefix and system prompt. The conversion
itself is a job of the server (kind ``convert``); this page shows its progress and its one-line result.
The numbers (shuffle copies, seed) are checked by ``convert.option_problems``, the check the conversion
itself makes: Convert stays disabled, saying why, while one is out of range."""
import json

import pandas as pd
import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.core.exam_rules import type_word
from studio.core.i18n import _, ngettext
from studio.core.labels import label
from studio.data.exams import convert as cv

st.title(_("Convert"))
st.caption(_("Turn an exam bank into training pairs. QA: the question with its blank as `___`, the answer text. "
             "Choice: the question, its options one per line, the answer as `B. 绝缘靴`. Converted pairs are "
             "accepted (exam answers are authoritative) and keep a link to their question: fix a question, "
             "convert again into the same dataset and its pairs are replaced."))

banks = cv.exam_datasets()
if not banks:
    st.info(_("No exam bank yet: import one on the Import exam bank page."))
    st.page_link(page="pages/import_exam.py", label=_("Import exam bank"), icon=":material/upload_file:")
    st.stop()

PAIRS = {"qa": _("QA (一问一答)"), "choice": _("Choice (带选项)")}
c1, c2 = st.columns(2)
dataset = c1.selectbox(_("Exam bank"), banks, key="convert_dataset")
to = c2.radio(_("Pairs"), cv.TARGETS, horizontal=True, key="convert_to", format_func=PAIRS.get)
counts = guarded(cv.question_count, dataset) or {}
shown = ", ".join(f"{type_word(k)} {v}" for k, v in counts.items()) or _("none")
st.caption(_("Questions: {counts}").format(counts=shown)
           + ("" if to == "qa" else _(" · choice pairs use single, multi and judge questions")))

templates = guarded(cv.templates) or []
names = [t["name"] for t in templates]
default = names.index(to) if to in names else 0


def _template_name(n: str) -> str:
    builtin = next(t for t in templates if t["name"] == n)["builtin"]
    return n if builtin else _("{name} (yours)").format(name=n)


tname = st.selectbox(_("Template"), names, index=default, key=f"convert_template_{to}", format_func=_template_name)
chosen = next(t for t in templates if t["name"] == tname)
if chosen.get("description"):  # a built-in template's description is in the catalog; a user's is as written
    st.caption(_(chosen["description"]) if chosen["builtin"] else chosen["description"])

with st.expander(_("Template text"), expanded=not chosen["builtin"]):
    st.caption(_("Placeholders: {names} · `{{{{` and `}}}}` for literal braces").format(
        names=" ".join(f"`{{{p}}}`" for p in cv.PLACEHOLDER_NAMES)))
    instruction = st.text_area(_("Prompt (instruction / content)"), chosen["instruction"], key=f"convert_ins_{tname}")
    output = st.text_area(_("Answer (output / summary)"), chosen["output"], key=f"convert_out_{tname}")
    s1, s2 = st.columns([3, 1])
    new_name = s1.text_input(_("Save as template named"), key="convert_new_name", placeholder=_("e.g. 安规做题"))
    if s2.button(_("Save template"), key="convert_save"):
        saved = guarded(cv.save_template, new_name, to=to, instruction=instruction, output=output)
        if saved:
            st.success(_("Saved template {name}.").format(name=saved["name"]))

c3, c4 = st.columns(2)
into = c3.text_input(_("Into dataset"), value=f"{dataset}-{to}", key=f"convert_into_{dataset}_{to}")
kept = cv.target_prompts(into)
prefix = c4.text_input(_("Domain prefix (before every prompt)"), value=kept["prefix"], key=f"convert_prefix_{into}")
system = st.text_input(_("System prompt (every pair)"), value=kept["system"], key=f"convert_system_{into}")
numbers = {"shuffle": 0, "seed": 0}
if to == "choice":
    # unbounded float fields: what a person types reaches the check as typed ("1e12" stays 1e12, an emptied
    # field is None), and Convert says why it is disabled
    for name, default_value in numbers.items():
        st.session_state.setdefault(f"convert_{name}", float(default_value))
    low, high, _label = cv.NUMBERS["shuffle"]
    c5, c6 = st.columns(2)
    numbers["shuffle"] = c5.number_input(
        _("Option-shuffle copies per choice question"), value=None, step=1.0, format="%.10g", key="convert_shuffle",
        help=_("K extra copies with the options in a seeded random order and the answer relabelled: a model that "
               "memorised letters is caught out. From {low} to {high}.").format(low=low, high=high))
    numbers["seed"] = c6.number_input(_("Seed"), value=None, step=1.0, format="%.10g", key="convert_seed",
                                      help=_("From 0 to {high:,}.").format(high=cv.NUMBERS["seed"][1]))
problems = cv.option_problems(**numbers)
reasons = [_("{field}: {reason}").format(field=_(cv.NUMBERS[k][2]), reason=why) for k, why in problems.items()]
if reasons:
    st.warning(_("Fix these numbers to convert:") + "\n\n" + "\n".join(f"- {r}" for r in reasons),
               icon=":material/block:")
shuffle = 0 if problems else int(numbers["shuffle"])
seed = 0 if problems else int(numbers["seed"])

st.subheader(_("Preview on the first rows"))
rows = guarded(cv.preview, dataset, to=to, instruction=instruction, output=output, template_name=tname,
               limit=6 if not shuffle else 3 * (shuffle + 1), shuffle=shuffle, seed=seed, prefix=prefix)
if rows:
    st.code("\n".join(json.dumps({"content": r["instruction"], "summary": r["output"]}, ensure_ascii=False)
                      for r in rows), language="json")
    table = pd.DataFrame(rows)
    table["qtype"] = table["qtype"].map(lambda v: label("qtype", v))
    st.dataframe(table.rename(columns={"question_id": _("question #"), "copy": _("shuffled copy"), "qtype": _("type"),
                                       "instruction": _("prompt"), "output": _("answer")}),
                 hide_index=True, width="stretch")
elif rows is not None:
    st.info(_("No question of this bank fits these pairs."))

if st.button(_("Convert into {dataset}").format(dataset=into), type="primary", key="convert_go",
             disabled=bool(reasons), help=reasons[0] if reasons else None):
    jobview.submit("convert_job", "convert", {
        "dataset": dataset, "to": to, "into": into, "template_name": tname, "shuffle": shuffle, "seed": seed,
        "prefix": prefix, "system": system, "instruction": instruction, "output": output})


def converted(job: dict) -> None:
    r = job["result"]
    if r["_replaced"]:
        text = _("Wrote {n} pairs into **{dataset}** (replacing {replaced} converted earlier).")
    else:
        text = ngettext("Wrote {n} pair into **{dataset}**.", "Wrote {n} pairs into **{dataset}**.", r["samples"])
    st.success(text.format(n=r["samples"], dataset=r["dataset"], replaced=r["_replaced"]), icon=":material/check_circle:")


# the conversion runs as a job of the server: a reload or another tab shows it too
jobview.follow("convert_job", "convert", what=_("Converting"), match=lambda a: a["dataset"] == dataset,
               done=converted)
