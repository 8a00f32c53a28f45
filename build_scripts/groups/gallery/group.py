"""The head view's sentence gallery (``docs/generated/gallery/``): Winograd pairs of the vendored
collection, precomputed, for the head view's sentence picker.

Which: the pairs (both halves, one after the other) in collection order while the folder stays
within :data:`BUDGET` bytes; all 285 sentences with both levels would take about 21 MB.

Files: ``<id>.json`` per sentence (the head view's payload, weights quantised to 8 bits, see
:func:`build_scripts.pipeline.payloads.quantise`; loaded only when a reader picks the sentence) and
``index.json`` (:func:`build_scripts.groups.gallery.charts.index`). The article's own examples stay
in the head view's group; the widget lists them first.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import COLLECTION_FILE, model_extra, winograd
from build_scripts.pipeline.registry import Group

BUDGET = 7_500_000  # bytes on disk for the whole gallery folder (the project's limit is 8 MB)


def build(ctx) -> dict[str, bytes]:
    from build_scripts.pipeline import payloads as pl
    from build_scripts.pipeline.winograd import pair_ids

    from . import charts
    from .measure import pair_payloads

    corpus = winograd(ctx)
    halves = pair_payloads(corpus.schemas, corpus.results, charts.title)
    by_id = {f"wsc-{s.index}": s for s in corpus.schemas}
    files: dict[str, bytes] = {}
    entries, names, paired = [], {}, []
    for p in sorted(halves):
        pair = {sid: dumps(pl.shipped_payload(payload)).encode() for sid, payload in halves[p]}
        if sum(map(len, files.values())) + sum(map(len, pair.values())) > BUDGET - 100_000:  # room for the index
            break
        for sid, data in pair.items():
            names[sid] = f"{sid}.json"
            files[names[sid]] = data
            entries.append({"id": sid, "title": charts.title(by_id[sid])})  # the title is the text, pronoun in brackets
            paired.append(sid)
    left_out = {"pairs": len(halves) - len(paired) // 2, "unpaired": sum(p < 0 for p in pair_ids(corpus.schemas)),
                "reason": f"the gallery folder stays within {BUDGET / 1e6:.1f} MB"}
    files["index.json"] = dumps(charts.index(entries, paired, names, left_out)).encode()
    ctx.log(f"{len(entries)} sentences, {sum(len(b) for b in files.values()) / 1e6:.1f} MB")
    return files


GROUP = Group("gallery", module=__name__, build=build, files=[COLLECTION_FILE], extra=model_extra)
