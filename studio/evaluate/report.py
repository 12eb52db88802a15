"""Everything a comparison holds, written out: every output with its ratings and judge score, and the
seeds' tables (categories down, systems across) for human ratings and judge scores.

Formats by file extension: ``.jsonl`` (one line per prompt and system), ``.json``, ``.csv`` (cells
cannot start a formula), ``.md`` (the tables, then every output). An existing file is not overwritten
unless asked.

The seeds' report tables (DreamerGPT's judge table, YaYi's subjective and objective tables) are built as
DataFrames at the end of this module, with their Markdown, CSV and chart (the Reports page shows them).
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from store import compare as store
from studio.core.cells import neutralise
from studio.core.errors import InputError
from studio.core.i18n import N_, _
from studio.evaluate import comparisons, judge, ratings

FORMATS = (".jsonl", ".json", ".csv", ".md")


def output_rows(comparison_id: int) -> list[dict[str, Any]]:
    """One row per prompt and system: the output, its mean rating, raters, and the judge's score."""
    g = comparisons.grid(comparison_id)
    gen_ids = [o["generation_id"] for p in g["prompts"] for o in p["outputs"].values()]
    rated: dict[int, list[dict]] = defaultdict(list)
    for r in store.ratings_for(gen_ids):
        rated[r["generation_id"]].append(r)
    judged: dict[int, dict] = {}
    unparsed: set[int] = set()
    for s in store.judge_scores_for(gen_ids):
        if s["parsed"]:
            judged[s["generation_id"]] = s
        else:
            unparsed.add(s["generation_id"])
    labels = {s["id"]: s["label"] for s in g["systems"]}
    out = []
    for p in g["prompts"]:
        for sid in g["comparison"]["systems"]:
            o = p["outputs"].get(sid)
            gid = o["generation_id"] if o else None
            rs = rated.get(gid, [])
            j = judged.get(gid)
            out.append({
                "prompt_id": p["prompt_id"], "category": p["category"], "prompt": p["prompt"],
                "reference": p["reference"], "system": sid, "system_label": labels[sid],
                "output": o["output"] if o else None, "generation_id": gid,
                "rating_mean": round(sum(r["score"] for r in rs) / len(rs), 3) if rs else None,
                "ratings": [{"rater": r["rater"], "score": r["score"], "comment": r["comment"]} for r in rs],
                "judge_score": j["score"] if j else None, "judge_model": j["judge_model"] if j else None,
                "judge_explanation": j["explanation"] if j else None,
                "judge_unparsed": gid in unparsed and j is None})
    return out


def tables(comparison_id: int) -> dict[str, dict[str, Any]]:
    """The seeds' tables: mean human rating and mean judge score per category and system."""
    return {"rating": ratings.rating_table(comparison_id), "judge": judge.summary(comparison_id)["table"]}


def markdown(comparison_id: int) -> str:
    """The report for people, in the current language: the tables, then every output."""
    comp = comparisons.get(comparison_id)
    t = tables(comparison_id)
    systems = _("Systems: {systems} (base = the base model without adapter); decoding: {decode}").format(
        systems=", ".join(comp["systems"]), decode=json.dumps(comp["decode"], ensure_ascii=False))
    parts = [f"# {comp['name']}\n", systems + "\n",
             "## " + _("Mean human rating (1-5)") + "\n", ratings.to_markdown(t["rating"]),
             "\n## " + _("Mean judge score") + "\n", ratings.to_markdown(t["judge"]), "\n## " + _("Outputs") + "\n"]
    for r in output_rows(comparison_id):
        scores = _("rating: {rating}, judge: {judge}").format(rating=_none(r["rating_mean"]),
                                                              judge=_none(r["judge_score"]))
        parts.append(f"### [{r['category']}] {r['prompt'][:60]} — {r['system_label']}\n\n{r['output'] or ''}\n\n"
                     f"{scores}\n")
    return "\n".join(parts)


def _none(value) -> str:
    return "--" if value is None else str(value)


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Every output as CSV; the header is the JSON lines' keys (English: scripts read this file)."""
    buf = io.StringIO()
    fields = ["prompt_id", "category", "prompt", "reference", "system", "system_label", "output",
              "rating_mean", "ratings", "judge_score", "judge_model", "judge_explanation", "judge_unparsed"]
    w = csv.writer(buf)
    w.writerow(fields)
    for r in rows:
        values = [json.dumps(r[f], ensure_ascii=False) if f == "ratings" else r[f] for f in fields]
        w.writerow([ratings.safe_cell("" if v is None else v) for v in values])
    return buf.getvalue()


def check_target(out: str | Path, *, overwrite: bool = False) -> None:
    """Refuse an unknown format or an existing file before any work is done."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise InputError(_("unknown output format {suffix}; use one of {formats}").format(
            suffix=out.suffix or _("(none)"), formats=", ".join(FORMATS)), file=str(out))
    if out.exists() and not overwrite:
        raise InputError(_("the output file exists; choose another name or pass --force"), file=str(out))


def write(comparison_id: int, out: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Write the comparison to ``out`` (format from the extension)."""
    out = Path(out)
    suffix = out.suffix.lower()
    check_target(out, overwrite=overwrite)
    rows = output_rows(comparison_id)
    if suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    elif suffix == ".json":
        comp = comparisons.get(comparison_id)
        text = json.dumps({"comparison": {k: comp[k] for k in ("id", "name", "systems", "base_model", "decode")},
                           "tables": tables(comparison_id), "outputs": rows}, ensure_ascii=False, indent=1,
                          default=str)
    elif suffix == ".csv":
        text = csv_text(rows)
    else:
        text = markdown(comparison_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return {"out": str(out), "rows": len(rows)}


# ---------------------------------------------------------------- the seeds' report tables
#
# Three tables as the seed READMEs print them, rebuilt from what the studio stored; each a DataFrame with
# English column keys (rows down, one column per system, the last row ``overall``), written out for people
# by ``table_markdown`` / ``table_csv`` (headings in the current language) and drawn by ``table_chart``.
# - DreamerGPT README §6.2: task categories x systems, the mean judge score (0-10) of each system's outputs
#   in the category, ``samples`` = prompts in the category (DreamerGPT prints the sum over its 10 samples;
#   the mean keeps categories of different sizes comparable).
# - YaYi's subjective tables: domains (prompt categories) x systems, the mean rating 1-5 (each output's mean
#   over its raters, then the mean over outputs, as the Results page), ``raters`` = people who rated there.
# - YaYi's objective table: accuracy by subject or question type x systems, from each system's latest exam
#   evaluation on one exam dataset; ``questions`` = the questions of the row it answered.

OVERALL = "overall"
HEADINGS = {"category": N_("task category"), "samples": N_("number of samples"), "domain": N_("domain"),
            "raters": N_("number of raters"), "subject": N_("subject"), "type": N_("question type"),
            "questions": N_("number of questions")}


def _mean(xs: list[float], digits: int) -> float | None:
    return round(sum(xs) / len(xs), digits) if xs else None


def _frame(rows: list[dict[str, Any]], first: str, count: str, columns: list[str]):
    import pandas as pd

    return pd.DataFrame(rows, columns=[first, count, *columns])


def _outputs_by(comparison_id: int) -> tuple[list[str], list[str], dict[int, tuple[str, str]], dict[str, int]]:
    """The comparison's system labels (column order), categories, output -> (category, label), prompts per category."""
    g = comparisons.grid(comparison_id)
    labels = {s["id"]: s["label"] for s in g["systems"]}
    meta = {o["generation_id"]: (p["category"], labels[sid]) for p in g["prompts"] for sid, o in p["outputs"].items()}
    per_category: dict[str, int] = defaultdict(int)
    for p in g["prompts"]:
        per_category[p["category"]] += 1
    return list(labels.values()), sorted(per_category), meta, dict(per_category)


def _cells(values: dict[tuple[str, str], list[float]], categories: list[str], columns: list[str],
           first: str, count: str, counts: dict[str, int], overall_count: int, digits: int):
    """Rows of means per category and system, then the overall row (the mean over every value of a system)."""
    rows = [{first: c, count: counts.get(c, 0), **{s: _mean(values.get((c, s), []), digits) for s in columns}}
            for c in categories]
    rows.append({first: OVERALL, count: overall_count,
                 **{s: _mean([v for c in categories for v in values.get((c, s), [])], digits) for s in columns}})
    return _frame(rows, first, count, columns)


def dreamergpt_table(comparison_id: int, *, judge_model: str | None = None, template: str | None = None,
                     digits: int = 2):
    """Task category x systems: mean judge score of each system's outputs (the latest parsed score of each),
    ``samples`` = prompts per category; ``attrs``: scored and unscored outputs, the score scale."""
    columns, categories, meta, counts = _outputs_by(comparison_id)
    latest: dict[int, float] = {}
    for s in store.judge_scores_for(meta, judge_model=judge_model, template=template):  # by id: the latest wins
        if s["parsed"] and s["score"] is not None:
            latest[s["generation_id"]] = float(s["score"])
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for gid, score in latest.items():
        values[meta[gid]].append(score)
    df = _cells(values, categories, columns, "category", "samples", counts, sum(counts.values()), digits)
    df.attrs.update(kind="dreamergpt", scored=len(latest), unscored=len(meta) - len(latest),
                    scale=10.0 if max(latest.values(), default=0) <= 10 else 100.0)
    return df


def yayi_subjective_table(comparison_id: int, *, digits: int = 2):
    """Domain (prompt category) x systems: the mean rating 1-5 (each output's mean over its raters, then the
    mean over outputs), ``raters`` = people who rated outputs of the domain; ``attrs``: rated outputs."""
    columns, categories, meta, _counts = _outputs_by(comparison_id)
    per_output: dict[int, list[int]] = defaultdict(list)
    raters: dict[str, set[str]] = defaultdict(set)
    for r in store.ratings_for(meta):
        per_output[r["generation_id"]].append(r["score"])
        raters[meta[r["generation_id"]][0]].add(r["rater"])
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for gid, scores in per_output.items():
        values[meta[gid]].append(sum(scores) / len(scores))
    counts = {c: len(raters[c]) for c in categories}
    everyone = len(set().union(*raters.values())) if raters else 0
    df = _cells(values, categories, columns, "domain", "raters", counts, everyone, digits)
    df.attrs.update(kind="yayi_subjective", rated=len(per_output), outputs=len(meta), scale=5.0)
    return df


def _question_counts(dataset_id: int, n: int, by: str) -> dict[str, int]:
    """Questions per subject or type among the ``n`` an evaluation answered (the first n scorable ones, in
    id order, as exam evaluation picks them)."""
    from studio.evaluate import exam_accuracy

    scorable = [q for q in store.exam_questions(dataset_id) if q["qtype"] in exam_accuracy.TYPES
                and exam_accuracy.expected_labels(q)][:n]
    counts: dict[str, int] = defaultdict(int)
    for q in scorable:
        counts[(q.get("subject") or "") if by == "subject" else q["qtype"]] += 1
    return dict(counts)


def yayi_objective_table(dataset: str, *, by: str = "subject", digits: int = 4):
    """Accuracy by subject (or question type, ``by="type"``) x systems on one exam dataset, from each system's
    latest evaluation on it; ``questions`` = questions of the row; ``attrs``: evaluation ids, mixed sizes."""
    from store import datasets as store_datasets
    from studio.evaluate import exam_accuracy

    if by not in ("subject", "type"):
        raise InputError(_("group the accuracy by subject or type, not {by}").format(by=repr(by)))
    found = store_datasets.get(dataset)
    latest: dict[str, dict] = {}
    for e in sorted((e for e in store.exam_evals() if e["dataset"] == dataset), key=lambda e: e["id"]):
        latest[e["model_system"]] = e   # the newest evaluation of each system wins
    evals = sorted(latest.values(), key=lambda e: e["id"])
    columns = [comparisons.system_label(e["model_system"], e.get("base_model")) for e in evals]
    n = max((e["n"] for e in evals), default=0)
    counts = _question_counts(found["id"], n, by) if evals else {}
    key = "by_subject" if by == "subject" else "by_type"
    groups = list(exam_accuracy.TYPES) if by == "type" else sorted(counts)
    rows = []
    for g in groups:
        values = {c: (e[key] or {}).get(g) for c, e in zip(columns, evals)}
        if counts.get(g) or any(v is not None for v in values.values()):
            rows.append({by: g, "questions": counts.get(g, 0),
                         **{c: None if v is None else round(float(v), digits) for c, v in values.items()}})
    rows.append({by: OVERALL, "questions": n, **{c: None if e["accuracy"] is None else round(float(e["accuracy"]),
                                                                                             digits)
                                                 for c, e in zip(columns, evals)}})
    df = _frame(rows, by, "questions", columns)
    df.attrs.update(kind="yayi_objective", evals=[e["id"] for e in evals], scale=1.0,
                    mixed_sizes=len({e["n"] for e in evals}) > 1)
    return df


def exam_datasets_evaluated() -> list[str]:
    """Exam datasets with at least one evaluation, by name."""
    return sorted({e["dataset"] for e in store.exam_evals() if e["dataset"]})


def _row_label(value: Any, first: str) -> str:
    """A row's name as people read it: overall and no-category in the current language, types by their label."""
    from studio.core.labels import label

    if value == OVERALL:
        return _("overall")
    if value in ("", None):
        return _("(none)")
    return label("qtype", value) if first == "type" else str(value)


def _display(df) -> tuple[list[str], list[list[Any]]]:
    first, count = df.columns[0], df.columns[1]
    head = [_(HEADINGS.get(first, first)), _(HEADINGS.get(count, count)), *df.columns[2:]]
    body = [[_row_label(r[first], first), int(r[count]), *[None if _isnan(v) else v for v in r.iloc[2:]]]
            for _i, r in df.iterrows()]
    return head, body


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def table_markdown(df, *, digits: int = 2) -> str:
    """A report table as Markdown for people: headings in the current language, the best value of a row bold."""
    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    head, body = _display(df)
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "| " + " | ".join("---" for _h in head) + " |"]
    for row in body:
        present = [v for v in row[2:] if v is not None]
        best = max(present) if len(present) > 1 else None
        vals = ["--" if v is None else (f"**{v:.{digits}f}**" if v == best else f"{v:.{digits}f}") for v in row[2:]]
        lines.append("| " + " | ".join([cell(row[0]), str(row[1]), *vals]) + " |")
    return "\n".join(lines) + "\n"


def table_csv(df) -> str:
    """A report table as CSV for a spreadsheet: headings in the current language; no cell can start a formula."""
    head, body = _display(df)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([neutralise(h) for h in head])
    for row in body:
        w.writerow([neutralise(v) if v is not None else "" for v in row])
    return buf.getvalue()


def table_chart(df, *, y_title: str):
    """Grouped bars: the table's rows along the axis, one bar per system, on the table's scale."""
    import plotly.graph_objects as go

    head, body = _display(df)
    fig = go.Figure()
    for j, system in enumerate(head[2:]):
        fig.add_bar(x=[row[0] for row in body], y=[row[2 + j] for row in body], name=str(system))
    scale = float(df.attrs.get("scale", 1.0))
    fig.update_layout(barmode="group", height=360, margin=dict(t=20, b=20), legend_title_text=_("system"),
                      yaxis=dict(title=y_title, range=[0, scale * 1.02], tickformat=".0%" if scale == 1.0 else None),
                      xaxis_title=head[0])
    return fig


def people_frame(df):
    """A report table as shown on a page: headings and row names in the current language."""
    import pandas as pd

    head, body = _display(df)
    return pd.DataFrame(body, columns=head)
