"""The mechanics figure: one head's weights without and with a causal mask, as two heatmaps.

Tidy rows in, an Altair chart out; the numbers come from :mod:`build_scripts.groups.mechanics.measure`.
"""

from __future__ import annotations

import altair as alt
import numpy as np

PRECISION = 3
CELL = 14  # px per token in the mask heatmaps: 13 tokens -> 182 px, fits a 375 px phone
LABEL_W = 58  # px for the token labels left of each map


def mask_rows(tokens: list[str], demo: dict[str, np.ndarray]) -> list[dict]:
    """Tidy rows, one per (panel, query, key): the weight, or None where the causal mask hides the key."""
    panels = (("No mask: every token sees all (this encoder)", demo["full"], None),
              ("Causal mask: itself and earlier only (decoders)", demo["causal_weights"], demo["causal"]))
    rows = []
    for panel, weights, mask in panels:
        for t, query in enumerate(tokens):
            for s, key in enumerate(tokens):
                hidden = mask is not None and not mask[t, s]
                rows.append({"panel": panel, "t": t, "s": s, "query": f"{t:02d} {query}", "key": f"{s:02d} {key}",
                             "weight": None if hidden else round(float(weights[t, s]), PRECISION),
                             "masked": bool(hidden)})
    return rows


def mask_chart(rows: list[dict], n: int) -> alt.VConcatChart:
    """Two heatmaps stacked (they fit a phone): the weights without and with a causal mask.

    Rows are queries, columns keys; masked cells are drawn hatched-grey with no value, so the
    reader sees which keys a decoder's token could not look at.
    """
    size = n * CELL
    labels = alt.Axis(labelExpr="substring(datum.value, 3)", labelFontSize=11, ticks=False, domain=False)
    x = alt.X("key:O", axis=alt.Axis(labelExpr="substring(datum.value, 3)", labelFontSize=11, labelAngle=-60,
                                     title="key (attended to)", orient="bottom", ticks=False, domain=False))
    y = alt.Y("query:O", axis=labels, title="query (attends)")

    def panel(title: str):
        base = alt.Chart(alt.Data(values=rows)).transform_filter(alt.datum.panel == title)
        # n x n rectangles: aria=False, the chart's description and the prose speak for them
        cells = base.transform_filter("!datum.masked").mark_rect(aria=False).encode(
            x=x, y=y,
            color=alt.Color("weight:Q", scale=alt.Scale(type="sqrt", domain=[0, 1], scheme="viridis"),
                            legend=alt.Legend(title="weight", orient="right", gradientLength=size // 2)),
            tooltip=[alt.Tooltip("query:N", title="query"), alt.Tooltip("key:N", title="key"),
                     alt.Tooltip("weight:Q", format=".3f")])
        hidden = base.transform_filter("datum.masked").mark_rect(color="#888888", opacity=0.25, aria=False).encode(
            x=x, y=y,
            tooltip=[alt.Tooltip("query:N", title="query"), alt.Tooltip("key:N", title="key (masked)")])
        return alt.layer(cells, hidden).properties(width=size, height=size, title=title)

    titles = list(dict.fromkeys(r["panel"] for r in rows))
    chart = alt.vconcat(*(panel(t) for t in titles), spacing=24, description=(
        "Two heatmaps of attention weights, queries in rows and keys in columns: first without a mask, "
        "then with a causal mask that hides every key after the query (grey cells)."))
    return chart.configure(background="transparent").configure_view(stroke=None).configure_title(
        fontSize=12, anchor="start", limit=size + LABEL_W + 60)
