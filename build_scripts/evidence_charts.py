"""Charts of the corpus evidence: pure functions from arrays to tidy rows, and from rows to Altair.

Layers and heads are numbered from 1 in everything a reader sees. Every chart built on the
Winograd collection carries its attribution (:data:`WSC_CREDIT`).
"""

from __future__ import annotations

import altair as alt
import numpy as np

from attn_jax.analysis import ROLES, wilson_interval

PRECISION = 3
WSC_CREDIT = "Data: Winograd schema collection (Levesque, Davis & Morgenstern 2012; compiled by E. Davis), CC BY 4.0"
ROLE_COLOURS = ["#4c78a8", "#72b7b2", "#e45756", "#f58518", "#b279a2", "#d9d9d9"]  # ROLES order; none = grey
WIDTH = 520


def _r(x) -> float:
    return round(float(x), PRECISION) + 0.0  # + 0.0: no "-0.0"


def head_rows(values: np.ndarray, **columns: np.ndarray) -> list[dict]:
    """One row per (layer, head) of ``values [L, H]`` (1-based numbers), plus extra ``[L, H]`` columns."""
    rows = []
    for (layer, head), v in np.ndenumerate(values):
        row = {"layer": layer + 1, "head": head + 1, "value": _r(v)}
        row |= {k: _r(c[layer, head]) for k, c in columns.items()}
        rows.append(row)
    return rows


def winograd_chart(acc: np.ndarray, share: np.ndarray, n: int, null_p95: float, chance: float = 0.5) -> alt.LayerChart:
    """Every head's Winograd accuracy as a dot per head, one row per layer, with chance and the
    95th percentile of the best-of-all-heads null as vertical rules, and the best head's 95%
    (Wilson) interval as a bar; every head's interval is in its tooltip."""
    bounds = np.array([wilson_interval(a * n, n) for a in acc.ravel()]).reshape(*acc.shape, 2)
    rows = head_rows(acc, share=share, low=bounds[..., 0], high=bounds[..., 1])
    best = [rows[int(acc.argmax())]]
    refs = [{"x": _r(chance), "label": f"chance {chance:.2f}", "align": "right", "dx": -4},
            {"x": _r(null_p95), "label": f"best of {acc.size} heads by luck, 95th pct.: {null_p95:.2f}", "align": "left",
             "dx": 4}]
    lo = min(float(bounds[..., 0].min()), chance) - 0.01
    hi = max(float(bounds[..., 1].max()), null_p95) + 0.01
    title = f"share of the {n} schemas where the pronoun attends more to the right candidate"
    scale = alt.Scale(domain=[round(lo, 2), round(hi, 2)], zero=False)
    x = alt.X("value:Q", title=title, scale=scale)
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
    interval = alt.layer(
        base.mark_rule(color="#4c78a8").encode(x=alt.X("low:Q", title=title, scale=scale), x2="high:Q"),
        base.mark_tick(color="#4c78a8", orient="vertical", size=8).encode(x="low:Q"),
        base.mark_tick(color="#4c78a8", orient="vertical", size=8).encode(x="high:Q"),
        base.mark_text(fontSize=10, color="#4c78a8", align="right", dx=-6).encode(
            x="low:Q", text=alt.value("best head, 95% interval")),
    )
    rules = alt.Chart(alt.Data(values=refs)).mark_rule(strokeDash=[4, 3], color="#e45756").encode(x="x:Q")
    labels = [alt.Chart(alt.Data(values=[ref])).mark_text(align=ref["align"], dx=ref["dx"], dy=-6, fontSize=11,
                                                          color="#e45756").encode(x="x:Q", y=alt.value(0), text="label:N")
              for ref in refs]
    return alt.layer(rules, interval, dots, *labels).properties(
        width=WIDTH, height=220, title={"text": "Winograd accuracy of every head", "subtitle": WSC_CREDIT})


def roles_chart(shares: np.ndarray, n: int) -> alt.Chart:
    """A layers x heads grid: each cell coloured by the head's most frequent role over the corpus,
    more opaque the larger the share of sentences in which it takes that role."""
    major = shares.argmax(-1)
    rows = []
    for (layer, head), r in np.ndenumerate(major):
        row = {"layer": layer + 1, "head": head + 1, "role": ROLES[r], "share": _r(shares[layer, head, r])}
        row |= {name: _r(shares[layer, head, i]) for i, name in enumerate(ROLES)}
        rows.append(row)
    return alt.Chart(alt.Data(values=rows)).mark_rect(stroke="white", strokeWidth=1).encode(
        x=alt.X("head:O", title="head (H)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("layer:O", title="layer (L)"),
        color=alt.Color("role:N", title="most frequent role", scale=alt.Scale(domain=list(ROLES), range=ROLE_COLOURS)),
        opacity=alt.Opacity("share:Q", scale=alt.Scale(domain=[0, 1], range=[0.25, 1]), legend=None),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("head:O"), alt.Tooltip("role:N", title="most frequent role")]
        + [alt.Tooltip(f"{name}:Q", title=name, format=".2f") for name in ROLES],
    ).properties(width=WIDTH, height=200, title={
        "text": f"What each head does, over {n} sentences",
        "subtitle": ["Colour: the head's most frequent role; the paler, the fewer sentences it takes it in.", WSC_CREDIT]})


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


def pruning_chart(rows: list[dict]) -> alt.FacetChart:
    """The pruning curves, one panel per measure: importance order against random orders."""
    lines = alt.Chart().mark_line(point=True).encode(
        x=alt.X("share:Q", title="share of the heads removed", axis=alt.Axis(format="%")),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(domain=[0, 1])),
        detail="order:N",
        color=alt.Color("kind:N", title="removal order", scale=alt.Scale(domain=["importance", "random"],
                                                                         range=["#4c78a8", "#bab0ac"])),
        tooltip=[alt.Tooltip("order:N"), alt.Tooltip("share:Q", format=".1%"), alt.Tooltip("value:Q", format=".3f")],
    )
    return alt.layer(lines, data=alt.Data(values=rows)).properties(width=250, height=200).facet(
        column=alt.Column("measure:N", title=None)).properties(
        title={"text": "Removing heads: least important first, against random orders", "subtitle": WSC_CREDIT})


def contribution_rows(layers: list[dict]) -> list[dict]:
    """Long rows ``{layer, token, measure, share}`` from :func:`build_scripts.evidence.contribution`."""
    rows = []
    for row in layers:
        for token in ("cls", "sep"):
            for measure, key in (("attention weight", "weight"), ("share of what moves, ‖weight · value · W_O‖", "contribution")):
                rows.append({"layer": row["layer_1based"], "token": f"[{token.upper()}]", "measure": measure,
                             "share": _r(row[f"{token}_{key}"])})
    return rows


def contribution_chart(rows: list[dict]) -> alt.FacetChart:
    """Per layer, [CLS]'s and [SEP]'s share of attention weight against their share of what moves."""
    bars = alt.Chart().mark_bar().encode(
        x=alt.X("layer:O", title="layer (L)", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("measure:N"),
        y=alt.Y("share:Q", title="share", axis=alt.Axis(format="%")),
        color=alt.Color("measure:N", title=None, scale=alt.Scale(range=["#4c78a8", "#f58518"]),
                        legend=alt.Legend(orient="bottom", labelLimit=400)),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("token:N"), alt.Tooltip("measure:N"),
                 alt.Tooltip("share:Q", format=".1%")],
    )
    return alt.layer(bars, data=alt.Data(values=rows)).properties(width=250, height=200).facet(
        column=alt.Column("token:N", title=None)).properties(
        title={"text": "Attention weight is not contribution", "subtitle": WSC_CREDIT})
