"""Generate: samples from a corpus with an LLM (qa, exam, self-instruct) or offline (cloze).

The batch runs as a job of the server (it goes on when this page or the browser closes, and resumes
after a restart of the server); this page starts it, shows its progress by reading the database every
second in a fragment, and can stop it. A stopped batch resumes where it left off when started again.

The number fields have no min / max of their own: Streamlit would keep the last valid value behind a red
hint, and Start would run with a number the field does not show. The values go to
``generate.option_problems`` (the check ``run`` makes too), and Start stays disabled while one is out of range.
"""
import json

import pandas as pd
import streamlit as st

from pages.ui import api_key, guarded
from studio import generate
from studio.core import settings
from studio.core.i18n import N_, _, ngettext
from studio.data import corpus, review
from studio.service import batches as background

STRATEGY_HELP = {
    "qa": N_("passage → questions → answers from the passage (two steps, Reliable-Self-Instruct)"),
    "exam": N_("passage → exam questions (single choice / multiple choice / true/false) into an exam bank"),
    "self-instruct": N_("accepted samples as few-shot examples → new pairs about each passage"),
    "cloze": N_("offline, no endpoint: key terms (numbers with units, 《》 and quoted terms, defined terms) "
                "become ___ and are the answer"),
}
EXAMPLE_URL = "https://api.deepseek.com/v1"


st.title(_("Generate samples"))
st.caption(_("Turn a corpus's passages into training pairs (or exam questions) with an LLM endpoint, or offline "
             "as cloze; every prompt and reply is logged, a batch runs in the background and resumes where it "
             "stopped. New samples wait on the Review page."))
corpora = corpus.corpora()
if not corpora:
    st.info(_("No corpus yet: import one on the Import corpus page first."))
    st.stop()

c1, c2 = st.columns(2)
source = c1.selectbox(_("Corpus"), corpora, key="gen_corpus")
strategy = c2.radio(_("Strategy"), list(STRATEGY_HELP), horizontal=True, key="gen_strategy",
                    format_func=generate.strategy_label)
st.caption(_(STRATEGY_HELP[strategy]))
into = st.text_input(_("Into dataset"), value=f"{source}-{strategy}", key=f"gen_into_{source}_{strategy}",
                     help=_("created when missing; an exam bank for the exam strategy"))

body, template_name = None, None
if strategy != "cloze":
    st.subheader(_("Template"))
    found = guarded(generate.templates, strategy) or []
    names = [t["name"] for t in found]
    template_name = st.selectbox(_("Template"), names, key=f"gen_template_{strategy}")
    chosen = next(t for t in found if t["name"] == template_name)
    base = chosen["body"]
    k = f"gen_t_{chosen['id']}_{chosen['version']}"
    system = st.text_area(_("System message"), base.get("system", ""), key=f"{k}_system", height=70)
    steps = []
    for i, step in enumerate(base["steps"]):
        steps.append({"name": step.get("name", str(i + 1)),
                      "prompt": st.text_area(_("Step {i}: {name}").format(
                          i=i + 1, name=generate.step_label(step.get("name", ""))), step["prompt"],
                          key=f"{k}_step{i}", height=160)})
    t1, t2 = st.columns(2)
    n = t1.number_input(_("Questions / pairs per passage"), value=int(base.get("n", 3)), step=1, key=f"{k}_n",
                        help=_("`{n}` in the prompts; 1 to 20"))
    temperature = t2.slider(_("Temperature"), 0.0, 2.0, float(base.get("temperature", 0.7)), 0.05, key=f"{k}_temp")
    body = {**base, "system": system, "steps": steps, "n": int(n), "temperature": float(temperature)}
    st.caption(_("Placeholders: `{passage}` `{heading}` `{title}` `{n}` `{questions}` (qa answers step) "
                 "`{examples}` (self-instruct). Other braces are sent as written."))
    with st.expander(_("Live preview on the corpus's first passage"), expanded=True):
        for step in guarded(generate.preview, body, source) or []:
            st.markdown(f"**{generate.step_label(step['step'])}**")
            for m in step["messages"]:
                st.code(f"[{m['role']}]\n{m['content']}", language=None, wrap_lines=True)
    s1, s2 = st.columns([3, 1])
    save_as = s1.text_input(_("Save as"), value=template_name, key=f"{k}_save_as")
    if s2.button(_("Save template"), key=f"{k}_save"):
        version = chosen["version"] if save_as.strip() == template_name else None
        if guarded(generate.save_template, save_as, body, version) is not None:
            st.success(_("Template {name} saved.").format(name=repr(save_as)))
            st.rerun()

    st.subheader(_("Endpoint"))
    e1, e2 = st.columns(2)
    base_url = e1.text_input(_("Base URL"), settings.get("base_url"), key="gen_base_url", placeholder=EXAMPLE_URL)
    model = e2.text_input(_("Model"), settings.get("model"), key="gen_model")
    key_name = settings.get("api_key_env")
    has_key = api_key() is not None
    st.caption(_("API key: {state} (`{name}` in the environment or Streamlit secrets; never stored). A local "
                 "endpoint (127.0.0.1) needs none.").format(state=_("found") if has_key else _("not set"),
                                                           name=key_name))
    o1, o2, o3, o4 = st.columns(4)
    concurrency = o1.number_input(_("Concurrency"), value=4, step=1, key="gen_concurrency",
                                  help=_("the most requests in flight at once, 1 to 64"))
    rpm = o2.number_input(_("Requests / minute (0 = no limit)"), value=0, step=10, key="gen_rpm")
    budget = o3.number_input(_("Budget (estimated cost; empty = none)"), value=None, step=1.0, key="gen_budget")
    limit = o4.number_input(_("Passages this run (empty = all)"), value=None, step=1, key="gen_limit")
    p1, p2, p3, p4 = st.columns(4)
    price_in = p1.number_input(_("Price per 1M prompt tokens"), value=0.0, step=0.5, key="gen_price_in")
    price_out = p2.number_input(_("Price per 1M completion tokens"), value=0.0, step=0.5, key="gen_price_out")
    timeout = p3.number_input(_("Timeout (seconds per request)"), value=60.0, step=10.0, key="gen_timeout")
    retries = p4.number_input(_("Retries"), value=3, step=1, key="gen_retries",
                              help=_("of rate limits (429), server errors (5xx) and timeouts, each one logged"))
    adaptive = st.checkbox(_("Adapt to rate limits"), value=True, key="gen_adaptive",
                           help=_("Start with up to 4 requests in flight, step back when the endpoint answers 429 "
                                  "(too many requests) and wait as long as it asks, grow while requests are "
                                  "answered; never above Concurrency. A 429 is retried, not a failed passage. "
                                  "Off: always Concurrency."))
    opts = generate.Options(concurrency=int(concurrency), adaptive=bool(adaptive), rpm=float(rpm),
                            budget=None if budget is None else float(budget), price_in=float(price_in),
                            price_out=float(price_out), timeout=float(timeout), retries=int(retries),
                            limit=None if limit is None else int(limit), n=int(n), temperature=float(temperature))
    run_kwargs = {"template": template_name, "model": model.strip() or None, "base_url": base_url.strip() or None,
                  "key": api_key(), "options": opts}
    if strategy == "self-instruct":
        with_examples = [d["name"] for d in review.datasets_to_review() if d["accepted"]]
        if not with_examples:
            st.warning(_("Self-instruct needs accepted samples as few-shot examples: accept some on the Review page "
                         "first (or use the qa strategy)."), icon=":material/warning:")
        else:
            run_kwargs["seed_dataset"] = st.selectbox(
                _("Few-shot examples from (accepted samples)"), with_examples, key="gen_seed_dataset",
                index=with_examples.index(into.strip()) if into.strip() in with_examples else 0)
else:
    per = st.number_input(_("Cloze pairs per passage"), value=3, step=1, key="gen_per_passage", help=_("1 to 20"))
    run_kwargs = {"options": generate.Options(per_passage=int(per))}

retry = st.checkbox(_("Also retry passages that failed before"), key="gen_retry_failed")
run_kwargs["options"].retry_failed = retry
blockers = generate.option_problems(run_kwargs["options"])
if not into.strip():
    blockers.append(_("Name the dataset to write into."))
if blockers:
    st.warning("  \n".join(blockers), icon=":material/block:")
if st.button(_("Start / resume"), type="primary", key="gen_start", disabled=bool(blockers),
             help=_("fix the values above first") if blockers else None):
    if strategy != "cloze":
        run_kwargs["template_body"] = body  # what the preview shows is what runs (every prompt is logged)
    job = guarded(background.start, source, into.strip(), strategy, **run_kwargs)
    if job:
        state = background.wait_started(job, timeout=3.0)
        if state["error"]:
            st.error(state["error"], icon=":material/error:")
        else:
            st.session_state["gen_job"] = job


def concurrency_line(b: dict) -> None:
    """The batch's concurrency: its current limit while it runs (the last one after), and the 429s retried."""
    opts = b.get("options") or {}
    now, most = opts.get("concurrency_now"), opts.get("concurrency")
    if now is None or most is None:
        return  # cloze, or a batch run before the limit was recorded
    if not opts.get("adaptive", True):
        line = _("Concurrency: {most} (fixed).").format(most=most)
    elif b["display_state"] == "running":
        line = _("Concurrency now: {now} requests in flight at most (up to {most}, adapting to rate limits).").format(
            now=now, most=most)
    else:
        line = _("Concurrency at the end: {now} (up to {most}, adapting to rate limits).").format(now=now, most=most)
    limited = int(opts.get("rate_limited") or 0)
    if limited:
        line += " " + ngettext("{n} request was rate-limited (429) and retried.",
                               "{n} requests were rate-limited (429) and retried.", limited).format(n=limited)
    st.caption(line)


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
        st.caption(_("No batch for this corpus, strategy and dataset yet."))
        return
    b = mine[0]
    total = max(int(b["passages_total"] or 0), 1)
    st.progress(min(b["passages_done"] / total, 1.0),
                text=_("Batch {id} · {state} · {done}/{total} passages · {samples} samples · {failed} failed · "
                       "{requests} requests · {tokens} tokens · cost {cost}").format(
                    id=b["id"], state=generate.state_label(b["display_state"]), done=b["passages_done"],
                    total=b["passages_total"], samples=b["samples"], failed=b["passages_failed"],
                    requests=b["requests"], tokens=f"{b['tokens']:,}", cost=f"{b['cost']:.4f}"))
    concurrency_line(b)
    if b.get("error"):
        st.caption(_("Last stop: {reason}").format(reason=b["error"]))
    if b["display_state"] == "running":
        if st.button(_("Stop"), key=f"gen_stop_{b['id']}"):
            generate.request_stop(b["id"])
            st.toast(_("Stopping after the passages in flight…"))


st.subheader(_("Progress"))
progress()

st.subheader(_("Batches"))
rows = generate.batches(limit=50)
if not rows:
    st.caption(_("No batches yet."))
    st.stop()
st.dataframe(pd.DataFrame(generate.batches_table(rows)), hide_index=True, width="stretch",
             column_config={_("Tokens"): st.column_config.NumberColumn(format="localized"),
                            _("Estimated cost"): st.column_config.NumberColumn(
                                format="%.4f", help=_("from the prices per 1M tokens set when the batch ran"))})
if any(b["tokens"] for b in rows):
    st.plotly_chart(generate.batches_chart(rows), key="gen_batches_chart", width="stretch")
    if not any(b["cost"] for b in rows):
        st.caption(_("Estimated costs are 0 until a batch runs with prices per 1M tokens set above."))
else:
    st.caption(_("No tokens used yet (cloze makes no requests): tokens and estimated cost per batch are "
                 "plotted here once an LLM batch runs."))
pick = st.selectbox(_("Requests of batch"), [b["id"] for b in rows], key="gen_log_batch",
                    format_func=lambda i: _("Batch {id}").format(id=i))


def show_failures(batch_id: int) -> None:
    fails = generate.failures(batch_id)
    if fails:
        frame = pd.DataFrame(fails)
        frame["status"] = frame["status"].map(generate.status_label)
        st.dataframe(frame, hide_index=True, width="stretch", column_config={
            "passage_id": _("Passage"), "status": _("Status"), "error": _("Reason"), "heading": _("Heading")})
    else:
        st.caption(_("None."))


def show_log(batch_id: int) -> None:
    log = generate.requests(batch_id, limit=100)
    if log:
        frame = pd.DataFrame(log)
        frame["prompt"] = frame["prompt"].map(lambda p: json.loads(p)[-1]["content"][:200] if p else "")
        frame["status"] = frame["status"].map(generate.status_label)
        frame["step"] = frame["step"].map(generate.step_label)
        st.dataframe(frame, hide_index=True, width="stretch", column_config={
            "id": _("Request"), "passage_id": _("Passage"), "step": _("Step"), "model": _("Model"),
            "status": _("Status"), "error": _("Error"), "prompt_tokens": _("Prompt tokens"),
            "completion_tokens": _("Completion tokens"), "cost": _("Estimated cost"),
            "duration_ms": _("Duration (ms)"), "prompt": _("Prompt"), "response": _("Response"),
            "options": _("Options"), "created_at": _("Time")})
    else:
        st.caption(_("No requests (the cloze strategy makes none)."))


# the two logs are read and drawn only while open (opening reruns the page): most renders never need them
for title, key, show in ((_("Failures"), "gen_failures_open", show_failures),
                         (_("Request log (model, options, prompt, response, tokens, duration)"), "gen_log_open",
                          show_log)):
    box = st.expander(title, key=key, on_change="rerun")
    if box.open:
        with box:
            show(pick)
