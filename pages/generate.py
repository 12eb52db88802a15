"""Generate: samples from a corpus with an LLM (qa, exam, self-instruct) or offline (cloze).

The batch runs as a job of the server (it goes on when this page or the browser closes, and resumes
after a restart of the server); this page starts it, shows its progress by reading the database every
second in a fragment, and can stop it. A stopped batch resumes where it left off when started again.
"""
import json

import pandas as pd
import streamlit as st

from pages.ui import api_key, guarded
from studio import generate
from studio.core import settings
from studio.data import corpus, review
from studio.service import batches as background

STRATEGY_HELP = {
    "qa": "passage → questions → answers from the passage (two steps, Reliable-Self-Instruct)",
    "exam": "passage → exam questions (single / multi / judge) into an exam bank",
    "self-instruct": "accepted samples as few-shot examples → new pairs about each passage",
    "cloze": "offline, no endpoint: key terms (numbers with units, 《》 and quoted terms, defined terms) "
             "become ___ and are the answer",
}


st.title("Generate samples")
st.caption("Turn a corpus's passages into training pairs (or exam questions) with an LLM endpoint, or offline "
           "as cloze; every prompt and reply is logged, a batch runs in the background and resumes where it "
           "stopped. New samples wait on the Review page.")
corpora = corpus.corpora()
if not corpora:
    st.info("No corpus yet: import one on the Import corpus page first.")
    st.stop()

c1, c2 = st.columns(2)
source = c1.selectbox("Corpus", corpora, key="gen_corpus")
strategy = c2.radio("Strategy", list(STRATEGY_HELP), horizontal=True, key="gen_strategy",
                    captions=None)
st.caption(STRATEGY_HELP[strategy])
into = st.text_input("Into dataset", value=f"{source}-{strategy}", key=f"gen_into_{source}_{strategy}",
                     help="created when missing; an exam bank for the exam strategy")

body, template_name = None, None
if strategy != "cloze":
    st.subheader("Template")
    found = guarded(generate.templates, strategy) or []
    names = [t["name"] for t in found]
    template_name = st.selectbox("Template", names, key=f"gen_template_{strategy}")
    chosen = next(t for t in found if t["name"] == template_name)
    base = chosen["body"]
    k = f"gen_t_{chosen['id']}_{chosen['version']}"
    system = st.text_area("System message", base.get("system", ""), key=f"{k}_system", height=70)
    steps = []
    for i, step in enumerate(base["steps"]):
        steps.append({"name": step.get("name", str(i + 1)),
                      "prompt": st.text_area(f"Step {i + 1}: {step.get('name', '')}", step["prompt"],
                                             key=f"{k}_step{i}", height=160)})
    t1, t2 = st.columns(2)
    n = t1.number_input("Questions / pairs per passage ({n})", 1, 20, int(base.get("n", 3)), key=f"{k}_n")
    temperature = t2.slider("Temperature", 0.0, 2.0, float(base.get("temperature", 0.7)), 0.05, key=f"{k}_temp")
    body = {**base, "system": system, "steps": steps, "n": int(n), "temperature": float(temperature)}
    st.caption("Placeholders: `{passage}` `{heading}` `{title}` `{n}` `{questions}` (qa answers step) "
               "`{examples}` (self-instruct). Other braces are sent as written.")
    with st.expander("Live preview on the corpus's first passage", expanded=True):
        for step in guarded(generate.preview, body, source) or []:
            st.markdown(f"**{step['step']}**")
            for m in step["messages"]:
                st.code(f"[{m['role']}]\n{m['content']}", language=None, wrap_lines=True)
    s1, s2 = st.columns([3, 1])
    save_as = s1.text_input("Save as", value=template_name, key=f"{k}_save_as")
    if s2.button("Save template", key=f"{k}_save"):
        version = chosen["version"] if save_as.strip() == template_name else None
        if guarded(generate.save_template, save_as, body, version) is not None:
            st.success(f"Template {save_as!r} saved.")
            st.rerun()

    st.subheader("Endpoint")
    e1, e2 = st.columns(2)
    base_url = e1.text_input("Base URL", settings.get("base_url"), key="gen_base_url",
                             placeholder="https://api.deepseek.com/v1")
    model = e2.text_input("Model", settings.get("model"), key="gen_model")
    key_name = settings.get("api_key_env")
    has_key = api_key() is not None
    st.caption(f"API key: {'found' if has_key else 'not set'} (`{key_name}` in the environment or Streamlit "
               f"secrets; never stored). A local endpoint (127.0.0.1) needs none.")
    o1, o2, o3, o4 = st.columns(4)
    concurrency = o1.number_input("Concurrency", 1, 64, 4, key="gen_concurrency")
    rpm = o2.number_input("Requests / minute (0 = no limit)", 0, 100000, 0, key="gen_rpm")
    budget = o3.number_input("Budget (estimated cost, 0 = none)", 0.0, 1e6, 0.0, key="gen_budget")
    limit = o4.number_input("Passages this run (0 = all)", 0, 10**6, 0, key="gen_limit")
    p1, p2 = st.columns(2)
    price_in = p1.number_input("Price per 1M prompt tokens", 0.0, 1e4, 0.0, key="gen_price_in")
    price_out = p2.number_input("Price per 1M completion tokens", 0.0, 1e4, 0.0, key="gen_price_out")
    opts = generate.Options(concurrency=int(concurrency), rpm=float(rpm), budget=float(budget) or None,
                            price_in=float(price_in), price_out=float(price_out), limit=int(limit) or None,
                            n=int(n), temperature=float(temperature))
    run_kwargs = {"template": template_name, "model": model.strip() or None, "base_url": base_url.strip() or None,
                  "key": api_key(), "options": opts}
    if strategy == "self-instruct":
        with_examples = [d["name"] for d in review.datasets_to_review() if d["accepted"]]
        if not with_examples:
            st.warning("Self-instruct needs accepted samples as few-shot examples: accept some on the Review page "
                       "first (or use the qa strategy).", icon=":material/warning:")
        else:
            run_kwargs["seed_dataset"] = st.selectbox(
                "Few-shot examples from (accepted samples)", with_examples, key="gen_seed_dataset",
                index=with_examples.index(into.strip()) if into.strip() in with_examples else 0)
else:
    per = st.number_input("Cloze pairs per passage", 1, 20, 3, key="gen_per_passage")
    run_kwargs = {"options": generate.Options(per_passage=int(per))}

retry = st.checkbox("Also retry passages that failed before", key="gen_retry_failed")
run_kwargs["options"].retry_failed = retry
if st.button("Start / resume", type="primary", key="gen_start"):
    if strategy != "cloze":
        run_kwargs["template_body"] = body  # what the preview shows is what runs (every prompt is logged)
    job = guarded(background.start, source, into.strip(), strategy, **run_kwargs)
    if job:
        state = background.wait_started(job, timeout=3.0)
        if state["error"]:
            st.error(state["error"], icon=":material/error:")
        else:
            st.session_state["gen_job"] = job


@st.fragment(run_every=1.0)
def progress():
    rows = generate.batches(limit=20)
    mine = [b for b in rows if b["corpus"] == source and b["into_dataset"] == into.strip()
            and b["strategy"] == strategy]
    job = st.session_state.get("gen_job")
    if job and job[:3] == (source, into.strip(), strategy):
        status = background.job(job)
        if status["error"]:
            st.error(status["error"], icon=":material/error:")
    if not mine:
        st.caption("No batch for this corpus, strategy and dataset yet.")
        return
    b = mine[0]
    total = max(int(b["passages_total"] or 0), 1)
    st.progress(min(b["passages_done"] / total, 1.0),
                text=f"Batch {b['id']} · {b['display_state']} · {b['passages_done']}/{b['passages_total']} passages · "
                     f"{b['samples']} samples · {b['passages_failed']} failed · {b['requests']} requests · "
                     f"{b['tokens']:,} tokens · cost {b['cost']:.4f}")
    if b.get("error"):
        st.caption(f"Last stop: {b['error']}")
    if b["display_state"] == "running":
        if st.button("Stop", key=f"gen_stop_{b['id']}"):
            generate.request_stop(b["id"])
            st.toast("Stopping after the passages in flight…")


st.subheader("Progress")
progress()

st.subheader("Batches")
rows = generate.batches(limit=50)
if rows:
    st.dataframe(pd.DataFrame(generate.batches_table(rows)), hide_index=True, width="stretch",
                 column_config={"Tokens": st.column_config.NumberColumn(format="localized"),
                                "Estimated cost": st.column_config.NumberColumn(
                                    format="%.4f", help="from the prices per 1M tokens set when the batch ran")})
    if any(b["tokens"] for b in rows):
        st.plotly_chart(generate.batches_chart(rows), key="gen_batches_chart", width="stretch")
        if not any(b["cost"] for b in rows):
            st.caption("Estimated costs are 0 until a batch runs with prices per 1M tokens set above.")
    else:
        st.caption("No tokens used yet (cloze makes no requests): tokens and estimated cost per batch are "
                   "plotted here once an LLM batch runs.")
    pick = st.selectbox("Requests of batch", [b["id"] for b in rows], key="gen_log_batch")
    with st.expander("Failures"):
        fails = generate.failures(pick)
        st.dataframe(pd.DataFrame(fails), hide_index=True, width="stretch") if fails else st.caption("None.")
    with st.expander("Request log (model, options, prompt, response, tokens, duration)"):
        log = generate.requests(pick, limit=100)
        if log:
            frame = pd.DataFrame(log)
            frame["prompt"] = frame["prompt"].map(lambda p: json.loads(p)[-1]["content"][:200] if p else "")
            st.dataframe(frame, hide_index=True, width="stretch")
        else:
            st.caption("No requests (the cloze strategy makes none).")
else:
    st.caption("No batches yet.")
