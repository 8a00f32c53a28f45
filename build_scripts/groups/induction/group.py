"""Generated files of the induction heads of SmolLM2 (``docs/generated/induction/``).

- ``heads/``: all 270 heads, induction score against previous-token score, the top induction heads
  and their previous-token partners marked, the best-of-heads nulls drawn (compiled Vega, its
  layout for phones ``spec-narrow.json``, fallback SVG);
- ``ablation/``: the loss on the repeat with the top k induction heads removed against k random heads;
- ``facts.json``: every number and verdict the article quotes from them.

The model runs and the measurements (:func:`build_scripts.groups.induction.measure.measure`) are
cached in ``.build-cache/induction/``, so a change to a chart alone redraws it without running the model.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import decoder_extra
from build_scripts.pipeline.registry import Group

from .measure import SETTINGS_FILE


def build(ctx) -> dict[str, bytes]:
    from functools import partial

    from build_scripts.pipeline.render import chart_files

    from . import charts as ic
    from .measure import measure

    result = measure(ctx)
    facts, t = result["facts"], result["tables"]
    seq, null = facts["sequences"], facts["induction"]["null"]
    rows = ic.head_rows(t["induction"], t["previous"], t["induction_low"], t["induction_high"], t["previous_low"],
                        t["previous_high"], t["twin"], t["top"], t["partners"])
    lines, draws = ic.ablation_rows(t["ablation"], t["intact"], t["partners_ablation"])
    abl = facts["ablation"]
    charts = {  # each drawn twice: for the article column, and (narrow=True) for phones
        "heads/": partial(ic.heads_chart, rows, null["shuffled"]["p95"],
                          facts["previous_token"]["null"]["shuffled"]["p95"], facts["induction"]["twin_best"],
                          seq["n"], seq["tokens_per_copy"]),
        "ablation/": partial(ic.ablation_chart, lines, draws, abl["n_sequences"], seq["tokens_per_copy"],
                             abl["random_draws"], facts["verdicts"]["copying_collapses"],
                             facts["verdicts"]["top_heads_matter_more_than_random"]),
    }
    files = {"facts.json": dumps(facts).encode()}
    for prefix, chart in charts.items():
        files |= chart_files(chart(), prefix, narrow=chart(narrow=True), narrow_below=ic.NARROW_BELOW)
    return files


GROUP = Group("induction", module=__name__, build=build, files=[SETTINGS_FILE], extra=decoder_extra)
