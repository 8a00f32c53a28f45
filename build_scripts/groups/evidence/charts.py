"""Charts of the corpus evidence: pure functions from arrays to tidy rows, and from rows to Altair.

Layers and heads are numbered from 1 in everything a reader sees. Every chart built on the
Winograd collection carries its attribution (:data:`WSC_CREDIT`). Every chart has a layout for
phones (``narrow=True``: one column about 330 px wide, titles broken into lines, the legend below;
the page draws it below :data:`NARROW_BELOW`), and is drawn on the page's own background, light or
dark.
"""

from __future__ import annotations

import altair as alt
import numpy as np

from attn_jax.analysis import ROLES
from build_scripts.pipeline.render import FRAME, GRID

PRECISION = 3
WSC_CREDIT_LINES = ["Data: Winograd schema collection (Levesque, Davis", "& Morgenstern 2012; compiled by E. Davis), CC BY 4.0"]
WSC_CREDIT = " ".join(WSC_CREDIT_LINES)
ROLE_COLOURS = ["#4c78a8", "#72b7b2", "#e45756", "#f58518", "#b279a2", "#d9d9d9"]  # ROLES order; none = grey
WIDTH = 520
# px: in an article column narrower than this (where the widest of these charts, the head roles with
# their legend at 674 px, would be scaled down), the page draws the ``narrow=True`` layouts.
NARROW_BELOW = 680
NARROW_WIDTH = 250  # px, one panel of a narrow layout: with axes and legend it fits a 375 px phone
# The charts are drawn on the page's background, light or dark: grid lines and the plots' frames in
# a grey that reads on both.


def _r(x) -> float:
    return round(float(x), PRECISION) + 0.0  # + 0.0: no "-0.0"


def _lines(parts: list[str], narrow: bool):
    """A title or subtitle: one line per part on a phone, else the parts joined into one line."""
    return parts if narrow else " ".join(parts)


def _on_page(chart):
    """The chart drawn on the page's own background (transparent), grid and frame in a neutral grey."""
    return chart.configure(background="transparent").configure_axis(**GRID).configure_view(**FRAME)


def head_rows(values: np.ndarray, **columns: np.ndarray) -> list[dict]:
    """One row per (layer, head) of ``values [L, H]`` (1-based numbers), plus extra ``[L, H]`` columns."""
    rows = []
    for (layer, head), v in np.ndenumerate(values):
        row = {"layer": layer + 1, "head": head + 1, "value": _r(v)}
        row |= {k: _r(c[layer, head]) for k, c in columns.items()}
        rows.append(row)
    return rows


def winograd_chart(acc: np.ndarray, share: np.ndarray, low: np.ndarray, high: np.ndarray, n: int, null_p95: float,
                   chance: float = 0.5, *, narrow: bool = False) -> alt.LayerChart:
    """Every head's Winograd accuracy as a dot per head, one row per layer, with chance and the
    95th percentile of the best-of-all-heads null as vertical rules, and the best head's 95%
    interval (``low``, ``high`` ``[L, H]``: whole pairs resampled) as a bar; every head's interval is
    in its tooltip. ``narrow``: 250 px wide, five ticks, the rules' labels shortened (the subtitle
    says what they are), titles in lines."""
    bounds = np.stack([low, high], -1)
    rows = head_rows(acc, share=share, low=low, high=high)
    best = [rows[int(acc.argmax())]]
    luck = f"by luck {null_p95:.2f}" if narrow else f"best of {acc.size} heads by luck, 95th pct.: {null_p95:.2f}"
    refs = [{"x": _r(chance), "label": f"chance {chance:.2f}", "align": "right", "dx": -4},
            {"x": _r(null_p95), "label": luck, "align": "left", "dx": 4}]
    lo = min(float(bounds[..., 0].min()), chance) - 0.01
    hi = max(float(bounds[..., 1].max()), null_p95) + 0.01
    title = _lines([f"share of the {n} schemas where", "the pronoun attends more", "to the right candidate"], narrow)
    scale = alt.Scale(domain=[round(lo, 2), round(hi, 2)], zero=False)
    axis = alt.Axis(tickCount=5) if narrow else alt.Undefined
    x = alt.X("value:Q", title=title, scale=scale, axis=axis)
    dots = alt.Chart(alt.Data(values=rows)).mark_circle(size=60, opacity=0.8).encode(
        x=x, y=alt.Y("layer:O", title="layer (L)"),
        color=alt.value("#4c78a8"),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("head:O"), alt.Tooltip("value:Q", title="accuracy", format=".3f"),
                 alt.Tooltip("low:Q", title="95% interval from", format=".3f"),
                 alt.Tooltip("high:Q", title="95% interval to", format=".3f"),
                 alt.Tooltip("share:Q", title="attention on both candidates", format=".3f")],
        description=alt.Description("label:N"),
    ).transform_calculate(label="'layer ' + datum.layer + ', head ' + datum.head + ': ' + format(datum.value, '.2f')")
    base = alt.Chart(alt.Data(values=best)).encode(y="layer:O", yOffset=alt.value(12))
    # narrow: the interval's label above its left end, where the layer labels leave no room before it
    where = {"align": "left", "baseline": "bottom", "dy": -4} if narrow else {"align": "right", "dx": -6}
    interval = alt.layer(
        base.mark_rule(color="#4c78a8").encode(x=alt.X("low:Q", title=title, scale=scale, axis=axis), x2="high:Q"),
        base.mark_tick(color="#4c78a8", orient="vertical", size=8).encode(x="low:Q"),
        base.mark_tick(color="#4c78a8", orient="vertical", size=8).encode(x="high:Q"),
        base.mark_text(fontSize=10, color="#4c78a8", **where).encode(x="low:Q", text=alt.value("best head, 95% interval")),
    )
    rules = alt.Chart(alt.Data(values=refs)).mark_rule(strokeDash=[4, 3], color="#e45756").encode(x="x:Q")
    labels = [alt.Chart(alt.Data(values=[ref])).mark_text(align=ref["align"], dx=ref["dx"], dy=-6, fontSize=11,
                                                          color="#e45756").encode(x="x:Q", y=alt.value(0), text="label:N")
              for ref in refs]
    heading = "Winograd accuracy of every head"
    subtitle = WSC_CREDIT
    if narrow:
        subtitle = ["Dashed: chance, and what the best of", f"{acc.size} heads reaches by luck (95th percentile)",
                    *WSC_CREDIT_LINES]
    return _on_page(alt.layer(rules, interval, dots, *labels).properties(
        width=NARROW_WIDTH if narrow else WIDTH, height=240 if narrow else 220,
        title={"text": heading, "subtitle": subtitle}))


def roles_chart(shares: np.ndarray, n: int, *, narrow: bool = False) -> alt.Chart:
    """A layers x heads grid: each cell coloured by the head's most frequent role over the corpus,
    fainter (more transparent, so closer to the page's background, light or dark) the smaller the
    share of sentences in which it takes that role. ``narrow``: 250 px wide, the legend below in
    three columns, the subtitle in lines."""
    major = shares.argmax(-1)
    rows = []
    for (layer, head), r in np.ndenumerate(major):
        row = {"layer": layer + 1, "head": head + 1, "role": ROLES[r], "share": _r(shares[layer, head, r])}
        row |= {name: _r(shares[layer, head, i]) for i, name in enumerate(ROLES)}
        rows.append(row)
    legend = alt.Legend(orient="bottom", columns=3) if narrow else alt.Undefined
    # cells apart by a gap (band padding) that shows the page's background, light or dark
    gap = alt.Scale(paddingInner=0.04)
    colour = "the head's most frequent role; the fainter, the fewer sentences it takes it in."
    subtitle = ["Colour: the head's most frequent role;", "the fainter, the fewer sentences it takes it in.",
                *WSC_CREDIT_LINES] if narrow else [f"Colour: {colour}", WSC_CREDIT]
    return _on_page(alt.Chart(alt.Data(values=rows)).mark_rect().encode(
        x=alt.X("head:O", title="head (H)", axis=alt.Axis(labelAngle=0), scale=gap),
        y=alt.Y("layer:O", title="layer (L)", scale=gap),
        color=alt.Color("role:N", title="most frequent role", scale=alt.Scale(domain=list(ROLES), range=ROLE_COLOURS),
                        legend=legend),
        opacity=alt.Opacity("share:Q", scale=alt.Scale(domain=[0, 1], range=[0.25, 1]), legend=None),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("head:O"), alt.Tooltip("role:N", title="most frequent role")]
        + [alt.Tooltip(f"{name}:Q", title=name, format=".2f") for name in ROLES],
    ).properties(width=NARROW_WIDTH if narrow else WIDTH, height=150 if narrow else 200, title={
        "text": f"What each head does, over {n} sentences", "subtitle": subtitle}))


def pruning_rows(share: np.ndarray, cosine: np.ndarray, neighbours: np.ndarray) -> list[dict]:
    """Long rows ``{share, measure, order, value}``; order 0 is the importance order, the rest random."""
    rows = []
    for measure, values in (("cosine to the full model", cosine), ("nearest neighbours kept", neighbours)):
        for o, curve in enumerate(values):
            order = "least important first" if o == 0 else f"random order {o}"
            kind = "importance" if o == 0 else "random"
            rows += [{"share": _r(s), "measure": measure, "order": order, "kind": kind, "value": _r(v)}
                     for s, v in zip(share, curve)]
    return rows


def _panels(layer, field: str, title: list[str], narrow: bool):
    """One panel per value of ``field``: side by side, or (narrow) one above the other."""
    if narrow:
        chart = layer.properties(width=NARROW_WIDTH, height=150).facet(facet=alt.Facet(field, title=None), columns=1)
    else:
        chart = layer.properties(width=250, height=200).facet(column=alt.Column(field, title=None))
    subtitle = WSC_CREDIT_LINES if narrow else WSC_CREDIT
    return _on_page(chart.properties(title={"text": _lines(title, narrow), "subtitle": subtitle}))


def pruning_chart(rows: list[dict], *, narrow: bool = False) -> alt.FacetChart:
    """The pruning curves, one panel per measure: importance order against random orders.
    ``narrow``: the panels one above the other, 250 px wide, the legend below, titles in lines."""
    lines = alt.Chart().mark_line(point=True).encode(
        x=alt.X("share:Q", title="share of the heads removed", axis=alt.Axis(format="%")),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(domain=[0, 1])),
        detail="order:N",
        color=alt.Color("kind:N", title="removal order", scale=alt.Scale(domain=["importance", "random"],
                                                                         range=["#4c78a8", "#bab0ac"]),
                        legend=alt.Legend(orient="bottom") if narrow else alt.Undefined),
        tooltip=[alt.Tooltip("order:N"), alt.Tooltip("share:Q", format=".1%"), alt.Tooltip("value:Q", format=".3f")],
    )
    return _panels(alt.layer(lines, data=alt.Data(values=rows)), "measure:N",
                   ["Removing heads: least important first,", "against random orders"], narrow)


def contribution_rows(layers: list[dict]) -> list[dict]:
    """Long rows ``{layer, token, measure, share}`` from :func:`build_scripts.groups.evidence.measure.contribution`."""
    rows = []
    for row in layers:
        for token in ("cls", "sep"):
            for measure, key in (("attention weight", "weight"), ("share of what moves, ‖weight · value · W_O‖", "contribution")):
                rows.append({"layer": row["layer_1based"], "token": f"[{token.upper()}]", "measure": measure,
                             "share": _r(row[f"{token}_{key}"])})
    return rows


def contribution_chart(rows: list[dict], *, narrow: bool = False) -> alt.FacetChart:
    """Per layer, [CLS]'s and [SEP]'s share of attention weight against their share of what moves.
    ``narrow``: the panels one above the other, 250 px wide, the legend in one column."""
    bars = alt.Chart().mark_bar().encode(
        x=alt.X("layer:O", title="layer (L)", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("measure:N"),
        y=alt.Y("share:Q", title="share", axis=alt.Axis(format="%")),
        color=alt.Color("measure:N", title=None, scale=alt.Scale(range=["#4c78a8", "#f58518"]),
                        legend=alt.Legend(orient="bottom", labelLimit=400, columns=1 if narrow else alt.Undefined)),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("token:N"), alt.Tooltip("measure:N"),
                 alt.Tooltip("share:Q", format=".1%")],
    )
    return _panels(alt.layer(bars, data=alt.Data(values=rows)), "token:N", ["Attention weight is not contribution"], narrow)
