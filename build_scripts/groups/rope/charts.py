"""The rotary-positions charts: pure functions from tables to tidy rows, and from rows to Altair.

- ``distance``: the mean attention a query gives the key d positions back, against d, over the
  Winograd collection (:mod:`build_scripts.groups.rope.measure`): all 270 heads with a 95% interval,
  each layer (the mean of its heads) in grey, and the even spread (the uniform null) dashed; one
  panel with every key, one with the first token left out;
- ``offset``: one head's score q.k / sqrt(D) for one fixed pair of vectors as the offset d between
  them varies, one line per base position p: the lines lie on top of each other.

Layers and heads are numbered from 1 in everything a reader sees. Each chart has a layout for phones
(``narrow=True``: one column, about 260 px of plot in a 375 px screen, titles in lines, legend
below, no text under 10 px) and is drawn on the page's own background, light or dark.
"""

from __future__ import annotations

import altair as alt
import numpy as np

from build_scripts.pipeline.render import FONT, FRAME, GRID

PRECISION = 4
WIDTH, NARROW_WIDTH = 300, 260  # px of plot per panel (the distance chart has two side by side)
OFFSET_WIDTH = 560
NARROW_BELOW = 680  # px: in an article column narrower than this the page draws the narrow layout
ALL, LAYER, NULL = "all heads", "one layer (mean of its heads)", "even spread (uniform null)"
COLOURS = {ALL: "#4c78a8", LAYER: "#9a9a9a", NULL: "#e45756"}
POSITION_COLOURS = ("#4c78a8", "#f58518", "#54a24b")
PANELS = {"all_keys": "every key", "without_first": "first token left out"}


def _r(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), PRECISION) + 0.0


def distance_rows(tables: dict) -> list[dict]:
    """Tidy rows of the distance chart from the measure's tables (per variant: mean ``[L, H, K]``,
    null, low, high ``[K]``): ``{panel, series, layer, d, weight, low, high}``, layers from 1."""
    rows = []
    for key, panel in PANELS.items():
        t = tables[key]
        mean = np.asarray(t["mean"], np.float64)  # [L, H, K]
        for d in range(mean.shape[-1]):
            for layer, value in enumerate(mean.mean(1)[:, d]):
                rows.append({"panel": panel, "series": LAYER, "layer": layer + 1, "d": d, "weight": _r(value)})
            rows.append({"panel": panel, "series": ALL, "layer": 0, "d": d, "weight": _r(mean[..., d].mean()),
                         "low": _r(t["low"][d]), "high": _r(t["high"][d])})
            rows.append({"panel": panel, "series": NULL, "layer": -1, "d": d, "weight": _r(t["null"][d])})
    return rows


def _lines(parts: list[str], narrow: bool):
    return parts if narrow else " ".join(parts)


def _style(chart, legend_below: bool = True):
    return (chart.configure(background="transparent")
            .configure_axis(labelFontSize=FONT, titleFontSize=FONT + 1, **GRID)
            .configure_legend(labelFontSize=FONT + 1, titleFontSize=FONT + 1, orient="bottom", direction="vertical",
                              labelLimit=0, symbolStrokeWidth=2.5, symbolSize=300)
            .configure_title(fontSize=FONT + 3, subtitleFontSize=FONT + 1, anchor="start")
            .configure_view(**FRAME))


def distance_chart(rows: list[dict], n_sentences: int, first_share: float, *, narrow: bool = False):
    """Two panels (see the module doc), side by side, or one above the other when ``narrow``."""
    top = max(r["weight"] for r in rows if r["weight"] is not None)
    top = max(top, max(r.get("high") or 0 for r in rows))
    y_scale = alt.Scale(domain=[0, round(top * 1.05, 2)], nice=False)
    colour = alt.Color("series:N", title=None, scale=alt.Scale(domain=list(COLOURS), range=list(COLOURS.values())),
                       legend=alt.Legend(orient="bottom", direction="vertical"))
    dash = alt.StrokeDash("series:N", scale=alt.Scale(domain=list(COLOURS), range=[[1, 0], [1, 0], [5, 3]]),
                          legend=None)
    x = alt.X("d:Q", title="offset d = t − s (tokens back from the query)", scale=alt.Scale(nice=False),
              axis=alt.Axis(tickMinStep=1, format="d"))
    y = alt.Y("weight:Q", title="mean attention weight", scale=y_scale)
    tooltip = [alt.Tooltip("series:N", title="curve"), alt.Tooltip("layer:Q", title="layer (0: all)"),
               alt.Tooltip("d:Q", title="offset d"), alt.Tooltip("weight:Q", title="mean weight", format=".3f")]
    width = NARROW_WIDTH if narrow else WIDTH

    def panel(name: str):
        data = alt.Data(values=[r for r in rows if r["panel"] == name])
        base = alt.Chart(data)
        # the grey lines carry no legend of their own: the main layer's colour scale names all three
        layers = base.transform_filter(f"datum.series == '{LAYER}'").mark_line(
            strokeWidth=1, opacity=0.45, color=COLOURS[LAYER]).encode(x=x, y=y, detail="layer:N", tooltip=tooltip)
        band = base.transform_filter(f"datum.series == '{ALL}'").mark_area(opacity=0.25, color=COLOURS[ALL]).encode(
            x=x, y=alt.Y("low:Q", scale=y_scale, title="mean attention weight"), y2="high:Q")
        main = base.transform_filter(f"datum.series != '{LAYER}'").mark_line(strokeWidth=2.5).encode(
            x=x, y=y, color=colour, strokeDash=dash, tooltip=tooltip)
        dots = base.transform_filter(f"datum.series == '{ALL}'").mark_circle(size=22, color=COLOURS[ALL]).encode(
            x=x, y=y, tooltip=tooltip)
        return alt.layer(layers, band, main, dots).properties(width=width, height=200 if narrow else 230,
                                                              title=PANELS_TITLE[name])

    panels = [panel(p) for p in PANELS.values()]
    chart = alt.vconcat(*panels, spacing=24) if narrow else alt.hconcat(*panels, spacing=28)
    title = ["How much attention goes to the key d tokens back?"]
    sub = [f"SmolLM2, {n_sentences} Winograd sentences; blue: the mean of all heads, its 95% interval",
           "(Winograd pairs resampled); grey: each layer; red, dashed: an even spread over the keys",
           f"a query sees. Right: the first token (which takes {first_share:.0%} of the attention) left out."]
    if narrow:
        title = ["How much attention goes", "to the key d tokens back?"]
        sub = [f"SmolLM2, {n_sentences} Winograd sentences.", "Blue: the mean of all heads,",
               "95% interval (Winograd pairs resampled).", "Grey: each layer.",
               "Red, dashed: an even spread over the keys.", "Lower panel: the first token (which takes",
               f"{first_share:.0%} of the attention) left out."]
    return _style(chart.properties(title={"text": title, "subtitle": sub}))


PANELS_TITLE = {"every key": "every key", "first token left out": "first token left out, rows renormalised"}


def offset_rows(offsets, curves, positions) -> list[dict]:
    """Tidy rows of the offset chart: ``{p, d, score}`` per base position and offset."""
    return [{"p": f"p = {p}", "d": int(d), "score": _r(s)}
            for p, curve in zip(positions, curves) for d, s in zip(offsets, curve)]


def offset_chart(rows: list[dict], head: dict, example: dict, max_distance: int, *, narrow: bool = False):
    """The example head's score against the offset, one line per base position (module doc)."""
    positions = list(dict.fromkeys(r["p"] for r in rows))
    widths = [5, 2.8, 1.1][: len(positions)] + [1.1] * max(0, len(positions) - 3)
    colour = alt.Color("p:N", title="key at position p, query at p + d", sort=positions,
                       scale=alt.Scale(domain=positions, range=list(POSITION_COLOURS[: len(positions)])),
                       legend=alt.Legend(orient="bottom", direction="horizontal" if not narrow else "vertical",
                                         symbolType="stroke"))
    size = alt.StrokeWidth("p:N", sort=positions, scale=alt.Scale(domain=positions, range=widths), legend=None)
    # symlog: d = 0, 1, 2 get room of their own, and the whole range still fits
    ticks = [d for d in (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if d <= max_distance]
    x = alt.X("d:Q", title="offset d between query and key (tokens, log scale)",
              scale=alt.Scale(type="symlog", domain=[0, max_distance], nice=False), axis=alt.Axis(values=ticks, format="d"))
    scores = [r["score"] for r in rows]
    lo, hi = min(scores), max(scores)
    y = alt.Y("score:Q", title="score q·k / √D",  # room above the peak for its label
              scale=alt.Scale(domain=[_r(lo - 0.05 * (hi - lo)), _r(hi + 0.15 * (hi - lo))], nice=False))
    tooltip = [alt.Tooltip("p:N", title="base position"), alt.Tooltip("d:Q", title="offset d"),
               alt.Tooltip("score:Q", title="q·k / √D", format=".3f")]
    base = alt.Chart(alt.Data(values=rows))
    lines = base.mark_line(opacity=0.85).encode(x=x, y=y, color=colour, strokeWidth=size, tooltip=tooltip)
    peak = [r for r in rows if r["p"] == positions[0] and r["d"] == 1]
    label = alt.Chart(alt.Data(values=peak)).mark_text(align="left", dx=8, dy=-12, fontSize=FONT + 1,
                                                       fontWeight="bold").encode(
        x="d:Q", y="score:Q", text=alt.value("d = 1: the token before" if narrow else "d = 1: the token right before"))
    dot = alt.Chart(alt.Data(values=peak)).mark_point(size=60, filled=False, color="#888").encode(x="d:Q", y="score:Q")
    name = f"layer {head['layer_1based']}, head {head['head_1based']}"
    pair = f"'{example['query']}' → '{example['key']}'"
    title = [f"One head, one pair of vectors: {name}, {pair}"]
    sub = [f"The query of '{example['query']}' and the key of '{example['key']}' (the token before it) from the "
           f"model, turned by the model's own rotation:",
           "the query to position p + d, the key to p. The three lines lie on top of each other: the score "
           "depends on d, not on p."]
    if narrow:
        title = ["One head, one pair of vectors:", f"{name}, {pair}"]
        sub = [f"The query of '{example['query']}' and the key of", f"'{example['key']}' from the model, turned by its",
               "own rotation: the query to p + d, the key", "to p. The lines lie on top of each other:",
               "the score depends on d, not on p."]
    chart = alt.layer(lines, dot, label).properties(width=NARROW_WIDTH if narrow else OFFSET_WIDTH,
                                                    height=220 if narrow else 240, title={"text": title, "subtitle": sub})
    return _style(chart)
