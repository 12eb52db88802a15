"""Sample lengths in characters or tokens, and the warnings a trainer would otherwise keep silent.

ChatGLM's P-Tuning script truncates prompts beyond ``max_source_length`` and answers beyond
``max_target_length`` without a word; these functions say which samples that would hit before export.
Without a tokenizer, lengths are characters (close to tokens for CJK character vocabularies).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.errors import InputError
from studio.core.formats import user_text
from studio.core.i18n import _


def load_tokenizer(folder: str | Path):
    """A local tokenizer folder loaded with AutoTokenizer (no download, no remote code)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputError(_("{path} is not a tokenizer folder").format(path=path))
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception:  # noqa: BLE001 - transformers raises many kinds; the user needs one line
        raise InputError(_("{path}: no tokenizer can be loaded from this folder (it needs tokenizer.json or "
                           "tokenizer_config.json and its vocabulary files)").format(path=path)) from None


def measure(samples: list[dict[str, Any]], tokenizer=None) -> list[tuple[int, int]]:
    """(source length, target length) per sample; the source is the user turn plus the history."""
    sources = []
    for s in samples:
        turns = [q + a for q, a in (s.get("history") or [])]
        sources.append("".join(turns) + user_text(s.get("instruction", ""), s.get("input", "")))
    targets = [s.get("output") or "" for s in samples]
    if tokenizer is None:
        return [(len(a), len(b)) for a, b in zip(sources, targets)]
    out = []
    for start in range(0, len(samples), 1000):
        src = tokenizer(sources[start:start + 1000], add_special_tokens=False)["input_ids"]
        tgt = tokenizer(targets[start:start + 1000], add_special_tokens=False)["input_ids"]
        out += [(len(a), len(b)) for a, b in zip(src, tgt)]
    return out


def warnings(samples: list[dict[str, Any]], max_source_length: int | None = None,
             max_target_length: int | None = None, tokenizer=None) -> list[str]:
    """One line per limit that some samples exceed (empty when none do or no limit is set)."""
    if not max_source_length and not max_target_length:
        return []
    lengths = measure(samples, tokenizer)
    out = []
    for idx, limit, name in ((0, max_source_length, "max_source_length"), (1, max_target_length, "max_target_length")):
        if not limit:
            continue
        over = [i for i, ln in enumerate(lengths) if ln[idx] > limit]
        if not over:
            continue
        args = {"n": len(over), "total": len(samples), "name": name, "limit": limit,
                "longest": max(lengths[i][idx] for i in over)}
        if idx == 0 and tokenizer is not None:
            text = _("{n} of {total} prompts are longer than {name}={limit} tokens (longest {longest}); the trainer "
                     "truncates them silently")
        elif idx == 0:
            text = _("{n} of {total} prompts are longer than {name}={limit} characters (longest {longest}); the "
                     "trainer truncates them silently")
        elif tokenizer is not None:
            text = _("{n} of {total} answers are longer than {name}={limit} tokens (longest {longest}); the trainer "
                     "truncates them silently")
        else:
            text = _("{n} of {total} answers are longer than {name}={limit} characters (longest {longest}); the "
                     "trainer truncates them silently")
        out.append(text.format(**args))
    return out


# ---- the Datasets page's charts

def token_lengths(dataset_id: int, tokenizer_dir: str, limit: int = 2000) -> dict[str, list[int]]:
    """Token counts of prompts and answers for up to ``limit`` rows, with a local tokenizer folder."""
    from store import samples as store

    tok = load_tokenizer(tokenizer_dir)
    rows = store.text_sample(dataset_id, limit)
    content = [user_text(r["instruction"], r["input"]) for r in rows]
    summary = [r["output"] for r in rows]
    def enc(texts):
        return [len(x) for x in tok(texts, add_special_tokens=False)["input_ids"]] if texts else []

    return {"content": enc(content), "summary": enc(summary)}


def charts(dataset: str, tokenizer_dir: str | None = None) -> dict[str, Any]:
    """Plotly figures, titles and axes in the current language: lengths in characters (and tokens with a
    tokenizer), type mix, origin mix."""
    import plotly.express as px
    import plotly.graph_objects as go

    from store import datasets as store_datasets
    from store import samples as store
    from studio.core.labels import label
    from studio.data.samples import origin_label

    ds = store_datasets.get(dataset)
    names = {"content": _("prompts (content)"), "summary": _("answers (summary)")}
    figs: dict[str, Any] = {}
    bins = store.length_histogram(ds["id"])
    fig = go.Figure()
    for name in store.LENGTHS:
        b = [x for x in bins if x["field"] == name]
        fig.add_bar(x=[(x["start"] + x["end"]) / 2 for x in b], y=[x["n"] for x in b], name=names[name],
                    width=[x["end"] - x["start"] for x in b], opacity=0.6)
    fig.update_layout(barmode="overlay", title=_("Lengths (characters)"), xaxis_title=_("characters"),
                      yaxis_title=_("samples"), height=320)
    figs["chars"] = fig
    if tokenizer_dir:
        t = token_lengths(ds["id"], tokenizer_dir)
        tf = go.Figure()
        for name, values in t.items():
            tf.add_histogram(x=values, name=names[name], opacity=0.6, nbinsx=40)
        tf.update_layout(barmode="overlay", title=_("Lengths (tokens, {n} rows sampled)").format(n=len(t["content"])),
                         xaxis_title=_("tokens"), yaxis_title=_("samples"), height=320)
        figs["tokens"] = tf
    facets = store.facets(ds["id"])
    shown = {"qtype": lambda v: _("no type") if v == store.NO_TYPE else label("qtype", v), "origin": origin_label}
    for key, title in (("qtype", _("Type mix")), ("origin", _("Origin mix"))):
        if facets[key]:
            figs[key] = px.pie(names=[shown[key](k) for k in facets[key]], values=list(facets[key].values()),
                               title=title, height=300)
    return figs
