"""Job kinds of the Evaluate pages: compare generation, exam evaluation and GPT judging.

The Compare and Results pages submit these (``start_*``) and follow the job row; the work runs in a
worker thread of the server, so a model is never loaded by a page script, and closing the page or a
second user opening it changes nothing. Each reports progress per unit and stops between units on a
cancel; what was committed stays.

- ``compare`` (model slot): every missing output of a comparison. Resumable: each batch of outputs is
  stored as it finishes in the generations cache (keyed by prompt, system and decode settings), so a
  rerun generates only what is still missing.
- ``eval`` (model slot): exam accuracy of one system. Resumable: its answers are generations too (cached
  the same way), so a rerun asks only the questions not answered yet; the scoring and its ``exam_evals``
  row come once, at the end (a cancelled evaluation stores none).
- ``judge`` (io slot): GPT-as-judge over a comparison's outputs. Resumable: each request is stored with
  its scores in one transaction; a rerun asks only outputs without a parsed score, and a resumed job
  also skips outputs it already asked since its first start (an unparsed verdict is not asked twice by
  one job). The API key comes from the page in memory (``secrets``); after a restart of the server, from
  its environment, as the CLI's.
"""
from __future__ import annotations

from typing import Any, Callable

from studio.core.errors import InputError, NotFound
from studio.service import jobs
from studio.service.jobs import Context, kind

ACTIVE = ("queued", "running")


def _reporter(ctx: Context, unit: str) -> Callable[[int, int, str], None]:
    """A progress callback ``(done, total, label)`` that records ``done / total unit · label`` on the job."""
    def report(done: int, total: int, label: str) -> None:
        ctx.progress(done, total, f"{done} / {total} {unit}" + (f" · {label}" if label else ""),
                     force=done == 0 or done >= total)
    return report


@kind("compare", "Compare generation", resumable=True, slot="model")
def compare(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.evaluate import comparisons

    r = comparisons.generate(int(args["comparison"]), progress=_reporter(ctx, "outputs"), stop=ctx.stop)
    ctx.check()
    return {**r, "comparison": int(args["comparison"]),
            "message": f"Generated {r['generated']} outputs ({r['cached']} from the cache)"}


@kind("eval", "Exam evaluation", resumable=True, slot="model")
def evaluate(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.evaluate import exam_accuracy

    r = exam_accuracy.evaluate(args["run"], args["dataset"], shuffles=int(args.get("shuffles") or 0),
                               seed=int(args.get("seed") or 0), limit=args.get("limit"),
                               base_model=args.get("base_model"), progress=_reporter(ctx, "answers"),
                               stop=ctx.stop)
    ctx.check()
    return {**r, "message": f"Accuracy {r['accuracy']:.1%} on {r['n']} questions"}


@kind("judge", "GPT judge", resumable=True, slot="io")
def judge(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.evaluate import judge as judging

    since = jobs.get(ctx.job_id)["started_at"]   # the first start: a resumed job asks nothing twice
    r = judging.judge_comparison(int(args["comparison"]), model=args["model"], base_url=args.get("base_url"),
                                 template_name=args.get("template") or judging.BUILTIN,
                                 key=ctx.secrets.get("key"), progress=_reporter(ctx, "requests"),
                                 stop=ctx.stop, since=since)
    ctx.check()
    return {**r, "comparison": int(args["comparison"]),
            "message": f"{r['scored']} scored, {r['unparsed']} unparsed, {r['failed']} failed requests"}


# ---------------------------------------------------------------- what the pages call


def start_compare(comparison_id: int) -> dict[str, Any]:
    """Queue the generation of a comparison's missing outputs (or find the one queued or running)."""
    return jobs.submit("compare", {"comparison": int(comparison_id)}, who="page")


def start_eval(run: str, dataset: str, *, shuffles: int = 0, limit: int | None = None,
               base_model: str | None = None) -> dict[str, Any]:
    """Queue an exam evaluation of ``run`` (a run id or ``base``) on an exam dataset."""
    if not 0 <= int(shuffles) <= 20:
        raise InputError("option shuffles must be between 0 and 20")
    args = {"run": run, "dataset": dataset, "shuffles": int(shuffles), "limit": int(limit) if limit else None,
            "base_model": (base_model or None) if run == "base" else None}
    return jobs.submit("eval", args, who="page")


def start_judge(comparison_id: int, *, model: str, base_url: str | None, template: str,
                key: str | None = None) -> dict[str, Any]:
    """Queue the judging of a comparison; ``key`` travels to the job in memory only."""
    if not (model or "").strip():
        raise InputError("name the judge model")
    args = {"comparison": int(comparison_id), "model": model.strip(), "base_url": (base_url or "").strip() or None,
            "template": template}
    return jobs.submit("judge", args, who="page", secrets={"key": key} if key else None)


def current(kind_name: str, job_id: int | None = None, **match: Any) -> dict[str, Any] | None:
    """The job a page shows: its own (``job_id``) while its arguments match, else a queued or running
    job of this kind whose arguments match (started by another user, a closed tab, or the CLI)."""
    def fits(job: dict[str, Any]) -> bool:
        return job["kind"] == kind_name and all(job["args"].get(k) == v for k, v in match.items())

    if job_id is not None:
        try:
            own = jobs.get(job_id)
        except NotFound:   # a job id from another database file
            own = None
        if own is not None and fits(own):
            return own
    return next((j for j in jobs.list_jobs(active=True, kind=kind_name) if fits(j)), None)
