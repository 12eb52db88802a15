"""The job kinds of the studio's own work (``studio.cli.remote`` adds ``command``, the CLI's commands).

- ``generate``: a generation batch started from the Generate page (resumable per passage).
"""
from __future__ import annotations

from typing import Any

from studio.core.i18n import N_, _
from studio.service.jobs import Context, kind


@kind("generate", N_("Generation batch"), resumable=True)
def generate(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.generate import Options
    from studio.generate.runner import run

    def on_progress(p: dict) -> None:
        ctx.progress(p.get("done"), p.get("total"), _("{samples} samples, {failed} failed").format(
            samples=p.get("samples", 0), failed=p.get("failed", 0)))

    opts = dict(args.get("options") or {})
    result = run(args["corpus"], args["into"], args["strategy"], template=args.get("template"),
                 template_body=args.get("template_body"), model=args.get("model"), base_url=args.get("base_url"),
                 key=ctx.secrets.get("key"), seed_dataset=args.get("seed_dataset"), options=Options(**opts),
                 progress=on_progress, stop=ctx.stop, on_batch=lambda b: setattr(ctx, "batch_id", b))
    return {**result, "message": _("{samples} samples from {passages} passages").format(
        samples=result.get("samples", 0), passages=result.get("passages", 0))}


from studio.service import kinds_data, kinds_evaluate  # noqa: E402,F401 - register their kinds too
