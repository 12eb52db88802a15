"""The commands that serve chosen runs on a real inference engine, and the API systems that then compare them.

A team with GPUs compares big models by serving them and adding each served model as an API system
(:mod:`studio.evaluate.systems`) — the same comparison, exam evaluation, judge and arena, answered fast.

vLLM serves the base model and every chosen LoRA adapter from one process; each adapter is a model name
at the same endpoint, the base model is ``base``::

    vllm serve /models/qwen --served-model-name base --enable-lora --max-loras 2 --max-lora-rank 8 \\
        --lora-modules run-a=/runs/run-a/adapter run-b=/runs/run-b/adapter --port 8000
    python -m studio compare --api run-a=run-a@http://127.0.0.1:8000/v1 ... --no-base --prompts P --out O

``--max-loras`` lets every adapter share a batch; ``--max-lora-rank`` is the largest LoRA rank of the
runs rounded up to a size vLLM accepts; ``--trust-remote-code`` comes from the run's config (ChatGLM).

LLaMA-Factory's OpenAI-compatible server (``llamafactory-cli api``) serves one adapter per process, so
one command per run, each on its own port (``API_PORT``) and answering as ``API_MODEL_NAME``::

    API_PORT=8001 API_MODEL_NAME=run-a llamafactory-cli api --model_name_or_path /models/qwen \\
        --adapter_name_or_path /runs/run-a/adapter --finetuning_type lora --template default

(``--template`` must be the base model's chat template in LLaMA-Factory's names: qwen, llama3,
chatglm3 ...; ``default`` is what the studio's demo model uses.) Both engines serve LoRA adapters only:
a P-Tuning v2 run is refused with the reason. The CLI prints these with ``compare --serve-command
--runs A,B``; the Compare page shows them for the chosen runs.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.errors import InputError
from studio.core.i18n import _
from studio.evaluate import inference

RANKS = (8, 16, 32, 64, 128, 256, 512)   # the LoRA ranks vLLM accepts for --max-lora-rank
ENGINES = ("vllm", "llamafactory")


@dataclass(frozen=True)
class Served:
    """A run as an engine serves it."""
    run_id: str
    name: str               # the model name it answers to
    adapter: str
    base_model: str
    rank: int
    trust_remote_code: bool


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def model_name(run_id: str) -> str:
    """A model name an engine accepts for a run: letters, digits, ``.``, ``_`` and ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", run_id).strip("-") or "run"


def served(run_ids: list[str]) -> list[Served]:
    """The chosen runs with what serving them needs; InputError for a run that is no LoRA adapter."""
    if not run_ids:
        raise InputError(_("choose at least one run to serve"))
    out, names = [], set()
    for rid in run_ids:
        system = inference.run_system(rid)
        if system.method != "lora":
            raise InputError(_("run {run_id} is a P-Tuning v2 adapter: vLLM and LLaMA-Factory serve LoRA adapters "
                               "only; compare it locally").format(run_id=rid), run_id=rid)
        adapter = Path(system.adapter)
        config = _json(adapter.parent / "config.json")
        name = model_name(rid)
        if name in names:
            name = f"{name}-{len(names) + 1}"
        names.add(name)
        out.append(Served(rid, name, str(adapter), system.base_model, int(_json(adapter / "adapter_config.json")
                                                                          .get("r") or 8),
                          bool(config.get("trust_remote_code"))))
    return out


def _base(runs: list[Served], base_model: str | None) -> str:
    if base_model:
        return base_model
    bases = sorted({r.base_model for r in runs})
    if len(bases) > 1:
        raise InputError(_("the runs use different base models ({models}); serve each base model with its own "
                           "command").format(models=", ".join(bases)))
    return bases[0]


def vllm(run_ids: list[str], *, base_model: str | None = None, host: str = "127.0.0.1",
         port: int = 8000) -> dict[str, Any]:
    """``{"command", "apis"}``: one ``vllm serve`` for the base model and every run's LoRA adapter, and the
    API-system specs (``NAME=NAME@URL``) of the base model and each adapter at that server."""
    runs = served(run_ids)
    base = _base(runs, base_model)
    rank = next((r for r in RANKS if r >= max(x.rank for x in runs)), max(x.rank for x in runs))
    parts = ["vllm", "serve", base, "--served-model-name", "base", "--enable-lora", "--max-loras", str(len(runs)),
             "--max-lora-rank", str(rank), "--lora-modules", *[f"{r.name}={r.adapter}" for r in runs]]
    if any(r.trust_remote_code for r in runs):
        parts.append("--trust-remote-code")
    parts += ["--host", host, "--port", str(port)]
    url = f"http://{host}:{port}/v1"
    return {"command": shlex.join(parts),
            "apis": [f"base=base@{url}"] + [f"{r.name}={r.name}@{url}" for r in runs]}


def llamafactory(run_ids: list[str], *, base_model: str | None = None, host: str = "127.0.0.1",
                 port: int = 8000, template: str = "default") -> list[dict[str, Any]]:
    """One ``llamafactory-cli api`` per run (ports ``port``, ``port + 1``, ...), each with its API-system spec."""
    runs = served(run_ids)
    base = _base(runs, base_model)
    out = []
    for i, r in enumerate(runs):
        parts = ["llamafactory-cli", "api", "--model_name_or_path", base, "--adapter_name_or_path", r.adapter,
                 "--finetuning_type", "lora", "--template", template]
        if r.trust_remote_code:
            parts += ["--trust_remote_code", "true"]
        env = f"API_HOST={shlex.quote(host)} API_PORT={port + i} API_MODEL_NAME={shlex.quote(r.name)} "
        out.append({"run": r.run_id, "command": env + shlex.join(parts),
                    "api": f"{r.name}={r.name}@http://{host}:{port + i}/v1"})
    return out


def commands(run_ids: list[str], *, base_model: str | None = None, host: str = "127.0.0.1",
             port: int = 8000) -> dict[str, Any]:
    """Both engines' commands for these runs: ``{"vllm": {...}, "llamafactory": [...]}``."""
    return {"vllm": vllm(run_ids, base_model=base_model, host=host, port=port),
            "llamafactory": llamafactory(run_ids, base_model=base_model, host=host, port=port)}
