"""Generated files of the head view (``docs/generated/head-view/``) and the facts the prose quotes.

Files: ``<sentence id>.json`` (what the widget loads for a sentence), ``index.json`` (the sentence
list and the default view), ``spec.json`` (the chart compiled to Vega, with the default view's
data), ``default.svg`` (the same view for readers without JavaScript) and ``facts.json`` (numbers
quoted by the article, each computed here from the weights).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import headview as hv
from .build import ROOT, code_version, dumps, versions
from .config import CONFIG, check_token_counts, load_sentences

# The code whose change can change these files (the encoder path of attn_jax, and this pipeline).
SOURCES = [ROOT / "attn_jax" / f"{n}.py" for n in ("attention", "projections", "model", "tokenize", "encoder", "words")]
SOURCES += [ROOT / "build_scripts" / f"{n}.py" for n in ("headview", "headview_build", "config", "build")]


def inputs() -> dict:
    from attn_jax.model import PRETRAINED_SHA256

    return {
        "config": {"path": str(CONFIG.relative_to(ROOT)), "sha256": code_version([CONFIG])},
        "model_sha256": PRETRAINED_SHA256["model.safetensors"],
        "code_version": code_version(SOURCES),
        "versions": versions("jax", "jaxlib", "altair", "vl-convert-python", "tokenizers"),
    }


def _facts(sentences, payloads, results, featured) -> dict:
    by_id = {s.id: p for s, p in zip(sentences, payloads)}
    facts: dict = {"featured": featured}
    facts["featured"]["layer_1based"] = featured["layer"] + 1
    facts["featured"]["head_1based"] = featured["head"] + 1
    # How much of all attention goes to [CLS] and to [SEP], per layer (mean over heads, queries, sentences).
    cls, sep = [], []
    for r in results:
        a = r.attentions  # [L, H, n, n]
        cls.append(a[..., 0].mean(axis=(1, 2)))
        sep.append(a[..., -1].mean(axis=(1, 2)))
    facts["sink"] = {
        "cls_by_layer": [round(float(x), 3) for x in np.mean(cls, 0)],
        "sep_by_layer": [round(float(x), 3) for x in np.mean(sep, 0)],
    }
    facts["sink"]["cls_max"] = max(facts["sink"]["cls_by_layer"])
    facts["sink"]["sep_max"] = max(facts["sink"]["sep_by_layer"])
    # The strongest head of each common pattern in the default sentence, over all layers.
    patterns = payloads[0]["patterns"]
    facts["patterns"] = {}
    for name in hv.PATTERNS:
        layer = max(range(len(patterns)), key=lambda li: patterns[li][name]["score"])
        best = patterns[layer][name]
        facts["patterns"][name.replace(" ", "_").replace("[", "").replace("]", "").lower()] = {
            "layer_1based": layer + 1, "head_1based": best["head"] + 1, "score": best["score"]}
    # "bank": where its attention goes in the river and in the money sentence.
    for sid, word in (("bank-river", "river"), ("bank-money", "money")):
        if sid in by_id:
            p = by_id[sid]
            labels = p["word"]["labels"]
            a = np.asarray(p["word"]["attention"])[:, :, labels.index("bank"), labels.index(word)]
            l_, h_ = np.unravel_index(int(a.argmax()), a.shape)
            facts.setdefault("bank", {})[word] = {
                "weight": round(float(a.max()), 3), "layer_1based": int(l_) + 1, "head_1based": int(h_) + 1,
                "mean_over_heads": round(float(a.mean()), 3), "uniform": round(1 / len(labels), 3)}
    # The Winograd pair: where do the heads that track the subject send "it" in each sentence?
    if {"animal-tired", "animal-wide"} <= set(by_id):
        pair = {}
        for sid in ("animal-tired", "animal-wide"):
            p = by_id[sid]
            labels = p["word"]["labels"]
            att = np.asarray(p["word"]["attention"])
            qi = labels.index("it")
            pair[sid] = {w: att[:, :, qi, labels.index(w)] for w in ("animal", "street")}
        tired, wide = pair["animal-tired"], pair["animal-wide"]
        strong = (tired["animal"] > 0.3) | (wide["animal"] > 0.3)
        l_, h_ = np.unravel_index(int(np.argmax(tired["animal"] + wide["animal"])), tired["animal"].shape)
        facts["winograd"] = {
            "heads_animal_over_0_3": int(strong.sum()),
            "heads_prefer_animal_in_both": int(((tired["animal"] > tired["street"]) & (wide["animal"] > wide["street"]) & strong).sum()),
            "heads_prefer_street_when_wide": int(((wide["street"] > wide["animal"]) & strong).sum()),
            "top_layer_1based": int(l_) + 1,
            "top_head_1based": int(h_) + 1,
            "top_tired_animal": round(float(tired["animal"][l_, h_]), 3),
            "top_tired_street": round(float(tired["street"][l_, h_]), 3),
            "top_wide_animal": round(float(wide["animal"][l_, h_]), 3),
            "top_wide_street": round(float(wide["street"][l_, h_]), 3),
        }
    return facts


def jax_leaves(tree) -> list:
    import jax

    return jax.tree.leaves(tree)


def build(out_dir: Path, log) -> dict[str, bytes]:
    import vl_convert as vlc

    from attn_jax import Encoder

    sentences = load_sentences()
    log(f"loading the model and tokenizing {len(sentences)} sentences")
    encoder = Encoder.load()
    check_token_counts(sentences, [len(t.ids) for t in encoder.tokenize([s.text for s in sentences])])
    log("running the encoder (one batch)")
    results = encoder.run([s.text for s in sentences])
    payloads = [hv.sentence_payload(s, r) for s, r in zip(sentences, results)]

    first = sentences[0]
    if not (first.query and first.expect):
        from .config import ConfigError

        raise ConfigError(f"{CONFIG}: sentence #1 (id {first.id!r}) needs query and expect to choose the featured head")
    featured = hv.featured_head(payloads[0], first.query, first.expect)
    log(f"featured head: layer {featured['layer'] + 1}, head {featured['head'] + 1}: "
        f"'{first.query}' -> '{first.expect}' {featured['weight']:.3f}")
    default = {
        "sentence": first.id,
        "layer": featured["layer"],
        "head": featured["head"],
        "multi_heads": hv.default_heads(payloads[0], featured["layer"]),
    }
    words, links, extra = hv.view_tables(payloads[0], layer=default["layer"], heads=[default["head"]])
    chart = hv.head_view_chart(words, links, extra["width"])
    spec = chart.to_dict()
    log("compiling the chart to Vega and rendering the fallback SVG")
    vega = vlc.vegalite_to_vega(spec)
    svg = vlc.vegalite_to_svg(spec)
    facts = _facts(sentences, payloads, results, featured)
    cfg = encoder.config
    facts["model"] = {
        "layers": cfg.num_hidden_layers, "heads": cfg.num_attention_heads, "hidden": cfg.hidden_size,
        "head_dim": cfg.head_dim, "vocab": cfg.vocab_size, "max_tokens": cfg.max_position_embeddings,
        "parameters": int(sum(np.size(x) for x in jax_leaves(encoder.params))),
        "sha256": encoder.sha256["model.safetensors"],
    }
    facts["model"]["parameters_millions"] = round(facts["model"]["parameters"] / 1e6, 1)
    facts["default_readout"] = hv.readout(payloads[0], words, links, extra)

    files = {f"{p['id']}.json": dumps(p).encode() for p in payloads}
    files["index.json"] = dumps({
        "sentences": [{"id": s.id, "title": s.title} for s in sentences],
        "default": default,
        "layers": payloads[0]["layers"],
        "heads": payloads[0]["heads"],
        "palette": hv.PALETTE,
        "layout": {"char_w": hv.CHAR_W, "gap": hv.GAP, "top": hv.TOP, "bottom": hv.BOTTOM, "head_offset": hv.HEAD_OFFSET},
    }).encode()
    files["spec.json"] = dumps(vega).encode()
    files["default.svg"] = svg.encode()
    files["facts.json"] = dumps(facts).encode()
    return files
