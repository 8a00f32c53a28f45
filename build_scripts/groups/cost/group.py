"""Generated files of the cost chart (``docs/generated/cost/``) from the benchmark JSON: the chart
(compiled Vega, its layout for phones, fallback SVG) and ``facts.json``, the numbers the prose
quotes (see :mod:`build_scripts.groups.cost.measure`). Which backend builds the charts plays no part.
"""

from __future__ import annotations

import json

from build_scripts.pipeline.artifacts import dumps, versions
from build_scripts.pipeline.registry import Group

from .measure import RESULTS_CONFIG, peers_path, results_paths


def build(ctx) -> dict[str, bytes]:
    from build_scripts.pipeline.render import chart_files

    from . import charts, measure

    every = measure.load_results(ctx.root)
    ctx.log(f"results of {', '.join(r['header']['backend'] for r in every)}")
    tables = [measure.cost_table(r) for r in every]
    rows = [row for t in tables for row in t]
    facts = measure.facts(every[0], tables[0])
    if (rel := peers_path(ctx.root)) and (ctx.root / rel).is_file():
        facts["peers"] = measure.peers_facts(json.loads((ctx.root / rel).read_text()))
    files = chart_files(charts.cost_chart(rows), narrow=charts.cost_chart(rows, narrow=True),
                        narrow_below=charts.NARROW_BELOW)
    return files | {"facts.json": dumps(facts).encode()}


GROUP = Group("cost", module=__name__, build=build,
              files=[RESULTS_CONFIG, *results_paths(), *filter(None, [peers_path()])],
              extra=lambda: {"versions": versions("altair", "vl-convert-python")})
