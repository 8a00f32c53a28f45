"""Charts to files: an Altair chart (or a Vega-Lite dict) compiled to Vega, with its static SVG.

The site ships Vega only (no Vega-Lite compiler in the page); the SVG is the view for readers
without JavaScript. A spec drawn by a widget of its own says which (``usermeta.widget``: the module
``docs/assets/js/<widget>.js``; a spec without it is a plain chart, drawn by ``chart.js``), and a
layout for phones says below which column width the page draws it instead of the wide one
(``usermeta.narrow_below`` of ``spec-narrow.json``): the one phone-layout rule of every widget.
"""

from __future__ import annotations

import re

from .artifacts import dumps

# The article's chart theme, one for every group. Charts are drawn on the page's own background, light
# or dark, so grid lines and frames are a grey that reads on both; FONT is the smallest text a chart
# may draw (axis labels, rule labels, subtitles), the size the clipping test holds at 375 px.
GRID = {"gridColor": "#888", "gridOpacity": 0.35}
FRAME = {"stroke": "#888", "strokeOpacity": 0.35}
FONT = 10  # px


def stable_svg(spec: dict, vega: bool = False) -> str:
    """``vl_convert.vegalite_to_svg`` (``vega_to_svg`` when ``vega``), with its ids (``gradient_2``)
    renumbered from 0 per document.

    vl-convert numbers gradients with a counter that lives as long as the process, so the same chart
    would get other ids after other charts were rendered first (a partial rebuild, a test run).
    """
    import vl_convert as vlc

    svg = vlc.vega_to_svg(spec) if vega else vlc.vegalite_to_svg(spec)
    mapping: dict[str, str] = {}
    counts: dict[str, int] = {}
    for prefix, number in re.findall(r'id="([A-Za-z]+_)(\d+)"', svg):
        if prefix + number not in mapping:
            mapping[prefix + number] = f"{prefix}{counts.get(prefix, 0)}"
            counts[prefix] = counts.get(prefix, 0) + 1
    return re.sub(r"\b[A-Za-z]+_\d+\b", lambda m: mapping.get(m.group(), m.group()), svg)


def to_vega(chart) -> dict:
    """An Altair chart or a Vega-Lite dict, compiled to Vega."""
    import vl_convert as vlc

    return vlc.vegalite_to_vega(chart if isinstance(chart, dict) else chart.to_dict())


def with_meta(vega: dict, widget: str = "chart", **meta) -> dict:
    """``vega`` with ``usermeta.widget`` (left out for a plain ``chart``) and any other ``meta`` set:
    what the page reads to mount it."""
    meta = ({} if widget == "chart" else {"widget": widget}) | meta
    return {**vega, "usermeta": {**vega.get("usermeta", {}), **meta}} if meta else vega


def chart_files(chart, prefix: str = "", narrow=None, narrow_below: int = 0, widget: str = "chart") -> dict[str, bytes]:
    """``{prefix}spec.json`` and ``{prefix}default.svg`` of a chart, ready for a group's output.

    ``widget``: the widget kind that draws it (see the module docstring). ``narrow``: the same chart
    laid out for a phone, written as ``{prefix}spec-narrow.json``; the page draws it instead where
    the article column is narrower than ``narrow_below`` px.
    """
    spec = chart if isinstance(chart, dict) else chart.to_dict()
    files = {f"{prefix}spec.json": dumps(with_meta(to_vega(spec), widget)).encode(),
             f"{prefix}default.svg": stable_svg(spec).encode()}
    if narrow is not None:
        files |= narrow_file(to_vega(narrow), narrow_below, widget, prefix)
    return files


def narrow_file(vega: dict, narrow_below: int, widget: str, prefix: str = "") -> dict[str, bytes]:
    """``{prefix}spec-narrow.json``: a compiled spec for phones, drawn below ``narrow_below`` px."""
    return {f"{prefix}spec-narrow.json": dumps(with_meta(vega, widget, narrow_below=narrow_below)).encode()}
