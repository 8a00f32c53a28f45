"""Generated files of the Q/K/V steps widget and of the all-heads grid, and the facts the prose quotes.

``docs/generated/qkv-steps/``: ``<sentence>-layer-<1..L>.json`` (every number of one sentence and
layer, all heads; the widget fetches one when it is chosen), ``index.json`` (sentences, files and
the default view), ``spec.json`` (the chart compiled to Vega with the default view's data),
``default.svg`` (the same view for readers without JavaScript), ``facts.json``.

``docs/generated/head-grid/``: ``spec.json`` (every layer × head of one sentence in one chart),
``default.svg``, ``index.json`` (sentence and default cell), ``facts.json`` (per-layer summary).

The default view is the head view's featured head (the head sending most of "it"'s attention to
"cat", chosen from the weights by :func:`build_scripts.headview.featured_head`).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import headgrid as hg
from . import headview as hv
from . import qkv
from .build import ROOT, code_version, dumps, versions
from .config import CONFIG, ConfigError, check_token_counts, load_sentences

QKV_SENTENCES = ("cat-mat", "bank-river")  # the sentences of the Q/K/V widget, the first is its default
GRID_SENTENCE = "cat-mat"

_ENCODER = [ROOT / "attn_jax" / f"{n}.py"
            for n in ("attention", "projections", "model", "tokenize", "encoder", "words")]
_COMMON = [ROOT / "build_scripts" / f"{n}.py" for n in ("headview", "qkv_build", "config", "build")]
QKV_SOURCES = _ENCODER + _COMMON + [ROOT / "build_scripts" / "qkv.py"]
GRID_SOURCES = _ENCODER + _COMMON + [ROOT / "build_scripts" / "headgrid.py"]


def _inputs(sources: list[Path]) -> dict:
    from attn_jax.model import PRETRAINED_SHA256

    return {
        "config": {"path": str(CONFIG.relative_to(ROOT)), "sha256": code_version([CONFIG])},
        "model_sha256": PRETRAINED_SHA256["model.safetensors"],
        "code_version": code_version(sources),
        "versions": versions("jax", "jaxlib", "altair", "vl-convert-python", "tokenizers"),
    }


def qkv_inputs() -> dict:
    return _inputs(QKV_SOURCES)


def grid_inputs() -> dict:
    return _inputs(GRID_SOURCES)


@lru_cache(maxsize=1)
def _run(ids: tuple[str, ...]):
    """Load the model and run the chosen sentences once per process (both groups share it)."""
    from attn_jax import Encoder

    by_id = {s.id: s for s in load_sentences()}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ConfigError(f"{CONFIG}: the Q/K/V and head-grid widgets need sentences with ids {missing}; add them back")
    sentences = [by_id[i] for i in ids]
    encoder = Encoder.load()
    check_token_counts(sentences, [len(t.ids) for t in encoder.tokenize([s.text for s in sentences])])
    return sentences, encoder.run([s.text for s in sentences])


def _featured(sentence, result) -> dict:
    """The head view's featured head, recomputed the same way (from the first sentence's query/expect)."""
    if not (sentence.query and sentence.expect):
        raise ConfigError(f"{CONFIG}: sentence {sentence.id!r} needs query and expect to choose the featured head")
    return hv.featured_head(hv.sentence_payload(sentence, result), sentence.query, sentence.expect)


def _query_token(sentence, result) -> int:
    """The token index of the sentence's query word (its first WordPiece; default: the first word)."""
    from attn_jax.words import align_words

    al = align_words(result.tokenized)
    word = al.words.index(sentence.query) if sentence.query else al.special.index(False)
    return al.token_word.index(word)


def _half_range(arrays, q: float = 99.0) -> float:
    """A colour scale half-range covering ``q``% of the absolute values, rounded up to 0.5."""
    values = np.abs(np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays]))
    return math.ceil(float(np.percentile(values, q)) * 2) / 2


def stable_svg(spec: dict) -> str:
    """``vl_convert.vegalite_to_svg``, with its ids (``gradient_2``) renumbered from 0 per document.

    vl-convert numbers gradients with a counter that lives as long as the process, so the same chart
    would get other ids after other charts were rendered first (a partial rebuild, a test run).
    """
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(spec)
    mapping: dict[str, str] = {}
    counts: dict[str, int] = {}
    for prefix, number in re.findall(r'id="([A-Za-z]+_)(\d+)"', svg):
        if prefix + number not in mapping:
            mapping[prefix + number] = f"{prefix}{counts.get(prefix, 0)}"
            counts[prefix] = counts.get(prefix, 0) + 1
    return re.sub(r"\b[A-Za-z]+_\d+\b", lambda m: mapping.get(m.group(), m.group()), svg)


def _all_ids() -> tuple[str, ...]:
    return tuple(dict.fromkeys(QKV_SENTENCES + (GRID_SENTENCE,)))


def qkv_build(out_dir: Path, log) -> dict[str, bytes]:
    import vl_convert as vlc

    log("loading the model and running the sentences (one batch)")
    sentences, results = _run(_all_ids())
    by_id = dict(zip((s.id for s in sentences), zip(sentences, results)))
    chosen = [by_id[i] for i in QKV_SENTENCES]
    featured = _featured(*chosen[0])
    layers, heads = chosen[0][1].attentions.shape[:2]
    files: dict[str, bytes] = {}
    names: dict[str, list[str]] = {}
    payloads = {}
    for s, r in chosen:
        names[s.id] = []
        for layer in range(layers):
            p = qkv.layer_payload(s, r, layer)  # asserts softmax(scaled) == the encoder's weights
            payloads[s.id, layer] = p
            name = f"{s.id}-layer-{layer + 1}.json"
            names[s.id].append(name)
            files[name] = dumps(p).encode()
    log(f"{len(files)} data files; softmax(q·k/√D) matches the encoder's weights in every layer")

    first, result = chosen[0]
    query = _query_token(first, result)
    default = {"sentence": first.id, "layer": featured["layer"], "head": featured["head"], "query": query}
    payload = payloads[first.id, default["layer"]]
    tables = qkv.view_tables(payload, default["head"], query)
    head_dim = payload["head_dim"]
    qk_domain = _half_range([r.q for _, r in chosen] + [r.k for _, r in chosen])
    v_domain = _half_range([r.v for _, r in chosen])
    spec = qkv.qkv_chart(tables, head_dim, qk_domain, v_domain).to_dict()
    log("compiling the chart to Vega and rendering the fallback SVG")
    files["spec.json"] = dumps(vlc.vegalite_to_vega(spec)).encode()
    files["default.svg"] = stable_svg(spec).encode()

    top = max(tables["scores"], key=lambda r: (r["weight"], -r["index"]))
    files["facts.json"] = dumps({
        "default": {"sentence": first.id, "layer_1based": default["layer"] + 1, "head_1based": default["head"] + 1,
                    "query": first.query, "head_dim": head_dim, "sqrt_d": round(math.sqrt(head_dim), 3),
                    "top": {k: top[k] for k in ("word", "raw", "scaled", "weight")},
                    "tokens": len(payload["tokens"]), "uniform": round(1 / len(payload["tokens"]), 3)},
        "default_readout": qkv.readout(tables["scores"], default["layer"], default["head"], head_dim),
        "default_table": qkv.table_rows(tables["scores"]),
        "colour_half_range": {"qk": qk_domain, "v": v_domain},
    }).encode()
    files["index.json"] = dumps({
        "sentences": [{"id": s.id, "title": s.title, "query": _query_token(s, r)} for s, r in chosen],
        "files": names,
        "default": default,
        "layers": int(layers),
        "heads": int(heads),
        "head_dim": head_dim,
    }).encode()
    return files


def grid_build(out_dir: Path, log) -> dict[str, bytes]:
    import vl_convert as vlc

    from attn_jax.words import align_words, word_attention

    log("loading the model and running the sentences (one batch)")
    sentences, results = _run(_all_ids())
    by_id = dict(zip((s.id for s in sentences), zip(sentences, results)))
    sentence, result = by_id[GRID_SENTENCE]
    featured = _featured(sentence, result)  # the cell selected at first = the head view's default head
    al = align_words(result.tokenized)
    att = word_attention(result.attentions, al)  # [L, H, w, w]
    layers, heads, n = att.shape[0], att.shape[1], att.shape[-1]
    rows = hg.grid_rows(att, al.special)
    selected = {"layer": featured["layer"], "head": featured["head"], "n": n}
    spec = hg.head_grid_chart(rows, list(al.words), selected, layers, heads).to_dict()
    log("compiling the chart to Vega and rendering the fallback SVG")
    summary = hg.layer_summary(rows)
    row = next(r for r in rows if r["layer"] == selected["layer"] and r["head"] == selected["head"])
    return {
        "spec.json": dumps(vlc.vegalite_to_vega(spec)).encode(),
        "default.svg": stable_svg(spec).encode(),
        "index.json": dumps({"sentence": sentence.id, "layers": int(layers), "heads": int(heads),
                             "default": {"layer": selected["layer"], "head": selected["head"]}}).encode(),
        "facts.json": dumps({
            "sentence": {"id": sentence.id, "text": sentence.text, "words": len(al.words)},
            "summary": [{**s, "layer_1based": s["layer"] + 1, "sink_head_1based": s["sink_head"] + 1,
                         "focused_head_1based": s["focused_head"] + 1} for s in summary],
            "summary_lines": hg.summary_lines(summary),
            "default_readout": hg.cell_readout(row),
            "maps": int(layers * heads),
        }).encode(),
    }
