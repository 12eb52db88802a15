"""Convert: an exam bank -> QA pairs (一问一答) or choice pairs (带选项), through a template previewed live
on the bank's real rows; optional option-shuffle copies, domain prefix and system prompt. The conversion
itself is a job of the server (kind ``convert``); this page shows its progress and its one-line result."""
import json

import pandas as pd
import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.data.exams import convert as cv

st.title("Convert")
st.caption("Turn an exam bank into training pairs. QA: the question with its blank as `___`, the answer text. "
           "Choice: the question, its options one per line, the answer as `B. 绝缘靴`. Converted pairs are "
           "accepted (exam answers are authoritative) and keep a link to their question: fix a question, "
           "convert again into the same dataset and its pairs are replaced.")

banks = cv.exam_datasets()
if not banks:
    st.info("No exam bank yet: import one on the Import exam bank page.")
    st.page_link("pages/import_exam.py", label="Import exam bank", icon=":material/upload_file:")
    st.stop()

c1, c2 = st.columns(2)
dataset = c1.selectbox("Exam bank", banks, key="convert_dataset")
to = c2.radio("Pairs", ["qa", "choice"], horizontal=True, key="convert_to",
              format_func={"qa": "QA (一问一答)", "choice": "Choice (带选项)"}.get)
counts = guarded(cv.question_count, dataset) or {}
st.caption("Questions: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none")
           + ("" if to == "qa" else " · choice pairs use single, multi and judge questions"))

templates = guarded(cv.templates) or []
names = [t["name"] for t in templates]
default = names.index(to) if to in names else 0
tname = st.selectbox("Template", names, index=default, key=f"convert_template_{to}",
                     format_func=lambda n: n + ("" if next(t for t in templates if t["name"] == n)["builtin"] else " (yours)"))
chosen = next(t for t in templates if t["name"] == tname)
if chosen.get("description"):
    st.caption(chosen["description"])

with st.expander("Template text", expanded=not chosen["builtin"]):
    st.caption("Placeholders: " + " ".join(f"`{{{p}}}`" for p in cv.PLACEHOLDER_NAMES)
               + " · `{{` and `}}` for literal braces")
    instruction = st.text_area("Prompt (instruction / content)", chosen["instruction"], key=f"convert_ins_{tname}")
    output = st.text_area("Answer (output / summary)", chosen["output"], key=f"convert_out_{tname}")
    s1, s2 = st.columns([3, 1])
    new_name = s1.text_input("Save as template named", key="convert_new_name", placeholder="e.g. 安规做题")
    if s2.button("Save template", key="convert_save"):
        saved = guarded(cv.save_template, new_name, to=to, instruction=instruction, output=output)
        if saved:
            st.success(f"Saved template {saved['name']}.")

c3, c4 = st.columns(2)
into = c3.text_input("Into dataset", value=f"{dataset}-{to}", key=f"convert_into_{dataset}_{to}")
kept = cv.target_prompts(into)
prefix = c4.text_input("Domain prefix (before every prompt)", value=kept["prefix"], key=f"convert_prefix_{into}")
system = st.text_input("System prompt (every pair)", value=kept["system"], key=f"convert_system_{into}")
shuffle, seed = 0, 0
if to == "choice":
    c5, c6 = st.columns(2)
    shuffle = int(c5.number_input("Option-shuffle copies per choice question", 0, 50, 0, key="convert_shuffle",
                                  help="K extra copies with the options in a seeded random order and the answer "
                                       "relabelled: a model that memorised letters is caught out."))
    seed = int(c6.number_input("Seed", 0, 2**31 - 1, 0, key="convert_seed"))

st.subheader("Preview on the first rows")
rows = guarded(cv.preview, dataset, to=to, instruction=instruction, output=output, template_name=tname,
               limit=6 if not shuffle else 3 * (shuffle + 1), shuffle=shuffle, seed=seed, prefix=prefix)
if rows:
    st.code("\n".join(json.dumps({"content": r["instruction"], "summary": r["output"]}, ensure_ascii=False)
                      for r in rows), language="json")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
elif rows is not None:
    st.info("No question of this bank fits these pairs.")

if st.button(f"Convert into {into}", type="primary", key="convert_go"):
    jobview.submit("convert_job", "convert", {
        "dataset": dataset, "to": to, "into": into, "template_name": tname, "shuffle": shuffle, "seed": seed,
        "prefix": prefix, "system": system, "instruction": instruction, "output": output})


def converted(job: dict) -> None:
    r = job["result"]
    replaced = f" (replacing {r['_replaced']} converted earlier)" if r["_replaced"] else ""
    st.success(f"Wrote {r['samples']} pairs into **{r['dataset']}**{replaced}.", icon=":material/check_circle:")


# the conversion runs as a job of the server: a reload or another tab shows it too
jobview.follow("convert_job", "convert", what="Converting", match=lambda a: a["dataset"] == dataset, done=converted)
