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
  one job). ``prompts`` (re-judging from the Results page) judges those prompts' outputs again. The API
  key comes from the page in memory (``secrets``); after a restart of the server, from its environment,
  as the CLI's.
- API systems (``api:LABEL``) in a comparison or an exam evaluation are asked by the ``compare`` and
  ``eval`` jobs; their keys travel the same way: the page hands the keys it read from Streamlit secrets
  (by the name of each system's key variable) to the job in memory, the environment wins.
"""
from __future__ import annotations

from typing import Any, Callable

from studio.core.errors import InputError, NotFound
from studio.core.i18n import N_, _
from studio.service import jobs
from studio.service.jobs import Context, kind

ACTIVE = ("queued", "running")


def _reporter(ctx: Context, count: str) -> Callable[[int, int, str], None]:
    """A progress callback ``(done, total, label)`` that records ``done / total unit · label`` on the job;
    ``count`` is the marked message ``"{done} / {total} outputs"``."""
    def report(done: int, total: int, label: str) -> None:
        text = _(count).format(done=done, total=total)
        ctx.progress(done, total, text + (f" · {label}" if label else ""), force=done == 0 or done >= total)
    return report


def done_message(job: dict[str, Any]) -> str:
    """What a finished job of these kinds did, in the current language (a page shows it in its own)."""
    r = job.get("result") or {}
    try:
        if job["kind"] == "compare" and r.get("failed"):
            return _("Generated {generated} outputs ({cached} from the cache); {failed} requests failed: "
                     "generate again to ask them again").format(**r)
        if job["kind"] == "compare":
            return _("Generated {generated} outputs ({cached} from the cache)").format(**r)
        if job["kind"] == "eval":
            return _("Accuracy {accuracy} on {n} questions").format(accuracy=f"{r['accuracy']:.1%}", n=r["n"])
        if job["kind"] == "judge":
            return _("{scored} scored, {unparsed} unparsed, {failed} failed requests").format(**r)
    except (KeyError, TypeError, ValueError):   # an older row without these counts: its stored message
        pass
    return job.get("message") or ""


@kind("compare", N_("Compare generation"), resumable=True, slot="model")
def compare(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.evaluate import comparisons

    r = comparisons.generate(int(args["comparison"]), progress=_reporter(ctx, N_("{done} / {total} outputs")),
                             stop=ctx.stop, keys=ctx.secrets)
    ctx.check()
    r = {**r, "comparison": int(args["comparison"])}
    return {**r, "message": done_message({"kind": "compare", "result": r})}


@kind("eval", N_("Exam evaluation"), resumable=True, slot="model")
def evaluate(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.evaluate import exam_accuracy

    r = exam_accuracy.evaluate(args["run"], args["dataset"], shuffles=int(args.get("shuffles") or 0),
                               seed=int(args.get("seed") or 0), limit=args.get("limit"),
                               base_model=args.get("base_model"), keys=ctx.secrets,
                               progress=_reporter(ctx, N_("{done} / {total} answers")), stop=ctx.stop)
    ctx.check()
    return {**r, "message": done_message({"kind": "eval", "result": r})}


@kind("judge", N_("GPT judge"), resumable=True, slot="io")
def judge(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.evaluate import judge as judging

    since = jobs.get(ctx.job_id)["started_at"]   # the first start: a resumed job asks nothing twice
    r = judging.judge_comparison(int(args["comparison"]), model=args["model"], base_url=args.get("base_url"),
                                 template_name=args.get("template") or judging.BUILTIN,
                                 key=ctx.secrets.get("key"), progress=_reporter(ctx, N_("{done} / {total} requests")),
                                 stop=ctx.stop, since=since, again=args.get("prompts"),
                                 concurrency=int(args.get("concurrency") or 8))
    ctx.check()
    r = {**r, "comparison": int(args["comparison"])}
    return {**r, "message": done_message({"kind": "judge", "result": r})}


# ---------------------------------------------------------------- what the pages call


def start_compare(comparison_id: int, *, keys: dict[str, str] | None = None) -> dict[str, Any]:
    """Queue the generation of a comparison's missing outputs (or find the one queued or running); ``keys``
    (API systems' keys by variable name) travel to the job in memory only."""
    return jobs.submit("compare", {"comparison": int(comparison_id)}, who="page", secrets=keys or None)


def start_eval(run: str, dataset: str, *, shuffles: int = 0, limit: int | None = None,
               base_model: str | None = None, keys: dict[str, str] | None = None) -> dict[str, Any]:
    """Queue an exam evaluation of ``run`` (a run id, ``base`` or ``api:LABEL``) on an exam dataset."""
    from studio.evaluate import limits

    shuffles, limit = limits.SHUFFLES.check(shuffles), limits.QUESTIONS.check(limit or 0)
    args = {"run": run, "dataset": dataset, "shuffles": shuffles, "limit": limit or None,
            "base_model": (base_model or None) if run == "base" else None}
    return jobs.submit("eval", args, who="page", secrets=keys or None)


def start_judge(comparison_id: int, *, model: str, base_url: str | None, template: str,
                key: str | None = None, prompts: list[int] | None = None, concurrency: int = 8) -> dict[str, Any]:
    """Queue the judging of a comparison (``prompts``: judge these prompts again); ``key`` travels to the
    job in memory only."""
    from studio.evaluate import limits

    if not (model or "").strip():
        raise InputError(_("name the judge model"))
    args = {"comparison": int(comparison_id), "model": model.strip(), "base_url": (base_url or "").strip() or None,
            "template": template, "concurrency": limits.CONCURRENCY.check(concurrency)}
    if prompts:
        args["prompts"] = sorted(int(p) for p in prompts)
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
