"""Generated files of the attention-sink experiment (``docs/generated/sinks/``).

- ``layers/``: the share of attention on the first token per layer, mean over heads with its 95%
  band, Winograd sentences and prose passages, each with its uniform null;
- ``heads/``: every head's share, a layers x heads grid per corpus;
- ``perplexity/``: the long text's perplexity under full attention, a window over the recent
  tokens, and the window plus the first tokens;
- ``facts.json``: every number and verdict the article quotes from them.

Each chart is compiled Vega with its layout for phones (``spec-narrow.json``) and a fallback SVG.
The model runs and the measurements (:func:`build_scripts.groups.sinks.measure.measure`) are cached
in ``.build-cache/sinks/``, so a change to a chart alone redraws it without running the model.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import COLLECTION_FILE, decoder_extra
from build_scripts.pipeline.registry import Group

from .measure import PROSE_FILE, SETTINGS_FILE


def build(ctx) -> dict[str, bytes]:
    from functools import partial

    from build_scripts.pipeline.render import chart_files

    from . import charts as sc
    from .measure import measure

    result = measure(ctx)
    facts, t = result["facts"], result["tables"]
    n = {"wsc": facts["wsc"]["n_texts"], "prose": facts["prose"]["n_texts"]}
    charts = {  # each drawn twice: for the article column, and (narrow=True) for phones
        "layers/": partial(sc.layers_chart, sc.layer_rows(t, n), sc.null_rows(t)),
        "heads/": partial(sc.heads_chart, sc.head_rows(t)),
        "perplexity/": partial(sc.perplexity_chart, sc.perplexity_rows(facts["perplexity"]), facts["perplexity"]),
    }
    files = {"facts.json": dumps(facts).encode()}
    for prefix, chart in charts.items():
        files |= chart_files(chart(), prefix, narrow=chart(narrow=True), narrow_below=sc.NARROW_BELOW)
    return files


GROUP = Group("sinks", module=__name__, build=build, files=[PROSE_FILE, COLLECTION_FILE, SETTINGS_FILE],
              extra=decoder_extra)
