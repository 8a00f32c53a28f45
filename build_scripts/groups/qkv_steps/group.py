"""Generated files of the Q/K/V steps widget and the facts the prose quotes.

``docs/generated/qkv-steps/``: ``<sentence>-layer-<1..L>.json`` (every number of one sentence and
layer, all heads; the widget fetches one when it is chosen), ``index.json`` (sentences, files and
the default view), ``spec.json`` (the chart compiled to Vega; it picks a view out of the layer file
the widget routes in, see :func:`build_scripts.groups.qkv_steps.charts.with_picking`; ``spec-narrow.json``: the same
steps stacked, drawn where the column is narrower than its ``usermeta.narrow_below``), ``default.svg`` (the default view for readers without
JavaScript), ``facts.json`` (the default view's readout and table, as the spec computes them).

The sentences are those of ``[roles.qkv-steps]`` in ``sentences.toml``; the default view is the
head view's featured head (``[roles.featured]``, chosen from the weights by
:func:`build_scripts.pipeline.payloads.featured_head`) on the first of them.
"""

from __future__ import annotations

import math

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import CONFIG_FILE, encoded, model_extra
from build_scripts.pipeline.registry import Group


def build(ctx) -> dict[str, bytes]:
    from build_scripts.pipeline.render import narrow_file, stable_svg, to_vega, with_meta

    from . import charts as qkv
    from .measure import layer_payload, query_token

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
            p = layer_payload(s, r, layer)  # asserts softmax(scaled) == the encoder's weights
            payloads[s.id, layer] = p
            name = f"{s.id}-layer-{layer + 1}.json"
            names[s.id].append(name)
            files[name] = dumps(p).encode()
    ctx.log(f"{len(files)} data files; softmax(q·k/√D) matches the encoder's weights in every layer")

    first, result = chosen[0]
    query = query_token(first, result)
    default = {"sentence": first.id, "layer": featured["layer"], "head": featured["head"], "query": query}
    payload = payloads[first.id, default["layer"]]
    head_dim = payload["head_dim"]
    qk_domain = qkv.half_range([r.q for _, r in chosen] + [r.k for _, r in chosen])
    v_domain = qkv.half_range([r.v for _, r in chosen])
    ctx.log("compiling the chart to Vega and rendering the fallback SVG")
    for narrow in (False, True):
        vega = to_vega(qkv.qkv_chart(head_dim, qk_domain, v_domain, narrow=narrow))
        empty = qkv.with_picking(vega, None, default["head"], query)  # the widget routes data in
        if narrow:
            files |= narrow_file(empty, qkv.NARROW_BELOW, "qkv-steps")
        else:
            files["spec.json"] = dumps(with_meta(empty, "qkv-steps")).encode()
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
        "sentences": [{"id": s.id, "title": s.title, "query": query_token(s, r)} for s, r in chosen],
        "files": names,
        "default": default,
        "layers": int(layers),
        "heads": int(heads),
        "head_dim": head_dim,
    }).encode()
    return files


GROUP = Group("qkv-steps", module=__name__, build=build, files=[CONFIG_FILE], extra=model_extra)
