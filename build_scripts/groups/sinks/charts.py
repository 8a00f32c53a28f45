"""Charts of the attention-sink experiment: pure functions from tables to tidy rows, and from rows to
Altair.

- :func:`layers_chart`: the share of attention on the first token per layer (mean over the heads,
  95% band over texts), one line per corpus, each with its uniform null as a dashed rule;
- :func:`heads_chart`: every head's share, a layers x heads grid per corpus;
- :func:`perplexity_chart`: the perplexity of the long text under full attention, a window over
  the recent tokens, and the window plus the first tokens, with intervals.

Layers and heads are numbered from 1 in everything a reader sees. Every chart has a layout for
phones (``narrow=True``: one column about 250 px of plot, titles broken into lines, the legend
below, no text under 10 px; the page draws it below :data:`NARROW_BELOW`), and is drawn on the
page's own background, light or dark. The Winograd charts carry the collection's credit.
"""

from __future__ import annotations

import altair as alt
import numpy as np

from build_scripts.pipeline.render import FONT, FRAME, GRID

PRECISION = 4
WIDTH = 520
NARROW_WIDTH = 250  # px of plot: with the axis and its title it fits a 375 px phone
NARROW_BELOW = 600  # px: in an article column narrower than this the page draws the narrow layout
CORPORA = ("Winograd sentences", "prose passages")  # the order of the tables' corpora: "wsc", "prose"
COLOURS = ("#4c78a8", "#f58518")
PPL_COLOURS = ("#4c78a8", "#e45756", "#54a24b")  # full, window, window + sinks
WSC_CREDIT_LINES = ["Winograd sentences: Levesque, Davis & Morgenstern (2012),", "compiled by E. Davis, CC BY 4.0."]
MODEL = "SmolLM2-135M-Instruct (4-bit weights)"


def _r(x) -> float:
    return round(float(x), PRECISION) + 0.0  # + 0.0: no "-0.0"


def _lines(parts: list[str], narrow: bool):
    """A title or subtitle: one line per part on a phone, else the parts joined into one line."""
    return parts if narrow else " ".join(parts)


def _on_page(chart):
    """Drawn on the page's background (transparent), grid and frame in a grey that reads on both."""
    return (chart.configure(background="transparent")
            .configure_axis(labelFontSize=FONT, titleFontSize=FONT + 1, **GRID)
            .configure_legend(labelFontSize=FONT, titleFontSize=FONT + 1)
            .configure_header(labelFontSize=FONT + 1, titleFontSize=FONT + 1)
            .configure_title(fontSize=FONT + 3, subtitleFontSize=FONT)
            .configure_view(**FRAME))


def layer_rows(tables: dict, n: dict) -> list[dict]:
    """One row per corpus and layer: ``{corpus, layer (1-based), share, low, high, n}`` from the
    tables ``{"wsc": {layer, low, high}, "prose": {...}}`` (``[L]`` each); ``n`` texts per corpus."""
    rows = []
    for key, corpus in zip(("wsc", "prose"), CORPORA):
        t = tables[key]
        rows += [{"corpus": corpus, "layer": i + 1, "share": _r(s), "low": _r(lo), "high": _r(hi), "n": n[key]}
                 for i, (s, lo, hi) in enumerate(zip(t["layer"], t["low"], t["high"]))]
    return rows


def null_rows(tables: dict) -> list[dict]:
    """One row per corpus: its uniform null ``{corpus, null}``."""
    return [{"corpus": corpus, "null": _r(tables[key]["null"])} for key, corpus in zip(("wsc", "prose"), CORPORA)]


def layers_chart(rows: list[dict], nulls: list[dict], *, narrow: bool = False) -> alt.LayerChart:
    """Per layer, the mean over heads of the first-token share with its 95% band, per corpus; the
    uniform null of each corpus as a dashed rule of its colour. ``narrow``: 250 px, legend below."""
    scale = alt.Scale(domain=list(CORPORA), range=list(COLOURS))
    colour = alt.Color("corpus:N", title=None, scale=scale,
                       legend=alt.Legend(orient="bottom", direction="vertical" if narrow else "horizontal",
                                         symbolOpacity=1, symbolType="stroke", symbolStrokeWidth=3))
    layers = max(r["layer"] for r in rows)
    x = alt.X("layer:Q", title="layer (L)", scale=alt.Scale(domain=[1, layers], nice=False),
              axis=alt.Axis(values=[1, 5, 10, 15, 20, 25, 30] if not narrow else [1, 10, 20, 30], format="d"))
    y_title = ["share of attention", "on the first token"]
    y = alt.Y("share:Q", title=y_title, scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(format="%"))
    tooltip = [alt.Tooltip("corpus:N"), alt.Tooltip("layer:Q"),
               alt.Tooltip("share:Q", title="mean over heads", format=".3f"),
               alt.Tooltip("low:Q", title="95% interval from", format=".3f"),
               alt.Tooltip("high:Q", title="95% interval to", format=".3f"), alt.Tooltip("n:Q", title="texts")]
    base = alt.Chart(alt.Data(values=rows))
    band = base.mark_area(opacity=0.25).encode(x=x, y=alt.Y("low:Q", title=y_title), y2="high:Q", color=colour)
    line = base.mark_line(point=alt.OverlayMarkDef(size=20 if narrow else 28)).encode(
        x=x, y=y, color=colour, tooltip=tooltip)
    null = alt.Chart(alt.Data(values=nulls)).mark_rule(strokeDash=[4, 3]).encode(
        y="null:Q", color=alt.Color("corpus:N", scale=scale, legend=None),
        tooltip=[alt.Tooltip("corpus:N"), alt.Tooltip("null:Q", title="uniform head would give", format=".3f")])
    title = _lines(["How much attention goes", "to the first token, layer by layer"], narrow)
    sub = ([f"{MODEL}:", "each layer's mean over its heads,",
            "with its 95% interval (texts resampled).",
            "Dashed: what a head spreading its attention evenly",
            "would give the first token (same texts).", *WSC_CREDIT_LINES] if narrow else
           [f"{MODEL}: each layer's mean over its heads, with its 95% interval (texts resampled).",
            "Dashed: what a head spreading its attention evenly over the tokens it may see would give the first token.",
            " ".join(WSC_CREDIT_LINES)])
    chart = alt.layer(band, null, line).properties(width=NARROW_WIDTH if narrow else WIDTH,
                                                   height=220 if narrow else 260, title={"text": title, "subtitle": sub})
    return _on_page(chart)


def head_rows(tables: dict) -> list[dict]:
    """One row per corpus, layer and head: ``{corpus, layer, head, kv_head (1-based), share}``
    from the ``[L, H]`` tables ``tables[corpus]["head"]``; query head h reads key/value head h // 3."""
    rows = []
    for key, corpus in zip(("wsc", "prose"), CORPORA):
        head = np.asarray(tables[key]["head"])
        group = head.shape[1] // 3 or 1
        rows += [{"corpus": corpus, "layer": l + 1, "head": h + 1, "kv_head": h // group + 1, "share": _r(s)}
                 for (l, h), s in np.ndenumerate(head)]
    return rows


def heads_chart(rows: list[dict], *, narrow: bool = False) -> alt.FacetChart:
    """Every head's first-token share, a layers x heads grid per corpus side by side (the two
    panels fit a phone too: 9 columns each). ``narrow``: narrower cells, legend below, titles in lines."""
    gap = alt.Scale(paddingInner=0.06)
    legend = alt.Legend(orient="bottom", format="%", gradientLength=200 if narrow else 240, titleOrient="top",
                        titleLimit=260)
    cells = alt.Chart().mark_rect().encode(
        x=alt.X("head:O", title="head (H)", axis=alt.Axis(labelAngle=0), scale=gap),
        y=alt.Y("layer:O", title="layer (L)", scale=gap,
                axis=alt.Axis(values=[1, 5, 10, 15, 20, 25, 30])),
        color=alt.Color("share:Q", title="share on the first token",
                        scale=alt.Scale(domain=[0, 1], scheme="viridis"), legend=legend),
        tooltip=[alt.Tooltip("corpus:N"), alt.Tooltip("layer:O"), alt.Tooltip("head:O"),
                 alt.Tooltip("kv_head:O", title="key/value head"),
                 alt.Tooltip("share:Q", title="share on the first token", format=".3f")],
    ).properties(width=105 if narrow else 180, height=270 if narrow else 330)
    title = _lines(["Every head's share of attention", "on the first token"], narrow)
    sub = ([MODEL + ":", "mean over the texts' queries (all but the first).", *WSC_CREDIT_LINES] if narrow else
           [f"{MODEL}: mean over every query but the first, and over the texts.", " ".join(WSC_CREDIT_LINES)])
    chart = alt.FacetChart(data=alt.Data(values=rows), spec=cells,
                           facet=alt.Facet("corpus:N", title=None, sort=list(CORPORA),
                                           header=alt.Header(labelFontSize=FONT + 1)),
                           columns=2, spacing=8 if narrow else 20)
    return _on_page(chart.properties(title={"text": title, "subtitle": sub}))


def perplexity_rows(ppl: dict) -> list[dict]:
    """One row per condition ``{condition, perplexity, low, high, order}`` from the facts'
    ``perplexity`` section (``full``, ``window``, ``sinks`` and ``settings``)."""
    s = ppl["settings"]
    names = {"full": "full attention", "window": f"last {s['window']} tokens only",
             "sinks": f"last {s['window']} + first {s['sinks']}"}
    return [{"condition": names[k], "perplexity": _r(ppl[k]["perplexity"]), "low": _r(ppl[k]["low"]),
             "high": _r(ppl[k]["high"]), "order": i} for i, k in enumerate(("full", "window", "sinks"))]


def perplexity_chart(rows: list[dict], ppl: dict, *, narrow: bool = False) -> alt.LayerChart:
    """The three perplexities as dots with their 95% intervals (blocks of tokens resampled), one
    row per condition, each labelled with its value. ``narrow``: 180 px of plot beside the labels."""
    s = ppl["settings"]
    domain = [r["condition"] for r in sorted(rows, key=lambda r: r["order"])]
    colour = alt.Color("condition:N", scale=alt.Scale(domain=domain, range=list(PPL_COLOURS)), legend=None)
    hi = max(r["high"] for r in rows)
    x_title = "perplexity (lower is better)"
    x = alt.X("perplexity:Q", title=x_title, scale=alt.Scale(domain=[0, hi * 1.15], nice=False),
              axis=alt.Axis(tickCount=4 if narrow else 6))
    y = alt.Y("condition:N", title=None, sort=domain, axis=alt.Axis(labelLimit=120 if narrow else 200))
    tooltip = [alt.Tooltip("condition:N"), alt.Tooltip("perplexity:Q", format=".2f"),
               alt.Tooltip("low:Q", title="95% interval from", format=".2f"),
               alt.Tooltip("high:Q", title="95% interval to", format=".2f")]
    base = alt.Chart(alt.Data(values=rows))
    bars = base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title=x_title), x2="high:Q", y=y, color=colour)
    dots = base.mark_circle(size=70, opacity=1).encode(x=x, y=y, color=colour, tooltip=tooltip)
    labels = base.mark_text(align="left", dx=6, dy=-9, fontSize=FONT + 1).encode(
        x="perplexity:Q", y=y, text=alt.Text("perplexity:Q", format=".1f"), color=colour)
    title = _lines(["What a window over the recent tokens costs,", "and what keeping the first tokens gives back"],
                   narrow)
    scored = (f"{ppl['scored']} tokens scored (positions {ppl['scored_from_1based']} to {ppl['scored_to_1based']}, "
              "where the window hides the start)")
    sub = ([MODEL, f"on {s['tokens']} tokens of this site's own article text;",
            f"{ppl['scored']} tokens scored, positions {ppl['scored_from_1based']} to {ppl['scored_to_1based']}",
            "(where the window hides the start);", f"95% intervals resample blocks of {s['block']} tokens."]
           if narrow else
           [f"{MODEL} on {s['tokens']} tokens of this site's own article text;",
            f"{scored}; 95% intervals resample blocks of {s['block']} tokens."])
    chart = alt.layer(bars, dots, labels).properties(width=180 if narrow else WIDTH - 120, height=120 if narrow else 130,
                                                     title={"text": title, "subtitle": sub})
    return _on_page(chart)
