"""Human ratings and pairwise votes, and what they add up to.

- A rating is 1-5 (YaYi's scale: 1 very poor ... 5 very good) with an optional comment, per output and
  rater; several raters per output; a rater rating the same output again replaces their rating.
- A vote compares two outputs of one prompt: ``a``, ``b``, ``tie`` or ``both_bad``. The arena shows the
  duels in turn (:func:`arena_at`) and, after a vote, moves to the next pair the rater has not voted on
  (:func:`next_duel`).
- Mean rating per system (and per system and category): each output's mean over its raters, then the
  mean over outputs with a 95 % t-interval over outputs (YaYi averages its three raters the same way).
- Agreement between raters: Krippendorff's alpha (interval metric; any number of raters, missing
  ratings allowed) and the share of rater pairs that agree exactly / within one point.
- Ranking from votes: Bradley-Terry strengths by the MM algorithm (Hunter 2004) with ties and
  both-bad counted as half a win each and a small symmetric prior (so a system that won every vote
  still gets a finite strength), on the Elo scale (1000 + 400 log10 strength); 95 % intervals of
  rating and rank from a bootstrap over votes.
- The seeds' table: categories down, systems across, exported as Markdown and CSV (no CSV cell can
  start a formula).
"""
from __future__ import annotations

import csv
import io
import math
import random
from collections import defaultdict
from typing import Any, Iterable

from store import compare as store
from store import db
from studio.core.cells import neutralise
from studio.core.errors import InputError
from studio.core.i18n import N_, _
from studio.evaluate import comparisons

WINNERS = ("a", "b", "tie", "both_bad")
SCORES = (1, 2, 3, 4, 5)
SCALE = {1: N_("very poor"), 2: N_("poor"), 3: N_("fair"), 4: N_("good"), 5: N_("very good")}  # YaYi's 1-5
VOTE_NAMES = {"a": N_("A is better"), "b": N_("B is better"), "tie": N_("Tie"), "both_bad": N_("Both bad")}
ROW_NAMES = {"overall": N_("overall"), "(none)": N_("(none)")}  # the seeds' table's own rows, shown translated
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
        2.042]


# ---------------------------------------------------------------- writing


def _rater(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InputError(_("give a rater name"))
    if len(name) > 80:
        raise InputError(_("a rater name has at most 80 characters"))
    return name


def rate(generation_id: int, rater: str, score: int, comment: str | None = None,
         prompt_id: int | None = None) -> int:
    """Rate one output 1-5 (a second rating by the same rater replaces the first)."""
    rater = _rater(rater)
    try:
        score = int(score)
    except (TypeError, ValueError):
        raise InputError(_("a rating is a whole number 1-5, not {score}").format(score=repr(score))) from None
    if score not in SCORES:
        raise InputError(_("a rating is 1-5, not {score}").format(score=score))
    if store.generation(int(generation_id)) is None:
        raise InputError(_("no output {id}").format(id=generation_id))
    with db.transaction() as cur:
        return store.upsert_rating(int(generation_id), prompt_id, rater, score, (comment or "").strip() or None,
                                   cur=cur)


def vote(prompt_id: int | None, generation_a: int, generation_b: int, winner: str, rater: str) -> int:
    """A pairwise vote between two outputs: a, b, tie or both_bad."""
    rater = _rater(rater)
    if winner not in WINNERS:
        raise InputError(_("a vote is one of {choices}, not {winner}").format(choices=", ".join(WINNERS),
                                                                             winner=repr(winner)))
    if int(generation_a) == int(generation_b):
        raise InputError(_("a vote compares two different outputs"))
    with db.transaction() as cur:
        return store.upsert_vote(prompt_id, int(generation_a), int(generation_b), winner, rater, cur=cur)


# ---------------------------------------------------------------- reading a comparison


def _outputs(comparison_id: int) -> tuple[dict, dict[int, dict]]:
    """The grid and a map generation id -> {system, category, prompt_id}."""
    g = comparisons.grid(comparison_id)
    meta = {}
    for p in g["prompts"]:
        for sid, out in p["outputs"].items():
            meta[out["generation_id"]] = {"system": sid, "category": p["category"], "prompt_id": p["prompt_id"]}
    return g, meta


def my_ratings(comparison_id: int, rater: str) -> dict[int, dict[str, Any]]:
    """This rater's ratings in a comparison, by generation id."""
    _grid, meta = _outputs(comparison_id)
    return {r["generation_id"]: r for r in store.ratings_for(meta, rater=(rater or "").strip())}


def my_votes(comparison_id: int, rater: str) -> dict[frozenset, dict[str, Any]]:
    """This rater's votes in a comparison, by the pair of generation ids."""
    _grid, meta = _outputs(comparison_id)
    return {frozenset((v["generation_a"], v["generation_b"])): v for v in store.votes_for(meta)
            if v["rater"] == (rater or "").strip()}


def arena_prompts(comparison_id: int) -> list[dict[str, Any]]:
    """The grid's prompts that have at least two answers to vote between."""
    return [p for p in comparisons.grid(comparison_id)["prompts"] if len(comparisons.answered(p)) >= 2]


def arena_at(comparison_id: int, index: int, prompts: list[dict[str, Any]]) -> tuple[dict[str, Any], str, str]:
    """The ``index``-th duel (prompt row, system A, system B): the prompts in turn, a new pair each round."""
    p = prompts[index % len(prompts)]
    a, b = comparisons.arena_pair(comparison_id, p["prompt_id"], comparisons.answered(p), index // len(prompts))
    return p, a, b


def next_duel(comparison_id: int, rater: str, after: int, prompts: list[dict[str, Any]] | None = None) -> int:
    """The next duel after ``after`` this rater has not voted on (``after + 1`` when all are voted)."""
    prompts = arena_prompts(comparison_id) if prompts is None else prompts
    voted = set(my_votes(comparison_id, rater)) if prompts and (rater or "").strip() else set()
    rounds = max([len(comparisons.answered(p)) * (len(comparisons.answered(p)) - 1) // 2 for p in prompts] or [0])
    for index in range(after + 1, after + 1 + len(prompts) * rounds):
        p, a, b = arena_at(comparison_id, index, prompts)
        if frozenset((p["outputs"][a]["generation_id"], p["outputs"][b]["generation_id"])) not in voted:
            return index
    return after + 1


def progress(comparison_id: int, rater: str | None = None) -> dict[str, int]:
    """Outputs rated (by anyone, or by ``rater``) out of the outputs generated."""
    _grid, meta = _outputs(comparison_id)
    found = store.ratings_for(meta, rater=rater.strip() if rater else None)
    rated = {r["generation_id"] for r in found}
    return {"rated": len(rated), "total": len(meta), "ratings": len(found),
            "raters": len({r["rater"] for r in found})}


# ---------------------------------------------------------------- statistics (pure)


def t95(df: int) -> float:
    """Two-sided 95 % t critical value."""
    if df <= 0:
        return float("nan")
    if df <= len(_T95):
        return _T95[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df)


def mean_ci(values: Iterable[float]) -> dict[str, Any]:
    """Mean with a 95 % t-interval; one value gives no interval."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    m = sum(xs) / n
    if n == 1:
        return {"mean": m, "low": None, "high": None, "n": 1}
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    half = t95(n - 1) * sd / math.sqrt(n)
    return {"mean": m, "low": m - half, "high": m + half, "n": n}


def krippendorff_alpha(units: Iterable[Iterable[float]]) -> float | None:
    """Krippendorff's alpha, interval metric; units with fewer than two ratings are not pairable."""
    pairable = [[float(v) for v in u] for u in units]
    pairable = [u for u in pairable if len(u) >= 2]
    values = [v for u in pairable for v in u]
    n = len(values)
    if n < 2:
        return None
    d_o = sum(sum((a - b) ** 2 for i, a in enumerate(u) for j, b in enumerate(u) if i != j) / (len(u) - 1)
              for u in pairable) / n
    mean = sum(values) / n
    # sum over ordered pairs i != j of (vi - vj)^2 = 2 n sum (v - mean)^2
    d_e = 2 * n * sum((v - mean) ** 2 for v in values) / (n * (n - 1))
    if d_e == 0:
        return 1.0 if d_o == 0 else None
    return 1 - d_o / d_e


def pair_agreement(units: Iterable[Iterable[float]]) -> dict[str, Any]:
    """Share of rater pairs on the same output that agree exactly and within one point."""
    exact = near = pairs = 0
    for u in units:
        u = list(u)
        for i in range(len(u)):
            for j in range(i + 1, len(u)):
                pairs += 1
                exact += u[i] == u[j]
                near += abs(u[i] - u[j]) <= 1
    return {"pairs": pairs, "exact": exact / pairs if pairs else None, "within_1": near / pairs if pairs else None}


def bradley_terry(outcomes: list[tuple[int, int, float]], k: int, *, prior: float = 0.5,
                  iterations: int = 500, tol: float = 1e-9) -> list[float]:
    """Bradley-Terry strengths of ``k`` items from (i, j, score of i: 1 win, 0.5 tie, 0 loss).

    MM updates p_i = W_i / sum_j n_ij / (p_i + p_j); ``prior`` adds that many virtual ties between
    every pair so strengths stay finite. Normalised to a geometric mean of 1.
    """
    wins = [0.0] * k
    n = [[0.0] * k for _unused in range(k)]
    for i, j, s in outcomes:
        wins[i] += s
        wins[j] += 1 - s
        n[i][j] += 1
        n[j][i] += 1
    for i in range(k):
        for j in range(k):
            if i != j:
                n[i][j] += prior
        wins[i] += prior * (k - 1) / 2
    p = [1.0] * k
    for _unused in range(iterations):
        new = []
        for i in range(k):
            denom = sum(n[i][j] / (p[i] + p[j]) for j in range(k) if j != i)
            new.append(wins[i] / denom if denom > 0 else p[i])
        g = math.exp(sum(math.log(x) for x in new) / k) if all(x > 0 for x in new) else 1.0
        new = [x / g for x in new]
        delta = max(abs(a - b) for a, b in zip(new, p))
        p = new
        if delta < tol:
            break
    return p


def elo_scale(strengths: list[float]) -> list[float]:
    return [1000 + 400 * math.log10(s) if s > 0 else float("-inf") for s in strengths]


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def ranking(votes: list[tuple[str, str, str]], systems: list[str], *, bootstrap: int = 300,
            seed: int = 0) -> list[dict[str, Any]]:
    """Systems ranked by Bradley-Terry from votes (system a, system b, winner), with bootstrap intervals."""
    index = {s: i for i, s in enumerate(systems)}
    score_of = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}
    outcomes = [(index[a], index[b], score_of[w]) for a, b, w in votes if a in index and b in index and a != b]
    k = len(systems)
    point = elo_scale(bradley_terry(outcomes, k))
    samples: list[list[float]] = [[] for _unused in range(k)]
    ranks: list[list[int]] = [[] for _unused in range(k)]
    rng = random.Random(seed)
    if outcomes and bootstrap:
        for _unused in range(bootstrap):
            draw = [outcomes[rng.randrange(len(outcomes))] for _unused in outcomes]
            r = elo_scale(bradley_terry(draw, k, iterations=200, tol=1e-6))
            order = sorted(range(k), key=lambda i: -r[i])
            for place, i in enumerate(order, start=1):
                ranks[i].append(place)
            for i in range(k):
                samples[i].append(r[i])
    tally = {s: {"wins": 0, "losses": 0, "ties": 0, "both_bad": 0, "votes": 0} for s in systems}
    for a, b, w in votes:
        if a not in tally or b not in tally or a == b:
            continue
        for s in (a, b):
            tally[s]["votes"] += 1
        if w == "a":
            tally[a]["wins"] += 1
            tally[b]["losses"] += 1
        elif w == "b":
            tally[b]["wins"] += 1
            tally[a]["losses"] += 1
        else:
            key = "ties" if w == "tie" else "both_bad"
            tally[a][key] += 1
            tally[b][key] += 1
    order = sorted(range(k), key=lambda i: -point[i])
    out = []
    for place, i in enumerate(order, start=1):
        s = systems[i]
        out.append({"system": s, "rank": place, "rating": round(point[i], 1),
                    "low": round(_percentile(samples[i], 0.025), 1) if samples[i] else None,
                    "high": round(_percentile(samples[i], 0.975), 1) if samples[i] else None,
                    "rank_low": int(_percentile(ranks[i], 0.025)) if ranks[i] else None,
                    "rank_high": int(math.ceil(_percentile(ranks[i], 0.975))) if ranks[i] else None,
                    **tally[s]})
    return out


# ---------------------------------------------------------------- a comparison's results


def summary(comparison_id: int, *, bootstrap: int = 300) -> dict[str, Any]:
    """Mean ratings with intervals per system and per category, rater agreement, and the vote ranking."""
    g, meta = _outputs(comparison_id)
    systems = [s["id"] for s in g["systems"]]
    labels = {s["id"]: s["label"] for s in g["systems"]}
    found = store.ratings_for(meta)
    per_output: dict[int, list[int]] = defaultdict(list)
    for r in found:
        per_output[r["generation_id"]].append(r["score"])
    by_system: dict[str, list[float]] = defaultdict(list)
    by_cell: dict[tuple[str, str], list[float]] = defaultdict(list)
    for gid, scores in per_output.items():
        m = sum(scores) / len(scores)
        by_system[meta[gid]["system"]].append(m)
        by_cell[(meta[gid]["category"], meta[gid]["system"])].append(m)
    categories = sorted({p["category"] for p in g["prompts"]})
    system_rows = [{"system": s, "label": labels[s], **mean_ci(by_system.get(s, []))} for s in systems]
    cell_rows = [{"system": s, "label": labels[s], "category": c, **mean_ci(by_cell.get((c, s), []))}
                 for c in categories for s in systems]
    units = [scores for scores in per_output.values()]
    raters = sorted({r["rater"] for r in found})
    vote_rows = store.votes_for(meta)
    votes = [(meta[v["generation_a"]]["system"], meta[v["generation_b"]]["system"], v["winner"]) for v in vote_rows]
    ranked = ranking(votes, systems, bootstrap=bootstrap) if votes else []
    for r in ranked:
        r["label"] = labels[r["system"]]
    return {"comparison": g["comparison"]["id"], "systems": system_rows, "cells": cell_rows,
            "categories": categories, "ratings": len(found), "raters": raters,
            "agreement": {"alpha": krippendorff_alpha(units), **pair_agreement(units),
                          "outputs_with_2_raters": sum(1 for u in units if len(u) >= 2)},
            "votes": len(votes), "ranking": ranked, "progress": progress(comparison_id)}


# ---------------------------------------------------------------- the seeds' table


def seed_table(cells: list[dict[str, Any]], systems: list[dict[str, Any]], *, digits: int = 2,
               overall: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Categories down, systems across (as the seeds' READMEs show their scores)."""
    columns = [s["label"] for s in systems]
    by = {(c["category"], c["system"]): c for c in cells}
    categories = list(dict.fromkeys(c["category"] for c in cells))
    rows = []
    for cat in categories:
        n = max((by[(cat, s["id"])]["n"] for s in systems if (cat, s["id"]) in by), default=0)
        values = [by.get((cat, s["id"]), {}).get("mean") for s in systems]
        rows.append({"category": cat or "(none)", "n": n, "own": not cat,
                     "values": [round(v, digits) if v is not None else None for v in values]})
    if overall:
        ov = {o["system"]: o for o in overall}
        rows.append({"category": "overall", "own": True, "n": max((o["n"] for o in overall), default=0),
                     "values": [round(ov[s["id"]]["mean"], digits) if ov.get(s["id"], {}).get("mean") is not None
                                else None for s in systems]})
    return {"columns": columns, "rows": rows}


def _row_name(row: dict[str, Any]) -> str:
    """A row's category as shown: the table's own rows (overall, none) in the current language."""
    return _(ROW_NAMES[row["category"]]) if row.get("own") and row["category"] in ROW_NAMES else row["category"]


def to_markdown(table: dict[str, Any], *, corner: str | None = None) -> str:
    """The table as Markdown for people (headers in the current language); the best value of each row in bold."""
    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    head = [corner or _("category"), "n"] + table["columns"]
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "| " + " | ".join("---" for _unused in head) + " |"]
    for r in table["rows"]:
        present = [v for v in r["values"] if v is not None]
        best = max(present) if present else None
        vals = ["--" if v is None else (f"**{v}**" if v == best and len(present) > 1 else str(v))
                for v in r["values"]]
        lines.append("| " + " | ".join([cell(_row_name(r)), str(r["n"])] + vals) + " |")
    return "\n".join(lines) + "\n"


def safe_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet reads as a formula (a leading ``|`` too: DDE in old Excel)."""
    if isinstance(value, str) and value.startswith("|"):
        return "'" + value
    return neutralise(value)


def to_csv(table: dict[str, Any], *, corner: str | None = None) -> str:
    """The table as CSV for a spreadsheet a person reads: headers and own rows in the current language."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([safe_cell(h) for h in [corner or _("category"), "n"] + table["columns"]])
    for r in table["rows"]:
        w.writerow([safe_cell(_row_name(r)), r["n"]] + ["" if v is None else v for v in r["values"]])
    return buf.getvalue()


def rating_table(comparison_id: int) -> dict[str, Any]:
    """Mean human rating per category and system (the YaYi table), with an overall row."""
    s = summary(comparison_id, bootstrap=0)
    systems = [{"id": r["system"], "label": r["label"]} for r in s["systems"]]
    return seed_table(s["cells"], systems, overall=s["systems"])
