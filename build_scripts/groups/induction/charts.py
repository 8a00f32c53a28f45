"""The induction-head charts: pure functions from arrays to tidy rows, and from rows to Altair.

- *heads*: all 270 heads of SmolLM2, induction score (y) against previous-token score (x), both on
  square-root scales so that the nulls near 0 and the heads near 1 both read; the top induction
  heads and their previous-token partners marked and labelled, the best-of-heads shuffled-target
  nulls of both scores drawn as dashed rules;
- *ablation*: the loss on the second copy with the top k induction heads removed against k random
  heads (every draw a dot, their mean a line), the previous-token partners removed, and the loss on
  the first copy with the top k removed (what does not change).

Layers and heads are numbered from 1 in everything a reader sees. Each chart has a layout for
phones (``narrow=True``: about 260 px of plot in a 375 px screen, titles in lines, the legend below,
no text under 10 px) and is drawn on the page's own background, light or dark.
"""

from __future__ import annotations

import altair as alt
import numpy as np

from build_scripts.pipeline.render import FONT, FRAME, GRID

PRECISION = 4
WIDTH, HEIGHT = 480, 340
NARROW_WIDTH, NARROW_HEIGHT = 260, 300  # px of plot: with the axes it fits a 375 px phone
NARROW_BELOW = 600  # px: in an article column narrower than this the page draws the narrow layout
INDUCTION, PARTNER, OTHER, NULL, FIRST = "#f58518", "#9467bd", "#4c78a8", "#e45756", "#888888"
KINDS = ("induction head", "previous-token partner", "other heads")
LABEL_GAP = 13  # px between two labels' baselines
AXIS_VALUES = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1]
AXIS_FORMAT = ".2~f"  # 0.25 stays 0.25, 1 stays 1


def _r(x) -> float:
    return round(float(x), PRECISION) + 0.0  # + 0.0: no "-0.0"


def _lines(parts: list[str], narrow: bool):
    """A title or subtitle: one line per part on a phone, else the parts joined into one line."""
    return parts if narrow else " ".join(parts)


def name(layer: int, head: int) -> str:
    """A head as the reader sees it, from 1-based numbers."""
    return f"layer {layer}, head {head}"


def short(layer: int, head: int) -> str:
    """A chart label, from 1-based numbers: L19 H7 (the subtitle says what it stands for)."""
    return f"L{layer} H{head}"


def head_rows(induction, previous, induction_low, induction_high, previous_low, previous_high, twin,
              top, partners) -> list[dict]:
    """One row per head from ``[L, H]`` arrays and the flat (0-based) indices of the ``top``
    induction heads and their ``partners``; numbers 1-based; marked heads last (drawn on top)."""
    induction = np.asarray(induction)
    heads = induction.shape[1]
    top, partners = [int(f) for f in top], [int(f) for f in partners]
    rows = []
    for (l, h), score in np.ndenumerate(induction):
        f = l * heads + h
        kind = KINDS[0] if f in top else KINDS[1] if f in partners else KINDS[2]
        rows.append({"layer": l + 1, "head": h + 1, "name": name(l + 1, h + 1), "label": short(l + 1, h + 1),
                     "kind": kind, "induction": _r(score), "previous": _r(previous[l][h]),
                     "induction_low": _r(induction_low[l][h]), "induction_high": _r(induction_high[l][h]),
                     "previous_low": _r(previous_low[l][h]), "previous_high": _r(previous_high[l][h]),
                     "twin": _r(twin[l][h])})
    rows.sort(key=lambda r: (KINDS.index(r["kind"]) * -1, r["layer"], r["head"]))
    return rows


def _px(v: float, size: float) -> float:
    """Pixels from the low end of a square-root axis on [0, 1] of ``size`` px."""
    return size * float(np.sqrt(max(v, 0.0)))


def _value(px: float, size: float) -> float:
    return float(np.clip(px / size, 0.0, 1.0)) ** 2


def dodge(wanted: list[float], gap: float, low: float, high: float) -> list[float]:
    """Label positions (px, any order) as near ``wanted`` as the ``gap`` between neighbours allows,
    kept within ``[low, high]``: sorted, pushed apart upward, then shifted back down under ``high``."""
    order = np.argsort(wanted, kind="stable")
    pos = np.array(wanted, float)[order]
    for i in range(len(pos)):
        pos[i] = max(pos[i], low if i == 0 else pos[i - 1] + gap)
    for i in range(len(pos) - 1, -1, -1):
        pos[i] = min(pos[i], high if i == len(pos) - 1 else pos[i + 1] - gap)
    out = np.empty(len(pos))
    out[order] = pos
    return out.tolist()


def label_rows(rows: list[dict], width: float, height: float) -> list[dict]:
    """Where each marked head's label goes: the induction heads' in a column right of their
    points, the partners' in a column left of theirs, each column dodged (``dodge``); the leader
    line runs from the point to the label. Positions in data units of the square-root axes."""
    out = []
    for kind, side in ((KINDS[0], "right"), (KINDS[1], "left")):
        marked = [r for r in rows if r["kind"] == kind]
        if not marked:
            continue
        xs = [_px(r["previous"], width) for r in marked]
        ys = [height - _px(r["induction"], height) for r in marked]  # px from the top
        column = max(xs) + 12 if side == "right" else min(xs) - 12
        # the partners sit near the floor: their labels stack upward from just above it
        placed = dodge(ys, LABEL_GAP, 8, height - 4) if side == "right" else \
            dodge([min(y, height - 12) for y in ys], LABEL_GAP, 8, height - 12)
        for r, y in zip(marked, placed):
            out.append({"kind": kind, "label": r["label"], "name": r["name"], "align": "left" if side == "right" else "right",
                        "x": _r(r["previous"]), "y": _r(r["induction"]),
                        "label_x": _r(_value(column, width)), "label_y": _r(_value(height - y, height))})
    return out


def heads_chart(rows: list[dict], induction_null: float, previous_null: float, twin_best: float, n: int,
                tokens: int, *, narrow: bool = False) -> alt.LayerChart:
    """All heads (see the module doc) from :func:`head_rows`. ``induction_null``, ``previous_null``:
    the 95th percentiles of the two best-of-heads shuffled-target nulls; ``twin_best``: the best
    head's induction score on the non-repeated twins; ``n`` sequences of 2 x ``tokens`` tokens."""
    width, height = (NARROW_WIDTH, NARROW_HEIGHT) if narrow else (WIDTH, HEIGHT)
    heads = len(rows)
    sqrt = alt.Scale(type="sqrt", domain=[0, 1], nice=False)
    x = alt.X("previous:Q", scale=sqrt, axis=alt.Axis(values=AXIS_VALUES, format=AXIS_FORMAT),
              title=(["previous-token score:", "weight on the token before"] if narrow
                     else "previous-token score: mean weight on the token before (square-root scale)"))
    y = alt.Y("induction:Q", scale=sqrt, axis=alt.Axis(values=AXIS_VALUES, format=AXIS_FORMAT),
              title=["induction score: weight on the token", "after the earlier occurrence"])
    colour = alt.Color("kind:N", scale=alt.Scale(domain=list(KINDS), range=[INDUCTION, PARTNER, OTHER]),
                       legend=alt.Legend(title=None, orient="bottom" if narrow else "right", labelFontSize=FONT,
                                         direction="vertical"))
    tooltip = [alt.Tooltip("name:N", title="head"),
               alt.Tooltip("induction:Q", title="induction score", format=".3f"),
               alt.Tooltip("induction_low:Q", title="95% interval from", format=".3f"),
               alt.Tooltip("induction_high:Q", title="95% interval to", format=".3f"),
               alt.Tooltip("twin:Q", title="on non-repeated twins", format=".3f"),
               alt.Tooltip("previous:Q", title="previous-token score", format=".3f")]
    base = alt.Chart(alt.Data(values=rows))
    dots = base.mark_circle(opacity=0.85, stroke="#fff", strokeWidth=0.5).encode(
        x=x, y=y, color=colour, tooltip=tooltip,
        size=alt.condition(alt.datum.kind == KINDS[2], alt.value(22 if narrow else 30), alt.value(60 if narrow else 80)),
        description=alt.Description("description:N"),
    ).transform_calculate(description="datum.name + ': induction ' + format(datum.induction, '.2f') + "
                                      "', previous token ' + format(datum.previous, '.2f')")
    labels = label_rows(rows, width, height)
    label_data = alt.Data(values=labels)
    leaders = alt.Chart(label_data).mark_rule(strokeWidth=0.8, opacity=0.7).encode(
        x=alt.X("x:Q", scale=sqrt), y=alt.Y("y:Q", scale=sqrt), x2="label_x:Q", y2="label_y:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=list(KINDS), range=[INDUCTION, PARTNER, OTHER]), legend=None))
    texts = [alt.Chart(alt.Data(values=[r for r in labels if r["align"] == align])).mark_text(
        align=align, dx=3 if align == "left" else -3, baseline="middle", fontSize=FONT, fontWeight="bold").encode(
        x=alt.X("label_x:Q", scale=sqrt), y=alt.Y("label_y:Q", scale=sqrt), text="label:N",
        color=alt.Color("kind:N", scale=alt.Scale(domain=list(KINDS), range=[INDUCTION, PARTNER, OTHER]), legend=None))
        for align in ("left", "right") if any(r["align"] == align for r in labels)]
    luck = [{"v": _r(induction_null), "label": "best by luck" if narrow else f"best of {heads} by luck (95th pct.)"}]
    h_rule = alt.Chart(alt.Data(values=luck)).mark_rule(color=NULL, strokeDash=[4, 3]).encode(y=alt.Y("v:Q", scale=sqrt))
    # the label where the plot is empty above the rule: right of the previous-token null, left of the partners
    h_text = alt.Chart(alt.Data(values=luck)).mark_text(align="left", dx=4, dy=-5, fontSize=FONT, color=NULL).encode(
        y=alt.Y("v:Q", scale=sqrt), x=alt.X("x:Q", scale=sqrt), text="label:N").transform_calculate(x=str(_r(previous_null)))
    v_rule = alt.Chart(alt.Data(values=[{"v": _r(previous_null)}])).mark_rule(color=NULL, strokeDash=[4, 3]).encode(
        x=alt.X("v:Q", scale=sqrt))
    title = _lines(["Induction heads and previous-token heads:", f"all {heads} heads of SmolLM2"], narrow)
    parts = [f"{n} random word sequences, each {tokens} words and then the same {tokens} again; each head's mean "
             "score. L19 H7 = layer 19, head 7.",
             f"Dashed: what the best of {heads} heads reaches by luck (targets shuffled among the visible tokens).",
             f"On non-repeated sequences no head's induction score passes {twin_best:.2f}."]
    if narrow:
        parts = [f"{n} random word sequences, {tokens} words", f"then the same {tokens} again; each head's mean.",
                 "L19 H7 = layer 19, head 7.", f"Dashed: the best of {heads} heads by luck",
                 "(targets shuffled). Without a repeat no head's", f"induction score passes {twin_best:.2f}."]
    chart = alt.layer(h_rule, v_rule, dots, leaders, *texts, h_text).properties(
        width=width, height=height, title={"text": title, "subtitle": parts})  # subtitle in lines on every layout
    return _configure(chart)


def _configure(chart):
    return (chart.configure(background="transparent")
            .configure_axis(labelFontSize=FONT, titleFontSize=FONT + 1, **GRID)
            .configure_legend(labelFontSize=FONT, titleFontSize=FONT + 1, symbolSize=60)
            .configure_title(fontSize=FONT + 3, subtitleFontSize=FONT)
            .configure_view(**FRAME))


SERIES = ("top k induction heads removed", "k random heads removed", "previous-token partners removed",
          "first copy, top k removed")
SERIES_COLOURS = (INDUCTION, OTHER, PARTNER, FIRST)


def ablation_rows(ablation: list[dict], intact: dict, partners: dict) -> tuple[list[dict], list[dict]]:
    """``(lines, draws)`` for :func:`ablation_chart` from the measure's rows (per k: the top k's
    first- and second-copy loss, each random draw's), the intact losses and the partners' run."""
    lines = [{"k": 0, "series": SERIES[0], "loss": _r(intact["second"])},
             {"k": 0, "series": SERIES[1], "loss": _r(intact["second"])},
             {"k": 0, "series": SERIES[3], "loss": _r(intact["first"])}]
    draws = []
    for row in ablation:
        k = row["k"]
        lines += [{"k": k, "series": SERIES[0], "loss": _r(row["top_second"])},
                  {"k": k, "series": SERIES[1], "loss": _r(np.mean(row["random_second"]))},
                  {"k": k, "series": SERIES[3], "loss": _r(row["top_first"])}]
        draws += [{"k": k, "series": SERIES[1], "loss": _r(v), "draw": d + 1} for d, v in enumerate(row["random_second"])]
    draws.append({"k": partners["k"], "series": SERIES[2], "loss": _r(partners["second"]), "draw": 0})
    return lines, draws


def ablation_chart(lines: list[dict], draws: list[dict], n: int, tokens: int, random_draws: int, collapses: bool,
                   beats_random: bool, *, narrow: bool = False) -> alt.LayerChart:
    """Loss against heads removed (see the module doc) from :func:`ablation_rows`. The title states
    what the verdicts say: ``collapses`` (copying collapses with the most heads removed) and
    ``beats_random`` (the top k raise the loss more than every random draw, at every k)."""
    width, height = (NARROW_WIDTH, 220) if narrow else (WIDTH, 260)
    ks = sorted({r["k"] for r in lines})
    top = max(r["loss"] for r in lines + draws)
    x = alt.X("k:Q", title="heads removed (k)", scale=alt.Scale(domain=[0, max(ks)], nice=False),
              axis=alt.Axis(values=ks, format="d"))
    y = alt.Y("loss:Q", title=["loss per token (nats)"], scale=alt.Scale(domain=[0, float(np.ceil(top))], nice=False))
    colour = alt.Color("series:N", scale=alt.Scale(domain=list(SERIES), range=list(SERIES_COLOURS)),
                       legend=alt.Legend(title=None, orient="bottom", direction="vertical", labelLimit=300))
    dash = alt.StrokeDash("series:N", scale=alt.Scale(domain=list(SERIES), range=[[1, 0], [1, 0], [1, 0], [4, 3]]),
                          legend=None)
    tip = [alt.Tooltip("series:N", title="run"), alt.Tooltip("k:Q", title="heads removed"),
           alt.Tooltip("loss:Q", title="loss (nats)", format=".2f")]
    line = alt.Chart(alt.Data(values=lines)).mark_line(point=True, strokeWidth=2).encode(
        x=x, y=y, color=colour, strokeDash=dash, tooltip=tip)
    dots = alt.Chart(alt.Data(values=draws)).mark_point(filled=True, opacity=0.75).encode(
        x=x, y=y, color=colour, tooltip=[*tip, alt.Tooltip("draw:Q", title="random draw")],
        shape=alt.condition(alt.datum.series == SERIES[2], alt.value("diamond"), alt.value("circle")),
        size=alt.condition(alt.datum.series == SERIES[2], alt.value(110 if narrow else 140),
                           alt.value(36 if narrow else 46)))
    first = "Remove the induction heads and the copying " + ("stops;" if collapses else "weakens;")
    second = "remove random heads and it " + ("goes on" if beats_random else "may stop too")
    title = _lines([first, second], narrow)
    parts = [f"Loss on the second copy of {n} held-out sequences ({tokens} words, then the same {tokens} again);",
             f"each dot one of {random_draws} random draws. Dashed: the first copy, which nothing can be copied into."]
    if narrow:
        parts = [f"Loss on the second copy of {n} held-out", f"sequences ({tokens} words, then the same again);",
                 f"each dot one of {random_draws} random draws. Dashed:", "the first copy (nothing to copy there)."]
    chart = alt.layer(line, dots).properties(width=width, height=height, title={"text": title, "subtitle": parts})
    return _configure(chart)
