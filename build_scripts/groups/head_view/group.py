"""The head view (``docs/generated/head-view/``) and the facts the prose quotes from its sentences.

Files: ``<sentence id>.json`` (what the widget loads for a sentence; weights quantised to 8 bits),
``index.json`` (the sentence list and the default view), ``spec.json`` (the Vega spec that computes
every view; its data sets are empty, the widget routes each sentence's in), ``default.svg`` (the
same view for readers without JavaScript) and ``facts.json`` (numbers quoted by the article, each
computed from the weights).
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import CONFIG_FILE, encoded, model_extra
from build_scripts.pipeline.registry import Group


def build(ctx) -> dict[str, bytes]:
    from build_scripts.pipeline import payloads as pl
    from build_scripts.pipeline.render import stable_svg

    from . import charts, measure

    enc = encoded(ctx)
    featured = enc.featured()
    first = enc.payloads[featured_id := enc.config.roles["featured"]["sentence"]]
    ctx.log(f"featured head: layer {featured['layer'] + 1}, head {featured['head'] + 1}: "
            f"'{featured['query']}' -> '{featured['key']}' {featured['weight']:.3f}")
    default = {"sentence": featured_id, "layer": featured["layer"], "head": featured["head"],
               "multi_heads": pl.default_heads(first, featured["layer"])}
    level = first["word"]
    spec = charts.head_view_spec(charts.token_rows(level), charts.layer_rows(level["attention"], default["layer"]),
                                 query=first["query"], heads=[default["head"]])
    ctx.log("rendering the fallback SVG")
    files = {"default.svg": stable_svg(spec, vega=True).encode()}
    # the widget routes every sentence's data in itself: ship the spec without the default's
    for d in spec["data"]:
        if d["name"] in ("tokens", "att"):
            d["values"] = []
    files["spec.json"] = dumps(spec).encode()
    roles = enc.config.roles
    facts = {"featured": measure.featured_facts(featured),
             "winograd": measure.winograd_pair(roles["winograd"], enc.payloads),
             # for readers without JavaScript (the widget replaces it with the readout of the view shown)
             "default_readout": (f"Layer {featured['layer'] + 1}, head {featured['head'] + 1}: '{featured['query']}' "
                                 f"sends {featured['weight']:.2f} of its attention to '{featured['key']}' "
                                 f"(an even spread would give {featured['uniform']:.2f}).")}
    files |= {f"{sid}.json": dumps(pl.shipped_payload(p)).encode() for sid, p in enc.payloads.items()}
    files["index.json"] = dumps({
        "sentences": [{"id": s.id, "title": s.title, "text": s.text} for s in enc.config.sentences],
        "default": default, "layers": first["layers"], "heads": first["heads"], "palette": pl.PALETTE,
    }).encode()
    files["facts.json"] = dumps(facts).encode()
    return files


GROUP = Group("head-view", module=__name__, build=build, files=[CONFIG_FILE], extra=model_extra)
