"""The sense-pair chart: pure functions from arrays to tidy rows, and from rows to Altair.

Every head's mean link excess over the sense pairs (:mod:`build_scripts.groups.senses.measure`),
ranked, each with its 95% interval (pairs resampled); 0 (no link) and the decoy null's 95th
percentile (what the best of all heads reaches by luck) as horizontal rules; the head the article
chose on its one sentence highlighted. Layers and heads are numbered from 1 in everything a reader
sees. The chart has a layout for phones (``narrow=True``: about 250 px of plot in a 375 px screen,
titles in lines, no text under 10 px) and is drawn on the page's own background, light or dark.
"""

from __future__ import annotations

import altair as alt
import numpy as np

from build_scripts.pipeline.render import FONT, FRAME, GRID

PRECISION = 4
WIDTH = 520
NARROW_WIDTH = 250  # px of plot: with the axis and its title it fits a 375 px phone
NARROW_BELOW = 600  # px: in an article column narrower than this the page draws the narrow layout
CHOSEN, OTHER, NULL = "#f58518", "#4c78a8", "#e45756"


def _r(x) -> float:
    return round(float(x), PRECISION) + 0.0  # + 0.0: no "-0.0"


def head_rows(mean: np.ndarray, low: np.ndarray, high: np.ndarray, chosen: tuple[int, int]) -> list[dict]:
    """One row per head of ``mean``, ``low``, ``high`` ``[L, H]`` (0-based ``chosen`` = (layer,
    head)), ranked by mean excess (rank 1 = largest; ties by layer, then head), numbers 1-based."""
    rows = [{"layer": l + 1, "head": h + 1, "excess": _r(m), "low": _r(low[l, h]), "high": _r(high[l, h]),
             "kind": "the article's head" if (l, h) == tuple(chosen) else "other heads"}
            for (l, h), m in np.ndenumerate(mean)]
    rows.sort(key=lambda r: (-r["excess"], r["layer"], r["head"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def _lines(parts: list[str], narrow: bool):
    """A title or subtitle: one line per part on a phone, else the parts joined into one line."""
    return parts if narrow else " ".join(parts)


def heads_chart(rows: list[dict], null_p95: float, n_sentences: int, n_pairs: int, word: str, context: str, *,
                narrow: bool = False) -> alt.LayerChart:
    """The ranked heads (see the module doc) from :func:`head_rows`. ``narrow``: 250 px wide, the
    rules' labels shortened (the subtitle says what they are), titles in lines."""
    heads = len(rows)
    chosen = next(r for r in rows if r["kind"] == "the article's head")
    lo = min(min(r["low"] for r in rows), 0.0)
    hi = max(max(r["high"] for r in rows), null_p95)
    pad = (hi - lo) * 0.05
    # in lines on every layout: one line would be longer than the plot is high
    y_title = ["link excess: weight on the context word", "minus the mean on the other words"]
    x = alt.X("rank:Q", title=f"the {heads} heads, ranked by mean link excess",
              scale=alt.Scale(domain=[0, heads + 1], nice=False), axis=alt.Axis(values=[1, heads // 2, heads]))
    y = alt.Y("excess:Q", title=y_title, scale=alt.Scale(domain=[_r(lo - pad), _r(hi + pad)], nice=False))
    colour = alt.Color("kind:N", scale=alt.Scale(domain=["the article's head", "other heads"], range=[CHOSEN, OTHER]),
                       legend=None)
    tooltip = [alt.Tooltip("layer:O"), alt.Tooltip("head:O"),
               alt.Tooltip("excess:Q", title="mean link excess", format=".3f"),
               alt.Tooltip("low:Q", title="95% interval from", format=".3f"),
               alt.Tooltip("high:Q", title="95% interval to", format=".3f")]
    base = alt.Chart(alt.Data(values=rows))
    intervals = base.mark_rule(strokeWidth=1.5 if narrow else 2, opacity=0.6).encode(
        x=x, y=alt.Y("low:Q", title=y_title), y2="high:Q", color=colour, tooltip=tooltip)
    dots = base.mark_circle(size=28 if narrow else 40, opacity=0.9).encode(
        x=x, y=y, color=colour, tooltip=tooltip, description=alt.Description("label:N"),
    ).transform_calculate(label="'layer ' + datum.layer + ', head ' + datum.head + ': ' + format(datum.excess, '.3f')")
    luck = "best by luck" if narrow else f"best of {heads} heads by luck (95th pct.)"
    refs = [{"y": 0.0, "label": "no link", "dash": [1, 0]}, {"y": _r(null_p95), "label": luck, "dash": [4, 3]}]
    rules = alt.Chart(alt.Data(values=refs)).mark_rule(color=NULL).encode(
        y="y:Q", strokeDash=alt.StrokeDash("dash:N", scale=None, legend=None))
    rule_labels = alt.Chart(alt.Data(values=refs)).mark_text(align="right", dy=-5, fontSize=FONT, color=NULL).encode(
        x=alt.value(NARROW_WIDTH if narrow else WIDTH), y="y:Q", text="label:N")
    name = f"layer {chosen['layer']}, head {chosen['head']}"
    left = chosen["rank"] <= heads / 2  # the label on the side with room: toward the middle of the plot
    mark = alt.Chart(alt.Data(values=[chosen])).mark_text(
        align="left" if left else "right", dx=7 if left else -7, dy=-7, fontSize=FONT + 1, fontWeight="bold",
        color=CHOSEN).encode(
        x="rank:Q", y="excess:Q", text=alt.value(f"{name}, chosen on '{word}' → '{context}'"
                                                 if not narrow else name))
    title = _lines(["Does a head link an ambiguous word", "to the word that settles its sense?"], narrow)
    parts = [f"{n_sentences} sentences, {n_pairs} words in two senses each; each head's mean with its 95% interval "
             "(pairs resampled).",
             f"Orange: the head the article chose on '{word}' → '{context}'.",
             f"Dashed: what the best of {heads} heads reaches by luck (95th percentile, context words swapped at random)."]
    if narrow:
        parts = [f"{n_sentences} sentences, {n_pairs} words in two senses each.",
                 "Each head's mean, 95% interval (pairs resampled).",
                 f"Orange: the article's head ('{word}' → '{context}').",
                 f"Dashed: what the best of {heads} heads reaches by luck",
                 "(95th percentile, context words swapped at random)."]
    chart = alt.layer(rules, intervals, dots, mark, rule_labels).properties(
        width=NARROW_WIDTH if narrow else WIDTH, height=240 if narrow else 260,
        title={"text": title, "subtitle": parts})
    return (chart.configure(background="transparent")
            .configure_axis(labelFontSize=FONT, titleFontSize=FONT + 1, **GRID)
            .configure_title(fontSize=FONT + 3, subtitleFontSize=FONT)
            .configure_view(**FRAME))
