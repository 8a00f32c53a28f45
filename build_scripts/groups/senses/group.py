"""Generated files of the sense-pair test (``docs/generated/senses/``).

- ``heads/``: every head's mean link excess over the sense pairs, with its interval, the decoy
  null and the article's head (compiled Vega, its layout for phones ``spec-narrow.json``,
  fallback SVG);
- ``facts.json``: every number and verdict the article quotes from it.

The model run and the measurements (:func:`build_scripts.groups.senses.measure.measure`) are cached
in ``.build-cache/senses/``, so a change to the chart alone redraws it without running the model.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import CONFIG_FILE, model_extra
from build_scripts.pipeline.registry import Group

from .measure import PAIRS_FILE, SETTINGS_FILE


def build(ctx) -> dict[str, bytes]:
    import numpy as np

    from build_scripts.pipeline.render import chart_files

    from . import charts as sc
    from .measure import measure

    result = measure(ctx)
    facts, t = result["facts"], result["tables"]
    chosen = (facts["chosen"]["layer_1based"] - 1, facts["chosen"]["head_1based"] - 1)
    rows = sc.head_rows(np.array(t["mean"]), np.array(t["low"]), np.array(t["high"]), chosen)
    word, context = facts["article"]["word"], facts["article"]["context"][0]

    def chart(narrow: bool = False):
        return sc.heads_chart(rows, facts["null"]["p95"], facts["n_sentences"], facts["n_pairs"], word, context,
                              narrow=narrow)

    files = {"facts.json": dumps(facts).encode()}
    files |= chart_files(chart(), "heads/", narrow=chart(narrow=True), narrow_below=sc.NARROW_BELOW)
    return files


GROUP = Group("senses", module=__name__, build=build, files=[PAIRS_FILE, CONFIG_FILE, SETTINGS_FILE], extra=model_extra)
