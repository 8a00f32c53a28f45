"""Generated files of the corpus evidence (``docs/generated/evidence/``).

- ``winograd-heads/``, ``head-roles/``, ``pruning/``, ``contribution/``: the four charts (compiled
  Vega, its layout for phones ``spec-narrow.json``, fallback SVG);
- ``facts.json``: every number the article quotes from them.

The model runs and the measurements (:func:`build_scripts.groups.evidence.measure.measure`) are
cached in ``.build-cache/evidence/``, so a change to a chart alone redraws it without running the model.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import COLLECTION_FILE, CONFIG_FILE, model_extra
from build_scripts.pipeline.registry import Group

from .measure import SETTINGS_FILE


def build(ctx) -> dict[str, bytes]:
    from functools import partial

    import numpy as np

    from build_scripts.pipeline.render import chart_files

    from . import charts as ec
    from .measure import measure

    result = measure(ctx)
    facts, t = result["facts"], result["tables"]
    w, p = t["winograd"], t["pruning"]
    charts = {  # each drawn twice: for the article column, and (narrow=True) for phones
        "winograd-heads/": partial(ec.winograd_chart, np.array(w["accuracy"]), np.array(w["share"]),
                                   np.array(w["low"]), np.array(w["high"]), facts["winograd"]["n"],
                                   facts["winograd"]["null"]["p95"], facts["winograd"]["chance"]),
        "head-roles/": partial(ec.roles_chart, np.array(t["roles"]), facts["roles"]["n"]),
        "pruning/": partial(ec.pruning_chart, ec.pruning_rows(np.array(p["share"]), np.array(p["cosine"]),
                                                              np.array(p["neighbours"]))),
        "contribution/": partial(ec.contribution_chart, ec.contribution_rows(t["contribution"])),
    }
    files = {"facts.json": dumps(facts).encode()}
    for prefix, chart in charts.items():
        files |= chart_files(chart(), prefix, narrow=chart(narrow=True), narrow_below=ec.NARROW_BELOW)
    return files


GROUP = Group("evidence", module=__name__, build=build, files=[COLLECTION_FILE, CONFIG_FILE, SETTINGS_FILE], extra=model_extra)
