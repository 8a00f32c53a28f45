"""All heads at once: every layer × head of one sentence as a small word-level attention map.

Pure functions from word-level weights ``[L, H, w, w]`` (row = query word, column = key word, as
in :mod:`attn_jax.words`) to one tidy row per (layer, head), and from those rows to ONE Altair
chart: each row carries its map as a flat list of ``w * w`` weights that Vega expands with
``flatten`` + ``window`` + ``calculate`` into rectangles at computed pixel offsets (72 maps, one
mark, no facets). Layers and heads are numbered from 1 in everything a reader sees.
"""

from __future__ import annotations

import altair as alt
import numpy as np

PRECISION = 3  # decimals of the scores
MAP_PRECISION = 2  # decimals of the maps' weights: a colour cannot show the third, and the spec stays small
CELL = 3  # px per word in a small map (whole pixels keep the SVG small)
GAP = 8  # px between maps
LEFT, TOP = 52, 18  # room for "layer 1" on the left and "head 1" on top


def grid_rows(att: np.ndarray, scores: dict[str, np.ndarray]) -> list[dict]:
    """One row per (layer, head): 0-based ``layer``/``head``, ``n`` words, the map ``w`` flattened
    row-major (query-major, :data:`MAP_PRECISION` decimals), and the head's ``cls`` and ``focus``
    scores ``[L, H]`` (:data:`PRECISION` decimals; :func:`build_scripts.groups.head_grid.measure.scores`)."""
    n = att.shape[-1]
    rows = []
    for layer in range(att.shape[0]):
        for head in range(att.shape[1]):
            rows.append({"layer": layer, "head": head, "n": n,
                         "w": (np.round(att[layer, head].astype(np.float64), MAP_PRECISION) + 0.0).reshape(-1).tolist(),
                         "cls": round(float(scores["cls"][layer, head]), PRECISION),
                         "focus": round(float(scores["focus"][layer, head]), PRECISION)})  # fmt: skip
    return rows


def layer_summary(rows: list[dict]) -> list[dict]:
    """Per layer: the head with the largest [CLS] share and the most focused head (0-based), with scores."""
    out = []
    for layer in sorted({r["layer"] for r in rows}):
        mine = [r for r in rows if r["layer"] == layer]
        sink = max(mine, key=lambda r: (r["cls"], -r["head"]))
        focus = max(mine, key=lambda r: (r["focus"], -r["head"]))
        out.append({"layer": layer, "sink_head": sink["head"], "sink": sink["cls"],
                    "focused_head": focus["head"], "focus": focus["focus"]})
    return out


def summary_lines(summary: list[dict]) -> list[str]:
    """The text alternative, one line per layer (1-based numbers)."""
    return [f"layer {s['layer'] + 1}: largest [CLS] share head {s['sink_head'] + 1} ({s['sink']:.2f}), "
            f"most focused head {s['focused_head'] + 1} ({s['focus']:.2f})" for s in summary]


READOUT = ("length(data('selected')) ? 'Selected: layer ' + (data('selected')[0].layer + 1) + ', head ' + "
           "(data('selected')[0].head + 1) + ': [CLS] share ' + format(data('selected')[0].cls, '.3f') + "
           "', focus ' + format(data('selected')[0].focus, '.3f') + '.' : ''")  # 3 decimals, as shipped


def selected_row(row: dict) -> dict:
    """The ``selected`` data set's one row for a cell of :func:`grid_rows` (its scalars, not its map)."""
    return {k: row[k] for k in ("layer", "head", "n", "cls", "focus")}


def evaluate_readout(vega: dict) -> str:
    """The ``readout`` signal of the compiled chart, as vl-convert's Vega computes it (the widget
    shows the same signal), for readers without JavaScript."""
    import vl_convert as vlc

    probe = {**vega, "marks": [{"type": "text", "encode": {"update": {"text": {"signal": "readout"}}}}]}
    return vlc.vega_to_scenegraph(probe)["scenegraph"]["items"][0]["items"][0]["items"][0]["text"]


def size(n: int, layers: int, heads: int) -> tuple[float, float]:
    """Pixel width and height of the grid for ``n`` words."""
    return LEFT + heads * (n * CELL + GAP) - GAP, TOP + layers * (n * CELL + GAP) - GAP


def head_grid_chart(rows: list[dict], words: list[str], selected: dict, layers: int, heads: int) -> alt.LayerChart:
    """Every head's map in one chart; ``selected`` (a :func:`selected_row`) gets an outline, and
    the chart's ``readout`` signal says what it is.

    Data sets are named ``cells`` (one row per head, see :func:`grid_rows`), ``words`` (``{"i",
    "word"}``, for tooltips) and ``selected`` (one row), so the widget can move the outline.
    """
    n = len(words)
    width, height = size(n, layers, heads)
    step = f"(datum.n * {CELL} + {GAP})"
    cells = (
        alt.Chart(alt.NamedData("cells"))
        .transform_flatten(["w"], as_=["weight"])
        # flatten keeps the list order within a row; row_number numbers the words of one map 1..n*n
        .transform_window(k="row_number()", groupby=["layer", "head"])
        .transform_calculate(
            i="floor((datum.k - 1) / datum.n)",  # query word (row of the map)
            j="(datum.k - 1) % datum.n",  # key word (column)
            x=f"{LEFT} + datum.head * {step} + datum.j * {CELL}",
            y=f"{TOP} + datum.layer * {step} + datum.i * {CELL}",
            x2=f"datum.x + {CELL}",
            y2=f"datum.y + {CELL}",
            name="'layer ' + (datum.layer + 1) + ', head ' + (datum.head + 1)",
        )
        .transform_lookup(lookup="i", from_=alt.LookupData(alt.NamedData("words"), "i", ["word"]), as_=["query"])
        .transform_lookup(lookup="j", from_=alt.LookupData(alt.NamedData("words"), "i", ["word"]), as_=["key"])
        .mark_rect(cursor="pointer", aria=False)  # 72 x w x w rectangles: the HTML summary speaks for them
        .encode(
            x=alt.X("x:Q", scale=None, axis=None), x2="x2:Q",
            y=alt.Y("y:Q", scale=None, axis=None), y2="y2:Q",
            color=alt.Color("weight:Q", scale=alt.Scale(type="sqrt", domain=[0, 1], scheme="viridis"),
                            legend=alt.Legend(title="weight", orient="right", gradientLength=100)),
            tooltip=[alt.Tooltip("name:N", title="head"), alt.Tooltip("query:N", title="query word"),
                     alt.Tooltip("key:N", title="key word"), alt.Tooltip("weight:Q", format=".3f")],
        )
    )  # fmt: skip
    base = alt.Chart(alt.NamedData("cells")).mark_text(fontSize=11)
    head_labels = base.transform_filter("datum.layer == 0").transform_calculate(
        x=f"{LEFT} + datum.head * {step} + datum.n * {CELL} / 2", label="'head ' + (datum.head + 1)"
    ).encode(x=alt.X("x:Q", scale=None, axis=None), y=alt.value(TOP - 7), text="label:N")
    layer_labels = base.mark_text(fontSize=11, align="right", baseline="middle").transform_filter(
        "datum.head == 0").transform_calculate(
        y=f"{TOP} + datum.layer * {step} + datum.n * {CELL} / 2", label="'layer ' + (datum.layer + 1)"
    ).encode(x=alt.value(LEFT - 6), y=alt.Y("y:Q", scale=None, axis=None), text="label:N")
    outline = alt.Chart(alt.NamedData("selected")).mark_rect(
        fill=None, stroke="#e45756", strokeWidth=2.5
    ).transform_calculate(
        x=f"{LEFT} + datum.head * {step} - 3", y=f"{TOP} + datum.layer * {step} - 3",
        x2=f"datum.x + datum.n * {CELL} + 6", y2=f"datum.y + datum.n * {CELL} + 6",
    ).encode(x=alt.X("x:Q", scale=None, axis=None), x2="x2:Q", y=alt.Y("y:Q", scale=None, axis=None), y2="y2:Q")
    chart = alt.layer(cells, head_labels, layer_labels, outline).properties(width=width, height=height).add_params(
        alt.param(name="readout", expr=READOUT))
    spec = chart.configure(background="transparent").configure_view(stroke=None).to_dict()
    spec["datasets"] = {"cells": rows, "words": [{"i": i, "word": w} for i, w in enumerate(words)],
                        "selected": [selected]}  # fmt: skip
    return alt.LayerChart.from_dict(spec)
