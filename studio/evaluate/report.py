"""Everything a comparison holds, written out: every output with its ratings and judge score, and the
seeds' tables (categories down, systems across) for human ratings and judge scores.

Formats by file extension: ``.jsonl`` (one line per prompt and system), ``.json``, ``.csv`` (cells
cannot start a formula), ``.md`` (the tables, then every output). An existing file is not overwritten
unless asked.
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from store import compare as store
from studio.core.errors import InputError
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
    comp = comparisons.get(comparison_id)
    t = tables(comparison_id)
    parts = [f"# {comp['name']}\n", f"Systems: {', '.join(comp['systems'])} (base = the base model without "
             f"adapter); decode: {json.dumps(comp['decode'], ensure_ascii=False)}\n",
             "## Mean human rating (1-5)\n", ratings.to_markdown(t["rating"]),
             "\n## Mean judge score\n", ratings.to_markdown(t["judge"]), "\n## Outputs\n"]
    for r in output_rows(comparison_id):
        parts.append(f"### [{r['category']}] {r['prompt'][:60]} — {r['system_label']}\n\n{r['output'] or ''}\n\n"
                     f"rating: {r['rating_mean']}, judge: {r['judge_score']}\n")
    return "\n".join(parts)


def csv_text(rows: list[dict[str, Any]]) -> str:
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
        raise InputError(f"unknown output format {out.suffix or '(none)'}; use one of {', '.join(FORMATS)}",
                         file=str(out))
    if out.exists() and not overwrite:
        raise InputError("the output file exists; choose another name or pass --force", file=str(out))


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
