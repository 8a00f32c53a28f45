"""Generated files of the rotary-positions group (``docs/generated/rope/``).

- ``distance/``: attention against the offset between query and key over the Winograd collection,
  against an even spread, with the first token kept and left out;
- ``offset/``: one head's score for one fixed pair of the model's vectors as their offset varies,
  for several base positions (the curves coincide);
- ``facts.json``: every number and verdict the article quotes from them.

Each chart: compiled Vega, its layout for phones ``spec-narrow.json``, fallback SVG. The measurements
(:func:`build_scripts.groups.rope.measure.measure`) are cached in ``.build-cache/rope/``, so a change to
a chart alone redraws it without running the model.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import COLLECTION_FILE, decoder_extra
from build_scripts.pipeline.registry import Group

from .measure import SETTINGS_FILE


def build(ctx) -> dict[str, bytes]:
    from functools import partial

    from build_scripts.pipeline.render import chart_files

    from . import charts as rc
    from .measure import measure

    result = measure(ctx)
    facts, t = result["facts"], result["tables"]
    rot = t["rotary"]
    charts = {
        "distance/": partial(rc.distance_chart, rc.distance_rows(t["distance"]), facts["n_sentences"],
                             facts["distance"]["first_token_share"]),
        "offset/": partial(rc.offset_chart, rc.offset_rows(rot["offsets"], rot["curves"], facts["curve"]["base_positions"]),
                           facts["head"], facts["example"], facts["curve"]["max_distance"]),
    }
    files = {"facts.json": dumps(facts).encode()}
    for prefix, chart in charts.items():
        files |= chart_files(chart(), prefix, narrow=chart(narrow=True), narrow_below=rc.NARROW_BELOW)
    return files


GROUP = Group("rope", module=__name__, build=build, files=[COLLECTION_FILE, SETTINGS_FILE], extra=decoder_extra)
