"""Generated files of "Watch induction heads form" (``docs/generated/phase-change/``): the widget
(``chart/``: a training-step slider over the loss curves, the two heads' attention on one
sequence and their scores; compiled Vega, a layout for phones, fallback SVG) and ``facts.json``.
The training run is cached (:mod:`build_scripts.groups.phase_change.measure`), so a change to the
chart redraws it without training again.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.registry import Group

from .measure import extra


def build(ctx) -> dict[str, bytes]:
    from build_scripts.pipeline.render import chart_files

    from . import charts, measure

    result = measure.measure(ctx)
    heads = measure.circuit(result)
    facts = measure.facts(result)
    facts["circuit"] = {role: h["label"] for role, h in heads.items()}
    probe = result["probe"]
    copied = [i for i, c in enumerate(probe["copied"]) if c]
    facts["probe"] = {"length": len(probe["tokens"]), "copy_first_1based": copied[0] + 1,
                      "copy_last_1based": copied[-1] + 1, "source_first_1based": probe["source"] + 1,
                      "span": probe["span"]}
    args = dict(steps=result["steps"], phase=result["models"]["2-layer"]["runs"][0]["phase_change_step"],
                nulls=result["uniform_null"], copy=(copied[0], probe["source"]))
    curves, maps, scores = charts.curve_rows(result), charts.attention_rows(result, heads), charts.score_rows(result, heads)
    files = chart_files(charts.phase_chart(curves, maps, scores, **args), "chart/", widget="training",
                        narrow=charts.phase_chart(curves, maps, scores, narrow=True, **args),
                        narrow_below=charts.NARROW_BELOW)
    files["facts.json"] = dumps(facts).encode()
    return files


GROUP = Group("phase-change", module=__name__, build=build, extra=extra)
