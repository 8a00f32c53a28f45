"""The head view's chart: a Vega spec whose signals and transforms compute every view.

The widget (``docs/assets/js/head-view.js``) only routes data into it: ``tokens`` (one row per
token of the chosen level: ``i``, ``label``, ``special``) and ``att`` (one row per head of the
chosen layer: ``head``, ``m`` = the head's ``[n][n]`` weights, row = query), and sets the signals
``query``, ``heads`` (the heads shown) and ``show_special``; for a decoder's text also ``causal``
(no line to a later key), ``upto`` (tokens after it are not written yet) and ``writing`` (the token
being written, named by the readout). Which words are shown, the
renormalisation when [CLS]/[SEP] are hidden, the layout (one row of words, or BertViz's two
columns on a narrow screen or for a long sentence), the lines, the ranking and the readout are all
computed here, once: the browser runs it, vl-convert runs it for the static fallback and the
standalone export's image. The payloads it draws are :mod:`build_scripts.pipeline.payloads`'.
"""

from __future__ import annotations

import numpy as np

from build_scripts.pipeline.artifacts import rounded
from build_scripts.pipeline.payloads import PALETTE, PRECISION

CHAR_W, GAP = 7.0, 16.0  # layout: px per character at 13 px, gap between words
TOP, BOTTOM = 20.0, 150.0  # y of the query row and the key row
HEAD_OFFSET = 4.0  # px between the line ends of overlaid heads

ROW_H = 26  # px per word in the two-column layout (a touch-sized target)
READOUT_TOP = 5  # keys named per head in the readout
COLUMN_MAX = 460  # px: the two-column layout does not spread wider than this
BREAKPOINT = 560  # px: below this container width, always two columns


def _signals(query: int, heads: list[int], show_special: bool) -> list[dict]:
    return [
        {"name": "query", "value": query,
         "on": [{"events": "@word:click, @key:click", "update": "datum.i"}]},
        {"name": "heads", "value": heads},
        {"name": "show_special", "value": show_special},
        # a decoder's text: no lines to later keys (causal), tokens after `upto` not written yet,
        # and `writing` the token being written (its readout says so)
        {"name": "causal", "value": False},
        {"name": "upto", "value": 1000000},
        {"name": "writing", "value": ""},
        {"name": "cw", "init": "containerSize()[0] || 640",
         "on": [{"events": "window:resize", "update": "containerSize()[0] || cw"}]},
        {"name": "total", "update": "length(data('extent')) ? data('extent')[0].total : 0"},
        {"name": "count", "update": "length(data('extent')) ? data('extent')[0].count : 0"},
        {"name": "vertical", "update": f"cw < {BREAKPOINT} || total > cw - 10"},
        {"name": "colw", "update": f"min(cw - 10, {COLUMN_MAX})"},
        {"name": "xl", "update": "round(colw * 0.38)"},  # right edge of the query column
        {"name": "xr", "update": "round(colw * 0.62)"},  # left edge of the key column
        {"name": "qsel", "update": "length(data('picked')) ? data('picked')[0].i : "
                                   "(length(data('shown')) ? data('shown')[0].i : 0)"},
        {"name": "width", "update": "vertical ? colw : total"},
        {"name": "height", "update": f"vertical ? count * {ROW_H} + 8 : {BOTTOM + 14}"},
        # the label of the query shown (qsel), and the readout: one line per head shown
        {"name": "qlabel", "update": "length(data('picked')) ? data('picked')[0].label : "
                                     "(length(data('shown')) ? data('shown')[0].label : '')"},
        {"name": "readout", "update": "(writing ? 'Writing \\'' + writing + '\\': ' : '') + "
                                      "(length(data('readout_lines')) ? join(pluck(data('readout_lines'), 'line'), '\\n')"
                                      " : 'No head selected: tick at least one head.')"},
    ]


def _data(tokens: list[dict], att: list[dict]) -> list[dict]:
    return [
        {"name": "tokens", "values": tokens},
        {"name": "shown", "source": "tokens", "transform": [
            {"type": "filter", "expr": "(show_special || !datum.special) && datum.i <= upto"},
            {"type": "window", "ops": ["row_number"], "as": ["r"]},
            {"type": "formula", "as": "wpx", "expr": f"length(datum.label) * {CHAR_W} + {GAP}"},
            {"type": "window", "ops": ["sum"], "fields": ["wpx"], "as": ["cum"], "frame": [None, 0]},
            {"type": "formula", "as": "cx", "expr": f"datum.cum - {GAP} - length(datum.label) * {CHAR_W} / 2"},
            {"type": "formula", "as": "vy", "expr": f"(datum.r - 1) * {ROW_H} + {ROW_H} / 2 + 4"},
        ]},
        {"name": "extent", "source": "shown", "transform": [
            {"type": "aggregate", "ops": ["max", "count"], "fields": ["cum", "i"], "as": ["cum", "count"]},
            {"type": "formula", "as": "total", "expr": f"datum.cum - {GAP}"},
        ]},
        {"name": "picked", "source": "shown", "transform": [{"type": "filter", "expr": "datum.i === query"}]},
        {"name": "att", "values": att},
        {"name": "links", "source": "att", "transform": [
            {"type": "filter", "expr": "indexof(heads, datum.head) >= 0"},
            {"type": "flatten", "fields": ["m"], "index": "q", "as": ["row"]},
            {"type": "filter", "expr": "datum.q === qsel"},
            {"type": "flatten", "fields": ["row"], "index": "k", "as": ["raw"]},
            {"type": "filter", "expr": "!causal || datum.k <= qsel"},
            {"type": "lookup", "from": "shown", "key": "i", "fields": ["k"], "as": ["key"]},
            {"type": "filter", "expr": "datum.key != null"},
            {"type": "joinaggregate", "groupby": ["head"], "ops": ["sum"], "fields": ["raw"], "as": ["kept"]},
            # hidden [CLS]/[SEP]: the rest of the row is rescaled to sum to 1
            {"type": "formula", "as": "weight", "expr": "show_special ? datum.raw : (datum.kept > 0 ? datum.raw / datum.kept : 0)"},
            {"type": "formula", "as": "removed", "expr": "show_special ? 0 : clamp(1 - datum.kept, 0, 1)"},
            {"type": "formula", "as": "label", "expr": "datum.key.label"},
            {"type": "formula", "as": "slot", "expr": "indexof(heads, datum.head) - (length(heads) - 1) / 2"},
            {"type": "window", "groupby": ["head"], "sort": {"field": ["weight", "k"], "order": ["descending", "ascending"]},
             "ops": ["row_number"], "as": ["rank"]},
            {"type": "formula", "as": "description",
             "expr": "'head ' + (datum.head + 1) + ': ' + datum.label + ' ' + format(datum.weight, '.2f')"},
        ]},
        # the readout: per head, its READOUT_TOP strongest keys, and how much hiding [CLS]/[SEP] removed
        {"name": "readout_lines", "source": "links", "transform": [
            {"type": "joinaggregate", "groupby": ["head"], "ops": ["count"], "as": ["n_links"]},
            {"type": "filter", "expr": f"datum.rank <= {READOUT_TOP}"},
            {"type": "formula", "as": "part", "expr": "datum.label + ' ' + format(datum.weight, '.2f')"},
            {"type": "window", "groupby": ["head"], "sort": {"field": "rank"}, "ops": ["values"], "fields": ["part"],
             "as": ["parts"], "frame": [None, 0]},
            {"type": "filter", "expr": f"datum.rank === min({READOUT_TOP}, datum.n_links)"},
            {"type": "formula", "as": "line", "expr": (
                "'head ' + (datum.head + 1) + ': \\'' + qlabel + '\\' → ' + join(pluck(datum.parts, 'part'), ', ')"
                f" + (datum.n_links > {READOUT_TOP} ? ', …' : '') + (datum.removed > 0 ? ' ([CLS]/[SEP] hidden: ' + "
                "format(datum.removed, '.2f') + ' of the attention removed, the rest rescaled)' : '')")},
            {"type": "collect", "sort": {"field": "head"}},
        ]},
    ]  # fmt: skip


def _word_mark(name: str, side: str) -> dict:
    """The words of one side: ``word`` = the query row (or left column), ``key`` = the key row (right column)."""
    left = side == "word"
    x = ({"signal": "vertical ? xl : datum.cx"} if left else {"signal": "vertical ? xr : datum.cx"})
    y = {"signal": f"vertical ? datum.vy : {TOP if left else BOTTOM}"}
    sel = "datum.i === qsel" + ("" if left else " && vertical")
    return {
        "type": "text", "name": name, "from": {"data": "shown"},
        "encode": {"update": {
            "x": x, "y": y, "text": {"field": "label"},
            "align": {"signal": f"vertical ? '{'right' if left else 'left'}' : 'center'"},
            "baseline": {"value": "middle"}, "cursor": {"value": "pointer"},
            "fontSize": {"signal": f"{sel} ? 15 : 13"},
            "fontWeight": {"signal": f"{sel} ? 'bold' : 'normal'"},
            "fillOpacity": {"signal": "datum.special ? 0.65 : 1"},
            "fill": {"value": "#222"},
            "description": {"field": "label"},
        }},
    }


def head_view_spec(tokens: list[dict], att: list[dict], *, query: int, heads: list[int], show_special: bool = True,
                   title: str = "") -> dict:
    """The head view as a Vega spec (see the comment above), with one view's data filled in.

    ``tokens``: ``[{"i", "label", "special"}]``; ``att``: ``[{"head", "m": [n][n]}]`` for one layer.
    """
    line_x = {"signal": "vertical ? xl + 5 : qpos.cx"}
    spec = {
        "$schema": "https://vega.github.io/schema/vega/v6.json",
        "description": title or "Attention lines from the query word to every word; thicker = more weight.",
        "background": "transparent", "padding": 5, "autosize": {"type": "pad"},
        "signals": _signals(query, heads, show_special) + [
            {"name": "qpos", "update": "length(data('picked')) ? data('picked')[0] : "
                                       "(length(data('shown')) ? data('shown')[0] : {cx: 0, vy: 0})"}],
        "data": _data(tokens, att),
        "scales": [
            {"name": "colour", "type": "ordinal", "domain": list(range(len(PALETTE))), "range": PALETTE},
            {"name": "size", "type": "linear", "domain": [0, 1], "range": [0.5, 12], "zero": False},
            {"name": "opacity", "type": "linear", "domain": [0, 1], "range": [0.15, 1], "zero": False},
        ],
        "marks": [
            {"type": "rule", "name": "line", "from": {"data": "links"}, "encode": {"update": {
                "x": line_x,
                "y": {"signal": f"vertical ? qpos.vy : {TOP + 10}"},
                "x2": {"signal": f"vertical ? xr - 5 : datum.key.cx + datum.slot * {HEAD_OFFSET}"},
                "y2": {"signal": f"vertical ? datum.key.vy + datum.slot * 2 : {BOTTOM - 12}"},
                "stroke": {"scale": "colour", "field": "head"},
                "strokeWidth": {"scale": "size", "field": "weight"},
                "strokeOpacity": {"scale": "opacity", "field": "weight"},
                "strokeCap": {"value": "round"},
                "tooltip": {"signal": "{'head': datum.head + 1, 'key word': datum.label, 'weight': format(datum.weight, '.3f')}"},
                "description": {"field": "description"},
            }}},
            _word_mark("word", "word"),
            _word_mark("key", "key"),
        ],
    }  # fmt: skip
    return spec


def layer_rows(attention, layer: int) -> list[dict]:
    """The ``att`` data set of one layer: ``[{"head": h, "m": attention[layer][h]}]``."""
    return [{"head": h, "m": m} for h, m in enumerate(rounded(np.asarray(attention)[layer], PRECISION))]


def token_rows(level: dict) -> list[dict]:
    """The ``tokens`` data set of one level (``payload["word"]`` or ``payload["token"]``)."""
    return [{"i": i, "label": lab, "special": bool(sp)} for i, (lab, sp) in enumerate(zip(level["labels"], level["special"]))]
