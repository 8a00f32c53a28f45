"""The Q/K/V steps' chart: the five steps of one head for one query token, picked in the spec.

An Altair chart compiled to a Vega spec that picks one view (head, query token) out of a routed
(sentence, layer) payload (:func:`build_scripts.groups.qkv_steps.measure.layer_payload`) by its own
transforms and signals (:func:`with_picking`). The browser widget (``docs/assets/js/qkv-steps.js``)
only routes payloads in and reads back what the spec computed; the build does the same through
vl-convert (:func:`evaluate`). Neither computes a score.

Axis legend: L layers, H heads, T query tokens, S key tokens (T = S = n here), D head dim.
Layers and heads are numbered from 1 in everything a reader sees and from 0 in arrays.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np

CELL_W, ROW_H = 4, 16  # px per vector component, px per token row
BAR_W = 80  # px width of each bar chart
SCHEME = "blueorange"  # diverging: negative blue, positive orange, 0 pale
NARROW_BELOW = 600  # px: below this widget width, the widget draws the stacked chart (``narrow=True``)


def half_range(arrays, q: float = 99.0) -> float:
    """A colour scale half-range covering ``q``% of the absolute values, rounded up to 0.5."""
    values = np.abs(np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays]))
    return math.ceil(float(np.percentile(values, q)) * 2) / 2


# --- one view: picked inside the Vega spec ---------------------------------------------------------
#
# The chart is drawn from five data sets (q, k, scores, v, out). The spec computes them itself from
# one routed data set, ``layer`` (one row per head: that head's q, k, v, out, raw, scaled, weights
# arrays), and the signals ``head``, ``query``, ``tokens``, ``layer_index`` and ``head_dim``: see
# :func:`with_picking`. The widget (``docs/assets/js/qkv-steps.js``) only routes a layer's file into
# it and reads back the readout signal and the ``scores`` rows for its table; the build reads the
# same through vl-convert (:func:`evaluate`) for readers without JavaScript.

DATASETS = ("q", "k", "scores", "v", "out")


def row_key(index: int, label: str, query: bool = False) -> str:
    """Unique, sortable y value of a token row (``"07|it|q"``); the axis shows only the label."""
    return f"{index:02d}|{label}" + ("|q" if query else "")


LABEL_EXPR = "split(datum.value, '|')[1]"
BOLD_EXPR = "length(split(datum.value, '|')) > 2 ? 'bold' : 'normal'"
_KEY = "(datum.i < 10 ? '0' : '') + datum.i + '|' + tokens[datum.i] + (datum.i === query ? '|q' : '')"  # = row_key
_HEAD = {"type": "filter", "expr": "datum.head === head"}


def _derived(name: str) -> list[dict]:
    """The Vega transforms that pick data set ``name`` out of ``layer``."""
    # Vega's formula writes into the routed tuples, which every pipeline shares: each one writes
    # fields of its own (``q_pick``, ...) and never overwrites the routed arrays.
    query_vector = lambda field, row, word: [  # noqa: E731
        _HEAD, {"type": "formula", "as": f"{field}_pick", "expr": f"datum.{field}[query]"},
        {"type": "flatten", "fields": [f"{field}_pick"], "index": "dim", "as": ["value"]},
        {"type": "formula", "as": "row", "expr": row}, {"type": "formula", "as": "word", "expr": word},
        {"type": "project", "fields": ["row", "word", "dim", "value"]}]
    per_token = lambda field, extra: [  # noqa: E731
        _HEAD, *([{"type": "formula", "as": "v_weights", "expr": "datum.weights[query]"}] if extra else []),
        {"type": "flatten", "fields": [field] + (["v_weights"] if extra else []), "index": "i",
         "as": ["vec"] + (["weight"] if extra else [])},
        {"type": "flatten", "fields": ["vec"], "index": "dim", "as": ["value"]},
        {"type": "formula", "as": "word", "expr": "tokens[datum.i]"}, {"type": "formula", "as": "row", "expr": _KEY},
        {"type": "project", "fields": ["row", "word", "dim", "value"] + (["weight"] if extra else [])}]
    if name == "q":
        return query_vector("q", "'q|q (' + tokens[query] + ')'", "tokens[query]")
    if name == "out":
        n = "length(tokens)"
        return query_vector("out", f"({n} < 10 ? '0' : '') + {n} + '|= output'", "'output'")
    if name in ("k", "v"):
        return per_token(name, extra=name == "v")
    assert name == "scores", name
    return [_HEAD] + [{"type": "formula", "as": f"{src}_pick", "expr": f"datum.{src}[query]"}
                      for src in ("raw", "scaled", "weights")] + [
        {"type": "flatten", "fields": ["raw_pick", "scaled_pick", "weights_pick"], "index": "index",
         "as": ["raw", "scaled", "weight"]},
        {"type": "formula", "as": "i", "expr": "datum.index"},
        {"type": "formula", "as": "word", "expr": "tokens[datum.index]"},
        {"type": "formula", "as": "query", "expr": "datum.index === query"},
        {"type": "formula", "as": "row", "expr": _KEY},
        {"type": "project", "fields": ["row", "word", "index", "query", "raw", "scaled", "weight"]}]


READOUT = ("length(data('top')) ? 'Layer ' + (layer_index + 1) + ', head ' + (head + 1) + \", query '\" + tokens[query] + "
           "\"': the largest weight goes to '\" + data('top')[0].word + \"': q · k = \" + format(data('top')[0].raw, '.3f') + "
           "', ÷ √' + head_dim + ' = ' + format(data('top')[0].scaled, '.3f') + ', softmax = ' + "
           "format(data('top')[0].weight, '.3f') + '.' : ''")


def layer_rows(payload: dict) -> list[dict]:
    """The ``layer`` data set of one (sentence, layer) payload: one row per head."""
    return [{"head": h, **{f: payload[f][h] for f in ("q", "k", "v", "out", "raw", "scaled", "weights")}}
            for h in range(len(payload["q"]))]


def with_picking(vega: dict, payload: dict | None, head: int, query: int) -> dict:
    """The compiled chart with its five data sets computed from ``layer`` (see the comment above).

    ``payload``: the (sentence, layer) payload routed in (None: empty, the widget routes it).
    """
    spec = dict(vega)
    data = [d for d in spec["data"] if d["name"] not in DATASETS]
    picked = [{"name": n, "source": "layer", "transform": _derived(n)} for n in DATASETS]
    top = {"name": "top", "source": "scores", "transform": [
        {"type": "window", "sort": {"field": ["weight", "index"], "order": ["descending", "ascending"]},
         "ops": ["row_number"], "as": ["rank"]}, {"type": "filter", "expr": "datum.rank === 1"}]}
    layer = {"name": "layer", "values": layer_rows(payload) if payload else []}
    spec["data"] = [layer, *picked, top, *data]
    spec["signals"] = [
        {"name": "head", "value": head}, {"name": "query", "value": query},
        {"name": "tokens", "value": payload["tokens"] if payload else []},
        {"name": "layer_index", "value": payload["layer"] if payload else 0},
        {"name": "head_dim", "value": payload["head_dim"] if payload else 0},
        {"name": "readout", "update": READOUT},
    ] + spec.get("signals", [])
    return spec


def evaluate(spec: dict) -> tuple[str, list[list]]:
    """The readout and the table (``[word, raw, scaled, weight]`` per key token) that ``spec``
    computes for its routed data, as vl-convert's Vega computes them (the widget shows the same)."""
    import json

    import vl_convert as vlc

    probe = dict(spec)
    probe["marks"] = [
        {"type": "text", "name": "probe_readout", "encode": {"update": {"text": {"signal": "readout"}}}},
        {"type": "text", "name": "probe_rows", "from": {"data": "scores"}, "sort": {"field": "datum.index"},
         "encode": {"update": {"text": {"signal": "[datum.index, datum.word, datum.raw, datum.scaled, datum.weight]"}}}},
    ]
    items = {m.get("name"): m["items"] for m in vlc.vega_to_scenegraph(probe)["scenegraph"]["items"][0]["items"]}
    rows = sorted(json.loads(it["text"]) if isinstance(it["text"], str) else it["text"] for it in items["probe_rows"])
    return items["probe_readout"][0]["text"], [r[1:] for r in rows]


# --- the chart ------------------------------------------------------------------------------------


def _heat(name: str, domain: float, title: str = "", legend: str | None = None, axis: bool = True):
    """A heatmap strip: one row per token (``row``), one column per component (``dim``)."""
    color = alt.Color("value:Q", scale=alt.Scale(scheme=SCHEME, domain=[-domain, domain], domainMid=0, clamp=True),
                      legend=alt.Legend(title=legend, orient="bottom", gradientLength=120) if legend else None)
    # aria=False: 13 x 32 rectangles per strip would flood a screen reader; the readout table has the numbers
    return alt.Chart(alt.NamedData(name), title=title).mark_rect(aria=False).encode(
        x=alt.X("dim:O", axis=alt.Axis(title="component (D)", labels=False, ticks=False) if axis else None),
        y=alt.Y("row:N", sort="ascending", title=None,
                axis=alt.Axis(labelExpr=LABEL_EXPR, labelFontWeight=alt.ExprRef(BOLD_EXPR), ticks=False,
                              domain=False, labelFontSize=12)),
        color=color,
        tooltip=[alt.Tooltip("word:N", title="token"), alt.Tooltip("dim:Q", title="component"),
                 alt.Tooltip("value:Q", format=".3f")],
    ).properties(width=alt.Step(CELL_W), height=alt.Step(ROW_H))


def _bars(field: str, title: str, fmt: str, domain=None, labels: bool = False):
    """Bars with their value as text, one per key token; the query's own row darker (``labels``:
    with the token names on the y axis, for the stacked layout)."""
    axis = alt.Axis(labelExpr=LABEL_EXPR, labelFontWeight=alt.ExprRef(BOLD_EXPR), ticks=False, domain=False,
                    labelFontSize=12, title=None) if labels else None
    base = alt.Chart(alt.NamedData("scores"), title=title).encode(
        y=alt.Y("row:N", sort="ascending", axis=axis),
        tooltip=[alt.Tooltip("word:N", title="key token"), alt.Tooltip("raw:Q", title="q · k", format=".3f"),
                 alt.Tooltip("scaled:Q", title="÷ √D", format=".3f"), alt.Tooltip("weight:Q", format=".3f")],
    )
    ticks = {"values": [0, 0.5, 1]} if domain == [0, 1] else {"tickCount": 3}  # padding widens the domain
    x = alt.X(f"{field}:Q", title=None, axis=alt.Axis(grid=False, labelFontSize=10, **ticks),
              scale=alt.Scale(domain=domain, padding=30, nice=False) if domain else alt.Scale(padding=30, zero=True))
    bars = base.mark_bar(height=ROW_H - 4).encode(
        x=x, color=alt.condition("datum.query", alt.value("#2f6f8f"), alt.value("#72a7c8")))
    text = alt.Text(f"{field}:Q", format=fmt)
    right = base.mark_text(align="left", dx=3, fontSize=10).encode(x=f"{field}:Q", text=text).transform_filter(
        f"datum.{field} >= 0")
    left = base.mark_text(align="right", dx=-3, fontSize=10).encode(x=f"{field}:Q", text=text).transform_filter(
        f"datum.{field} < 0")
    return alt.layer(bars, right, left).properties(width=BAR_W, height=alt.Step(ROW_H))


def qkv_chart(head_dim: int, qk_domain: float, v_domain: float, narrow: bool = False) -> alt.VConcatChart:
    """The five steps side by side, one row per key token (words on the y axis, in sentence order);
    ``narrow``: the same steps stacked two by two, for phones (see :data:`NARROW_BELOW`).

    ``qk_domain`` / ``v_domain``: the colour scales' half-range (fixed, so colours compare across
    views). Data sets are named ``q``, ``k``, ``scores``, ``v``, ``out``; :func:`with_picking` makes
    the compiled spec compute them.
    """
    q = _heat("q", qk_domain, f"1. q of the query and k of every token (D = {head_dim})", axis=False)
    k = _heat("k", qk_domain, legend="q, k component")
    raw = _bars("raw", "2. q · k for every word", ".1f")
    scaled = _bars("scaled", f"3. ÷ √{head_dim}", ".2f", labels=narrow)
    weights = _bars("weight", "4. softmax", ".2f", domain=[0, 1])
    v = _heat("v", v_domain, legend="v, output component").encode(
        opacity=alt.Opacity("weight:Q", scale=alt.Scale(domain=[0, 1], range=[0.12, 1]), legend=None),
        tooltip=[alt.Tooltip("word:N", title="token"), alt.Tooltip("dim:Q", title="component"),
                 alt.Tooltip("value:Q", format=".3f"), alt.Tooltip("weight:Q", format=".3f")],
    )
    out = _heat("out", v_domain)
    step5 = alt.layer(v, out, title="5. Σ weight × v = output").properties(
        width=alt.Step(CELL_W), height=alt.Step(ROW_H))
    if narrow:
        rows = [alt.hconcat(k, raw, spacing=10).resolve_scale(color="independent"),
                alt.hconcat(scaled, weights, spacing=10), step5]
        chart = alt.vconcat(q, *rows, spacing=16).resolve_scale(color="independent")
    else:
        row = alt.hconcat(k, raw, scaled, weights, step5, spacing=10).resolve_scale(color="independent")
        chart = alt.vconcat(q, row, spacing=6, bounds="flush").resolve_scale(color="independent")
    spec = (chart.configure(background="transparent")
            .configure_view(stroke=None)
            .configure_title(fontSize=12, anchor="start", fontWeight="bold")
            .to_dict())
    spec["datasets"] = {name: [] for name in DATASETS}  # computed in the compiled spec (with_picking)
    return alt.VConcatChart.from_dict(spec)
