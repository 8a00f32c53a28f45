"""Generated files of the KV-cache group (``docs/generated/kv-cache/``).

- ``size/``: the cache's size against the text's length, grouped-query attention (SmolLM2) against
  full multi-head attention, with the weights' size for scale (compiled Vega, its layout for phones
  ``spec-narrow.json``, fallback SVG);
- ``facts.json``: every number and verdict the article quotes: bytes per token, sizes, the dot
  products of a decode step, and the decode speeds with and without the cache from ``make bench``.

The measurements (:func:`build_scripts.groups.kv_cache.measure.measure`) are cached in
``.build-cache/kv-cache/``; they need the decoder's config and the benchmark's results, no model run.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import decoder_extra
from build_scripts.pipeline.registry import Group

from .measure import RESULTS_FILE, SETTINGS_FILE


def build(ctx) -> dict[str, bytes]:
    from functools import partial

    from build_scripts.pipeline.render import chart_files

    from . import charts as kc
    from .measure import measure

    result = measure(ctx)
    facts, t = result["facts"], result["tables"]
    m = facts["model"]
    chart = partial(kc.size_chart, kc.size_rows(t, m["kv_heads"], m["heads"]), facts["weights"]["mb"], m["context"],
                    m["layers"], facts["bytes_per_token"])
    s = facts["speed"]
    ctx.log(f"decode {s['new_tokens']} tokens: {s['cached']['tokens_per_s']:.1f} tokens/s with the cache, "
            f"{s['uncached']['tokens_per_s']:.1f} without ({s['backend']}, {s['date']})")
    files = {"facts.json": dumps(facts).encode()}
    files |= chart_files(chart(), "size/", narrow=chart(narrow=True), narrow_below=kc.NARROW_BELOW)
    return files


GROUP = Group("kv-cache", module=__name__, build=build, files=[RESULTS_FILE, SETTINGS_FILE], extra=decoder_extra)
