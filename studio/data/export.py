"""Export a dataset or a snapshot in any registered format, with a card and a LLaMA-Factory entry.

Decisions:
- On the page the output folder is a name under ``STUDIO_EXPORTS``; a name that resolves outside it is
  refused. The CLI's ``--out DIR`` is a folder path as the shell user gives it (``confine=False``).
- An existing non-empty folder is never overwritten unless ``force`` (the page asks first); files are
  written into a temporary sibling and moved into place, so a failed export leaves nothing half-written.
- From a dataset, every sample except ``rejected`` ones is exported unless statuses are given; an
  optional train / validation split uses the snapshot split (seeded, stratified by type). A snapshot
  carries its own split.
- ``dataset_info.json`` holds one entry per split (``NAME`` and ``NAME_validation``) for the formats
  LLaMA-Factory reads (the ``history`` / ``tools`` columns only when some sample has them, since
  LLaMA-Factory looks a named column up in every example); ``README.md`` is the card (in English: it
  travels with the data): counts, origins, types, content hash, licence.
- Tool calling (a ``tools`` list, function-call / observation turns) goes out with ShareGPT and OpenAI
  messages; any other format writes such samples as plain turns and the result warns how many.
"""
from __future__ import annotations

import json
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exports import registry, tools
from store import datasets as store_datasets
from store import snapshots as store_snapshots
from studio.core import settings
from studio.core.errors import InputError
from studio.core.i18n import _, ngettext
from studio.data import lengths, snapshots

DEFAULT_STATUSES = ("draft", "pending", "accepted")
MAX_LENGTH = (0, 1_000_000)  # max_source_length / max_target_length (0 = no check)


def problem(val_ratio=None, seed=0, max_source_length=None, max_target_length=None) -> str | None:
    """Why these export settings cannot be used (the first reason), or None."""
    reasons = [snapshots.out_of_range(_("The validation share (`val_ratio`)"), val_ratio or 0, snapshots.VAL_RATIO),
               snapshots.out_of_range(_("The seed"), seed, snapshots.SEED, whole=True),
               snapshots.out_of_range("max_source_length", max_source_length or 0, MAX_LENGTH, whole=True),
               snapshots.out_of_range("max_target_length", max_target_length or 0, MAX_LENGTH, whole=True)]
    return next((r for r in reasons if r), None)


def exports_root() -> Path:
    """The folder every export goes under (``STUDIO_EXPORTS``)."""
    return settings.path("exports").resolve()


def target_folder(out: str | Path, *, confine: bool = True) -> Path:
    """The export folder for a name; with ``confine`` refuses anything outside ``STUDIO_EXPORTS``."""
    text = str(out or "").strip()
    if not text:
        raise InputError(_("Name the export folder"))
    if not confine:
        return Path(text).expanduser().resolve()
    root = exports_root()
    path = Path(text).expanduser()
    full = (path if path.is_absolute() else root / path).resolve()
    if full == root or root not in full.parents:
        raise InputError(_("{name}: export names must stay inside the export folder {root} (STUDIO_EXPORTS)").format(
            name=text, root=root))
    return full


def exists(out: str | Path, *, confine: bool = True) -> bool:
    """True when the export folder already holds files (exporting there needs ``force``)."""
    p = target_folder(out, confine=confine)
    return p.exists() and any(p.iterdir())


def _rows(dataset: str | None, snapshot: str | None, statuses, val_ratio, seed) -> tuple[dict, dict]:
    if bool(dataset) == bool(snapshot):
        raise InputError(_("Export either a dataset or a snapshot"))
    if snapshot:
        if val_ratio:
            raise InputError(_("A snapshot carries its own train / validation split; leave the ratio out"))
        meta = snapshots.get(snapshot)
        rows = snapshots.samples(meta["id"])
        ds = store_datasets.find(meta["dataset"]) if meta.get("dataset") else None
        source = {"kind": "snapshot", "snapshot": meta["id"], "dataset": meta.get("dataset"),
                  "content_hash": meta["content_hash"], "licence": (ds or {}).get("licence")}
    else:
        ds = store_datasets.get(dataset)
        if ds["kind"] != "samples":
            raise InputError(_("Dataset {name} holds no training samples (it is an exam bank or a corpus); convert "
                               "or generate samples first").format(name=dataset))
        statuses = tuple(statuses or DEFAULT_STATUSES)
        rows = [snapshots._canonical(r) for r in store_snapshots.dataset_samples(ds["id"], statuses)]
        if not rows:
            raise InputError(_("Dataset {name} has no samples with status {statuses}").format(
                name=dataset, statuses=", ".join(statuses)))
        if val_ratio:
            rows = snapshots.split(rows, float(val_ratio), int(seed))
        else:
            rows = [{**r, "split": "train", "ord": i} for i, r in enumerate(rows)]
        source = {"kind": "dataset", "dataset": dataset, "statuses": list(statuses),
                  "content_hash": snapshots.content_hash(rows), "licence": ds.get("licence")}
    splits: dict[str, list] = {"train": [], "validation": []}
    for r in rows:
        splits[r["split"]].append(snapshots.record(r))
    if not splits["validation"]:
        del splits["validation"]
    return splits, source


def _safe_name(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_\-\u4e00-\u9fff]+", "_", text).strip("_") or "studio_export"


def _dataset_info(fmt: registry.Format, name: str, files: dict[str, str], splits: dict) -> dict[str, Any]:
    if fmt.llama_factory is None:
        return {}
    entry = json.loads(json.dumps(fmt.llama_factory))
    everything = [r for rows in splits.values() for r in rows]
    columns = entry.setdefault("columns", {})
    if fmt.name == "chatglm" and not any(r.get("history") for r in everything):
        columns.pop("history", None)  # the files have no history key then: LLaMA-Factory would look it up
    if fmt.name == "sharegpt" and any(r.get("tools") for r in everything):
        columns["tools"] = "tools"
    out = {}
    for split, file_name in files.items():
        key = name if split == "train" else f"{name}_{split}"
        out[key] = {"file_name": file_name, **json.loads(json.dumps(entry))}
    return out


def tool_warning(format: str, *, dataset: str | None = None, snapshot: str | None = None) -> str | None:
    """Before an export: what the format would lose of the source's tool calling (None when nothing)."""
    if snapshot:
        n = store_snapshots.count_with_tools(snapshot_id=snapshots.resolve(snapshot))
    else:
        n = store_snapshots.count_with_tools(dataset_id=store_datasets.get(dataset)["id"])
    fmt = _format(format)
    if not n or fmt.tools:
        found = _tool_warnings(fmt, {}, n)
        return found[0] if found else None
    return ngettext("{n} sample calls tools, which {format} cannot carry: it would be written as plain turns; "
                    "export ShareGPT or OpenAI messages to keep them",
                    "{n} samples call tools, which {format} cannot carry: they would be written as plain turns; "
                    "export ShareGPT or OpenAI messages to keep them", n).format(n=n, format=_(fmt.label))


def _tool_warnings(fmt: registry.Format, splits: dict, n: int | None = None) -> list[str]:
    """How many samples lose their tool calling in a format that cannot carry it."""
    if n is None:
        n = sum(1 for rows in splits.values() for r in rows if tools.has_tools(r))
    if not n:
        return []
    if fmt.name == "messages":
        return [ngettext("{n} sample calls tools: OpenAI and TRL read its tool_calls, but LLaMA-Factory's entry in "
                         "dataset_info.json does not; export ShareGPT for LLaMA-Factory",
                         "{n} samples call tools: OpenAI and TRL read their tool_calls, but LLaMA-Factory's entry in "
                         "dataset_info.json does not; export ShareGPT for LLaMA-Factory", n).format(n=n)]
    if fmt.tools:
        return []
    return [ngettext("{n} sample lost its tool calls: {format} cannot carry a tools list or function_call / "
                     "observation turns, so they are written as plain turns; export ShareGPT or OpenAI messages "
                     "to keep them",
                     "{n} samples lost their tool calls: {format} cannot carry a tools list or function_call / "
                     "observation turns, so they are written as plain turns; export ShareGPT or OpenAI messages "
                     "to keep them", n).format(n=n, format=_(fmt.label))]


def _card(fmt: registry.Format, name: str, splits: dict, source: dict, files: list[str], info: dict,
          warnings: list[str]) -> str:
    everything = [r for rows in splits.values() for r in rows]
    origins = Counter(r["origin"] or "unknown" for r in everything)
    types = Counter(r["qtype"] or "none" for r in everything)
    lines = [f"# {name}", "",
             f"Exported by the studio as **{fmt.label}**.", "",
             "| | |", "| --- | --- |",
             *(f"| {k} samples | {len(v)} |" for k, v in splits.items()),
             f"| source | {source['kind']} `{source.get('snapshot') or source.get('dataset')}` |"]
    if source.get("snapshot"):
        lines.append(f"| snapshot | `{source['snapshot']}` |")
    lines += [f"| content hash (sha256) | `{source['content_hash']}` |",
              f"| licence | {source.get('licence') or 'not stated — set one before sharing'} |", "",
              "## Origins", "", *(f"- {k}: {v}" for k, v in origins.most_common()), "",
              "## Types", "", *(f"- {k}: {v}" for k, v in types.most_common()), "",
              "## Files", "", *(f"- `{f}`" for f in files), "", "## Reading it", "", fmt.note, ""]
    if fmt.loader:
        lines += ["```python", "import datasets",
                  f"ds = datasets.load_dataset({fmt.loader!r}, data_files="
                  + repr({k: f"{k}{fmt.suffix}" for k in splits}) + ")", "```", ""]
    elif fmt.name == "hf":
        lines += ["```python", "import datasets", "ds = datasets.load_from_disk('.')", "```", ""]
    if info:
        lines += ["`dataset_info.json` here is a LLaMA-Factory registry: point `--dataset_dir` at this folder "
                  f"and use `--dataset {name}`" + (f" (`--eval_dataset {name}_validation`)" if len(info) > 1 else "")
                  + ".", ""]
    if warnings:
        lines += ["## Warnings", "", *(f"- {w}" for w in warnings), ""]
    return "\n".join(lines)


def export(*, format: str, out: str | Path, dataset: str | None = None, snapshot: str | None = None,
           val_ratio: float | None = None, seed: int = 0, statuses=None, force: bool = False,
           max_source_length: int | None = None, max_target_length: int | None = None,
           tokenizer_dir: str | None = None, confine: bool = True,
           progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Write an export; returns {"train", "validation", "files", "out", "format", "warnings", ...}.

    ``progress(done, total, stage)`` is called between the stages (a job's progress; it may raise to stop,
    and then nothing is left behind)."""
    progress = progress or (lambda done, total, stage: None)
    fmt = _format(format)
    reason = problem(val_ratio, seed, max_source_length, max_target_length)
    if reason:
        raise InputError(reason)
    target = target_folder(out, confine=confine)
    if target.exists() and not target.is_dir():
        raise InputError(_("{path} exists and is not a folder").format(path=target))
    if target.exists() and any(target.iterdir()) and not force:
        raise InputError(_("{path}: the export folder already exists; choose another name or overwrite it "
                           "(--force / the confirmation on the page)").format(path=target))
    progress(0, 3, _("reading the samples"))
    splits, source = _rows(dataset, snapshot, statuses, val_ratio, seed)
    progress(1, 3, _("checking lengths"))
    tokenizer = lengths.load_tokenizer(tokenizer_dir) if tokenizer_dir else None
    warns = lengths.warnings([r for rows in splits.values() for r in rows], max_source_length,
                             max_target_length, tokenizer) + _format_warnings(fmt, splits)
    name = _safe_name(target.name)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        progress(2, 3, _("writing {format}").format(format=_(fmt.label)))
        written = fmt.write(splits, tmp)
        split_files = {k: f"{k}{fmt.suffix}" for k in splits} if fmt.suffix and fmt.name != "xlsx" else {}
        info = _dataset_info(fmt, name, split_files, splits)
        files = sorted(str(Path(p).relative_to(tmp)) for p in written)
        if info:
            (tmp / "dataset_info.json").write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n",
                                                   encoding="utf-8")
            files.append("dataset_info.json")
        (tmp / "README.md").write_text(_card(fmt, name, splits, source, files, info, warns), encoding="utf-8")
        files.append("README.md")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"train": len(splits.get("train", [])), "validation": len(splits.get("validation", [])),
            "files": [str(target / f) for f in files], "out": str(target), "format": format,
            "content_hash": source["content_hash"], "snapshot": source.get("snapshot"), "warnings": warns}


def _format(name: str) -> registry.Format:
    try:
        return registry.get(name)
    except ValueError:
        raise InputError(_("Unknown export format {name}; choose one of {choices}").format(
            name=name, choices=", ".join(registry.FORMATS))) from None


def _format_warnings(fmt: registry.Format, splits: dict) -> list[str]:
    """What the format cannot carry: system prompts (ChatGLM), long cells (Excel), tool calls."""
    warns = _tool_warnings(fmt, splits)
    if fmt.name == "chatglm":
        n_system = sum(1 for rows in splits.values() for r in rows if r["system"])
        if n_system:
            warns.append(ngettext("{n} sample has a system prompt, which content/summary cannot carry",
                                  "{n} samples have a system prompt, which content/summary cannot carry",
                                  n_system).format(n=n_system))
    if fmt.name == "xlsx":
        n_long = sum(1 for rows in splits.values() for r in rows
                     if max(len(r[k]) for k in ("instruction", "input", "output")) > 32767)
        if n_long:
            warns.append(ngettext("{n} sample has a cell over Excel's 32,767 characters; Excel will cut it",
                                  "{n} samples have a cell over Excel's 32,767 characters; Excel will cut them",
                                  n_long).format(n=n_long))
    return warns


def formats() -> dict[str, str]:
    """Format name -> label in the current language, in menu order (from the exports registry)."""
    return {name: _(f.label) for name, f in registry.FORMATS.items()}


def format_note(name: str) -> str:
    """How the trainer reads a format (shown beside the menu), in the current language."""
    return _(_format(name).note)


def zip_folder(folder: str | Path) -> bytes:
    """An export folder as zip bytes, for a browser download (the page's "Download .zip")."""
    import io
    import zipfile

    folder = Path(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f"{folder.name}/{f.relative_to(folder).as_posix()}")
    return buf.getvalue()
