"""API systems: any OpenAI-compatible endpoint answering prompts beside the base model and local runs.

An API system is ``LABEL=MODEL@BASE_URL`` with, optionally, ``#KEY_ENV``: the name of the environment
variable (or Streamlit secret) holding its key; without it the studio's ``STUDIO_API_KEY_ENV``. Keys are
read when a request is made and never stored, logged or exported. In a comparison its id is
``api:LABEL``; its outputs are generations like any system's, keyed by prompt, ``api:LABEL`` and a
decode key that hashes the decode settings with ``MODEL@BASE_URL`` (so a label pointed at another model
answers again).

    ChatGPT=gpt-4o-mini@https://api.openai.com/v1
    DeepSeek=deepseek-chat@https://api.deepseek.com/v1#DEEPSEEK_API_KEY
    通义千问=qwen-plus@https://dashscope.aliyuncs.com/compatible-mode/v1#DASHSCOPE_API_KEY
    qwen-local=qwen2.5:7b@http://127.0.0.1:11434/v1            (Ollama: a loopback endpoint needs no key)
    run-a=run-a@http://127.0.0.1:8000/v1                       (a run served by vLLM, see serve_commands)

An API system is asked exactly what a local model is: the same chat messages (system prompt, earlier
turns, the prompt), greedy decoding as temperature 0, ``max_new_tokens`` as ``max_tokens``, the stop
strings as ``stop``. Requests go out at most ``concurrency`` at a time with generation's retry and
fail-fast rules (:mod:`studio.evaluate.api_pool`); each answer is stored as it arrives with how it
ended (``finish_reason``). A failed request is stored as an empty output that says why and is asked
again on the next run.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable

from store import compare as store
from store import db
from studio.core import settings
from studio.core.errors import InputError, NotFound, WorkFailed
from studio.core.formats import messages as sample_messages
from studio.core.i18n import N_, _
from studio.core.llm import get_client
from studio.evaluate import api_pool

PREFIX = "api:"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
SPEC_EXAMPLE = "ChatGPT=gpt-4o-mini@https://api.openai.com/v1"
EXAMPLE = {"label": "ChatGPT", "model": "gpt-4o-mini", "base_url": "https://api.openai.com/v1",
           "key_env": "DEEPSEEK_API_KEY"}   # placeholders of the page's form
EMPTY = {  # why an output is empty, by how it ended (marked: translated where shown)
    "stop": N_("(empty: the model ended its answer at once, end-of-sequence came first)"),
    "length": N_("(empty: max new tokens reached before any text; raise Max new tokens)"),
    "content_filter": N_("(empty: the endpoint's content filter withheld the answer)"),
    None: N_("(empty: the model wrote no text)"),
}


@dataclass(frozen=True)
class ApiSystem:
    label: str
    model: str
    base_url: str
    key_env: str | None = None     # None: the studio's STUDIO_API_KEY_ENV

    @property
    def id(self) -> str:
        return PREFIX + self.label

    @property
    def identity(self) -> str:
        """What the answers depend on (stored as the generations' base model, hashed in the decode key)."""
        return f"{self.model}@{self.base_url}"

    @property
    def spec(self) -> str:
        return f"{self.label}={self.identity}" + (f"#{self.key_env}" if self.key_env else "")


def is_api(system_id: str) -> bool:
    return str(system_id).startswith(PREFIX)


# ---------------------------------------------------------------- defining


def check(label: str, model: str, base_url: str, key_env: str | None = None) -> ApiSystem:
    """An API system from its fields, each checked; InputError saying what to fix."""
    label, model, base_url = (label or "").strip(), (model or "").strip(), (base_url or "").strip().rstrip("/")
    key_env = (key_env or "").strip() or None
    if not label or len(label) > 40 or any(c in label for c in "=,#\n\r\t") or label.lower() == "base":
        raise InputError(_("an API system needs a label of 1-40 characters without = , or # (and not 'base'), "
                           "not {label}").format(label=repr(label)))
    if not model:
        raise InputError(_("API system {label} needs a model name").format(label=label))
    if not re.match(r"^https?://[^/\s]+", base_url):
        raise InputError(_("API system {label} needs a base URL starting with http:// or https://, not {url}").format(
            label=label, url=repr(base_url)))
    if "@" in base_url.split("/")[2]:
        raise InputError(_("API system {label}: no credentials in the URL; put the key in an environment variable "
                           "and give its name").format(label=label))
    if key_env and not _ENV_NAME.match(key_env):
        raise InputError(_("API system {label}: {name} is not an environment variable name (letters, digits, _); "
                           "give the variable's name, never the key").format(label=label, name=repr(key_env[:12])))
    return ApiSystem(label, model, base_url, key_env)


def parse_spec(spec: str) -> ApiSystem:
    """``LABEL=MODEL@BASE_URL`` (optionally ``#KEY_ENV``) as an API system; the model may hold ``@``,
    ``:`` and ``/`` (``Qwen/Qwen2.5-7B``, ``qwen2.5:7b``): the URL starts at the last ``@http``."""
    text = (spec or "").strip()
    label, sep, rest = text.partition("=")
    at = rest.lower().rfind("@http")
    if not sep or at < 0:
        raise InputError(_("an API system is LABEL=MODEL@BASE_URL (optionally #KEY_ENV), e.g. {example}; "
                           "not {spec}").format(example=SPEC_EXAMPLE, spec=repr(text[:80])))
    model, url = rest[:at], rest[at + 1:]
    url, _hash, key_env = url.partition("#")
    return check(label, model, url, key_env)


def save(api: ApiSystem) -> ApiSystem:
    """Store the definition (a label defined before takes the new model, URL and key variable)."""
    with db.transaction() as cur:
        store.upsert_api_system(api.label, api.model, api.base_url, api.key_env, cur=cur)
    return api


def define(spec: str) -> ApiSystem:
    """Parse ``LABEL=MODEL@BASE_URL[#KEY_ENV]`` and store it."""
    return save(parse_spec(spec))


def add(label: str, model: str, base_url: str, key_env: str | None = None) -> ApiSystem:
    """Check and store an API system given field by field (the page's form)."""
    return save(check(label, model, base_url, key_env))


def get(label_or_id: str) -> ApiSystem:
    label = str(label_or_id).removeprefix(PREFIX)
    row = store.api_system(label)
    if row is None:
        known = ", ".join(a.label for a in list_all()) or _("none yet")
        raise NotFound(_("no API system {label} (API systems: {known}); define it with --api {example}").format(
            label=repr(label), known=known, example=SPEC_EXAMPLE))
    return ApiSystem(row["label"], row["model"], row["base_url"], row["key_env"])


def list_all() -> list[ApiSystem]:
    return [ApiSystem(r["label"], r["model"], r["base_url"], r["key_env"]) for r in store.api_systems()]


def label_of(system_id: str) -> str:
    """How an API system is named on screen: ``LABEL (MODEL)``."""
    row = store.api_system(str(system_id).removeprefix(PREFIX))
    label = str(system_id).removeprefix(PREFIX)
    return f"{label} ({row['model']})" if row and row["model"] != label else label


# ---------------------------------------------------------------- keys and clients


def key_env_of(api: ApiSystem) -> str:
    return api.key_env or settings.get("api_key_env")


def key_for(api: ApiSystem, keys: dict[str, str] | None = None) -> str | None:
    """The key from the environment variable the system names, else from ``keys`` (a page's Streamlit
    secrets, handed to the job in memory)."""
    name = key_env_of(api)
    return os.environ.get(name) or (keys or {}).get(name) or (keys or {}).get(name.lower()) or None


def keys_from(secrets: dict[str, Any], system_ids: list[str]) -> dict[str, str]:
    """The keys a page's Streamlit secrets hold for these systems' key variables (to hand to a job in
    memory); API systems only, by variable name."""
    names = {key_env_of(get(s)) for s in system_ids if is_api(s) and store.api_system(s.removeprefix(PREFIX))}
    return {n: str(secrets.get(n) or secrets.get(n.lower())) for n in names if secrets.get(n) or secrets.get(n.lower())}


def _local(url: str) -> bool:
    return any(h in url for h in ("://127.0.0.1", "://localhost", "://[::1]"))


def client_for(api: ApiSystem, keys: dict[str, str] | None = None, *, timeout: float = 60.0):
    """An OpenAI client for the system (no retries of its own: the pool retries and logs them)."""
    key = key_for(api, keys)
    if not key:
        if not _local(api.base_url):
            raise InputError(_("no API key for {system}: set {name} in the environment or Streamlit secrets").format(
                system=api.label, name=key_env_of(api)))
        key = "no-key"   # a loopback server (Ollama, vLLM) needs none; never another endpoint's key
    return get_client(api.base_url, key=key, timeout=timeout, max_retries=0)


def request_params(decode: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Decode settings as request parameters: (temperature, the rest). Greedy is temperature 0."""
    params: dict[str, Any] = {"max_tokens": int(decode.get("max_new_tokens", 128))}
    if decode.get("stop"):
        params["stop"] = list(decode["stop"])[:4]    # OpenAI accepts at most four
    if not decode.get("do_sample"):
        return 0.0, params
    params.update(top_p=float(decode.get("top_p", 1.0)), seed=int(decode.get("seed", 0)))
    return float(decode.get("temperature", 1.0)), params


def messages_for(item: dict[str, Any]) -> list[dict[str, str]]:
    """The chat a local model renders with its template: system prompt, earlier turns, the prompt."""
    return sample_messages({"instruction": item["prompt"], "system": item.get("system"),
                            "history": item.get("history")})[:-1]


# ---------------------------------------------------------------- showing an output


def shown(output: dict[str, Any]) -> str:
    """An output's text, or why it is empty (end-of-sequence first, max tokens, a filter, an error)."""
    if output.get("output"):
        return output["output"]
    reason = output.get("finish_reason")
    if reason == "error":
        return _("(no answer: the request failed: {error})").format(error=output.get("error") or _("no message"))
    return _(EMPTY.get(reason, EMPTY[None]))


def note(output: dict[str, Any]) -> str | None:
    """A caption for an output cut short, else None."""
    if output.get("output") and output.get("finish_reason") == "length":
        return _("cut off: max new tokens reached")
    return None


# ---------------------------------------------------------------- answering


def ensure_answers(apis: list[ApiSystem], items: list[dict[str, Any]], decode: dict[str, Any], *,
                   keys: dict[str, str] | None = None, concurrency: int = api_pool.DEFAULT_CONCURRENCY,
                   retries: int = 2, timeout: float = 60.0, backoff_s: float = 1.0,
                   progress: Callable[[int, int, str], None] | None = None,
                   stop: threading.Event | None = None) -> dict[str, Any]:
    """Make sure every item has a stored answer from every API system; ask only what is missing or failed.

    Returns ``generated``, ``cached``, ``failed``, ``errors`` (the first few, per system) and ``rows``
    {(system id, prompt key): generation row}, as :func:`inference.ensure_generations` does. A 401 / 403 /
    404, or failures in a row, raise WorkFailed after the answers so far are stored."""
    from studio.evaluate import inference

    pkeys = [inference.prompt_key(it["prompt"], it.get("system"), it.get("history")) for it in items]
    plan = []
    for api in apis:   # every key is checked before the first request
        dk = inference.decode_key(decode, api.identity)
        have = store.generations_for(pkeys, api.id, dk)
        missing = {k: it for k, it in zip(pkeys, items) if have.get(k, {"finish_reason": "error"})["finish_reason"]
                   == "error"}
        plan.append((api, dk, missing, client_for(api, keys, timeout=timeout)))
    total = sum(len(m) for _a, _d, m, _c in plan)
    counts = {"generated": 0, "cached": len(pkeys) * len(apis) - total, "failed": 0, "done": 0}
    errors: list[str] = []
    if progress:
        progress(0, total, "")
    for api, dk, missing, client in plan:
        if stop is not None and stop.is_set():
            break
        result = _ask_all(api, dk, missing, client, decode, counts, total, progress,
                          concurrency=concurrency, settings=api_pool.Settings(timeout, retries, backoff_s), stop=stop)
        errors += [e for e in result["errors"] if e not in errors][:3]
        if result["fatal"] or result["paused"]:
            err = WorkFailed(_("{system}: {error}").format(system=api.label, error=result["fatal"] or result["paused"]))
            err.summary = {k: counts[k] for k in ("generated", "cached", "failed")}
            raise err
    rows = {}
    for api in apis:
        for k, row in store.generations_for(pkeys, api.id, inference.decode_key(decode, api.identity)).items():
            rows[(api.id, k)] = row
    return {**{k: counts[k] for k in ("generated", "cached", "failed")}, "errors": errors, "rows": rows}


def _ask_all(api: ApiSystem, dk: str, missing: dict[str, dict], client, decode: dict[str, Any], counts: dict,
             total: int, progress, *, concurrency: int, settings: api_pool.Settings,
             stop: threading.Event | None) -> dict[str, Any]:
    """Ask one system every missing prompt; store each answer (and its request) as it arrives."""
    temperature, params = request_params(decode)
    options = {"base_url": api.base_url, "temperature": temperature, **params}
    asks = [api_pool.Ask(k, messages_for(it)) for k, it in missing.items()]
    errors: list[str] = []

    def stored(answers: list[api_pool.Answer]) -> None:
        rows = [{"prompt_key": a.key, "prompt": missing[a.key]["prompt"], "system_prompt": missing[a.key].get("system"),
                 "model_system": api.id, "base_model": api.identity, "decode_key": dk, "decode": decode,
                 "output": (a.text or "").strip(), "finish_reason": a.finish_reason or ("error" if a.error else None),
                 "error": a.error, "duration_ms": a.last.duration_ms if a.last else None}
                for a in answers if not a.fatal]   # a refused key is no answer to keep
        with db.transaction() as cur:   # the answers that arrived together, in one transaction
            store.insert_requests([api_pool.request_row(a, "answer", api.id, api.model, options,
                                                        a.last.messages if a.last else []) for a in answers], cur=cur)
            store.insert_generations(rows, cur=cur)
        for a in answers:
            counts["done"] += 1
            counts["failed" if a.error else "generated"] += 1
            if a.error:
                errors.append(a.error)
            if progress:
                progress(counts["done"], total, api.label)

    result = api_pool.run(client, api.model, asks, stored, temperature=temperature, params=params,
                          concurrency=concurrency, settings=settings, stop=stop)
    return {**result, "errors": errors}
