"""Generated files of the Q/K/V steps widget and the facts the prose quotes.

``docs/generated/qkv-steps/``: ``<sentence>-layer-<1..L>.json`` (every number of one sentence and
layer, all heads; the widget fetches one when it is chosen), ``index.json`` (sentences, files and
the default view), ``spec.json`` (the chart compiled to Vega; it picks a view out of the layer file
the widget routes in, see :func:`build_scripts.qkv.with_picking`; ``spec-narrow.json``: the same
steps stacked, for narrow screens), ``default.svg`` (the default view for readers without
JavaScript), ``facts.json`` (the default view's readout and table, as the spec computes them).

The sentences are those of ``[roles.qkv-steps]`` in ``sentences.toml``; the default view is the
head view's featured head (``[roles.featured]``, chosen from the weights by
:func:`build_scripts.headview.featured_head`) on the first of them.
"""

from __future__ import annotations

import math

import numpy as np
import vl_convert as vlc

from . import qkv
from .artifacts import Group, dumps, stable_svg
from .encoded import CONFIG_FILE, encoded, model_extra


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


def build(ctx) -> dict[str, bytes]:
    enc = encoded(ctx)
    chosen = [(enc.config.by_id(i), enc.results[i]) for i in enc.config.role_ids("qkv-steps")]
    featured = enc.featured()
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
    ctx.log(f"{len(files)} data files; softmax(q·k/√D) matches the encoder's weights in every layer")

    first, result = chosen[0]
    query = _query_token(first, result)
    default = {"sentence": first.id, "layer": featured["layer"], "head": featured["head"], "query": query}
    payload = payloads[first.id, default["layer"]]
    head_dim = payload["head_dim"]
    qk_domain = _half_range([r.q for _, r in chosen] + [r.k for _, r in chosen])
    v_domain = _half_range([r.v for _, r in chosen])
    ctx.log("compiling the chart to Vega and rendering the fallback SVG")
    for name, narrow in (("spec.json", False), ("spec-narrow.json", True)):
        vega = vlc.vegalite_to_vega(qkv.qkv_chart(head_dim, qk_domain, v_domain, narrow=narrow).to_dict())
        files[name] = dumps(qkv.with_picking(vega, None, default["head"], query)).encode()  # the widget routes data in
        if not narrow:
            filled = qkv.with_picking(vega, payload, default["head"], query)
            files["default.svg"] = stable_svg(filled, vega=True).encode()
            readout, table = qkv.evaluate(filled)  # what the spec computes for the default view

    top = max(table, key=lambda r: r[3])
    files["facts.json"] = dumps({
        "default": {"sentence": first.id, "layer_1based": default["layer"] + 1, "head_1based": default["head"] + 1,
                    "query": first.query, "head_dim": head_dim, "sqrt_d": round(math.sqrt(head_dim), 3),
                    "top": dict(zip(("word", "raw", "scaled", "weight"), top)),
                    "tokens": len(payload["tokens"]), "uniform": round(1 / len(payload["tokens"]), 3)},
        "default_readout": readout,
        "default_table": table,
        "colour_half_range": {"qk": qk_domain, "v": v_domain},
    }).encode()
    files["index.json"] = dumps({
        "sentences": [{"id": s.id, "title": s.title, "query": _query_token(s, r)} for s, r in chosen],
        "files": names,
        "default": default,
        "layers": int(layers),
        "heads": int(heads),
        "head_dim": head_dim,
        "narrow_below": qkv.NARROW_BELOW,
    }).encode()
    return files


GROUPS = [Group("qkv-steps", module=__name__, build=build, files=[CONFIG_FILE], extra=model_extra)]
