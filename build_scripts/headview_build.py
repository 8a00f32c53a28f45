"""Generated files of the head view (``docs/generated/head-view/``) and the facts the prose quotes.

Files: ``<sentence id>.json`` (what the widget loads for a sentence; weights quantised to 8 bits), ``index.json`` (the sentence
list and the default view), ``spec.json`` (the Vega spec that computes every view; its data sets are
empty, the widget routes each sentence's in), ``default.svg`` (the same view for readers without JavaScript) and ``facts.json`` (numbers
quoted by the article, each computed here from the weights).
"""

from __future__ import annotations

import numpy as np

from . import headview as hv
from .artifacts import Group, dumps, stable_svg
from .encoded import CONFIG_FILE, encoded, model_extra


def _facts(enc, featured) -> dict:
    config, payloads, results = enc.config, enc.payloads, enc.results
    facts: dict = {"featured": dict(featured)}
    facts["featured"]["layer_1based"] = featured["layer"] + 1
    facts["featured"]["head_1based"] = featured["head"] + 1
    # How much of all attention goes to [CLS] and to [SEP], per layer (mean over heads, queries, sentences).
    cls, sep = [], []
    for r in results.values():
        a = r.attentions  # [L, H, n, n]
        cls.append(a[..., 0].mean(axis=(1, 2)))
        sep.append(a[..., -1].mean(axis=(1, 2)))
    facts["sink"] = {
        "cls_by_layer": [round(float(x), 3) for x in np.mean(cls, 0)],
        "sep_by_layer": [round(float(x), 3) for x in np.mean(sep, 0)],
    }
    facts["sink"]["cls_max"] = max(facts["sink"]["cls_by_layer"])
    facts["sink"]["sep_max"] = max(facts["sink"]["sep_by_layer"])
    # The strongest head of each common pattern in the featured sentence, over all layers.
    patterns = payloads[config.roles["featured"]["sentence"]]["patterns"]
    facts["patterns"] = {}
    for name in hv.PATTERNS:
        layer = max(range(len(patterns)), key=lambda li: patterns[li][name]["score"])
        best = patterns[layer][name]
        facts["patterns"][name.replace(" ", "_").replace("[", "").replace("]", "").lower()] = {
            "layer_1based": layer + 1, "head_1based": best["head"] + 1, "score": best["score"]}
    facts["senses"] = _senses(config.roles["senses"], payloads)
    facts["winograd"] = _winograd(config.roles["winograd"], payloads)
    return facts


def _word_rows(payload: dict, query: str) -> tuple[list[str], np.ndarray]:
    """Word labels and ``[L, H, w]``: every head's attention from ``query`` to each word."""
    labels = payload["word"]["labels"]
    return labels, np.asarray(payload["word"]["attention"])[:, :, labels.index(query), :]


def _senses(role: dict, payloads: dict) -> dict:
    """Per context word: the head sending the most of ``word``'s attention to it, and the mean over heads."""
    out = {"word": role["word"]}
    for sid, context in zip(role["sentences"], role["context"]):
        labels, rows = _word_rows(payloads[sid], role["word"])
        a = rows[..., labels.index(context)]
        l_, h_ = np.unravel_index(int(a.argmax()), a.shape)
        out[context] = {"sentence": sid, "weight": round(float(a.max()), 3), "layer_1based": int(l_) + 1,
                        "head_1based": int(h_) + 1, "mean_over_heads": round(float(a.mean()), 3),
                        "uniform": round(1 / len(labels), 3)}
    return out


def _winograd(role: dict, payloads: dict) -> dict:
    """The pair: does a head that sends much of ``query`` to a candidate switch with the sentence?

    The correct candidate is the first in the first sentence and the second in the second.
    A *strong* head gives either candidate more than 0.3 in either sentence; it *switches* when it
    prefers the correct candidate in both sentences.
    """
    (s1, s2), (c1, c2) = role["sentences"], role["candidates"]
    w = {}
    for sid in (s1, s2):
        labels, rows = _word_rows(payloads[sid], role["query"])
        w[sid] = {c: rows[..., labels.index(c)] for c in (c1, c2)}
    strong = np.zeros_like(w[s1][c1], bool)
    for sid in (s1, s2):
        for c in (c1, c2):
            strong |= w[sid][c] > 0.3
    first_right = w[s1][c1] > w[s1][c2]
    second_right = w[s2][c2] > w[s2][c1]
    l_, h_ = np.unravel_index(int(np.argmax(w[s1][c1] + w[s2][c1])), w[s1][c1].shape)
    return {
        "sentences": [s1, s2], "candidates": [c1, c2], "query": role["query"],
        "strong_heads": int(strong.sum()),
        "strong_prefer_first_in_both": int((strong & first_right & ~second_right).sum()),
        "strong_switch": int((strong & first_right & second_right).sum()),
        "strong_prefer_second_in_second": int((strong & second_right).sum()),
        "top_layer_1based": int(l_) + 1,
        "top_head_1based": int(h_) + 1,
        "top": {sid: {c: round(float(w[sid][c][l_, h_]), 3) for c in (c1, c2)} for sid in (s1, s2)},
    }


def build(ctx) -> dict[str, bytes]:
    import jax

    enc = encoded(ctx)
    sentences, encoder = enc.config.sentences, enc.encoder
    featured = enc.featured()
    first = enc.payloads[featured_id := enc.config.roles["featured"]["sentence"]]
    ctx.log(f"featured head: layer {featured['layer'] + 1}, head {featured['head'] + 1}: "
            f"'{featured['query']}' -> '{featured['key']}' {featured['weight']:.3f}")
    default = {
        "sentence": featured_id,
        "layer": featured["layer"],
        "head": featured["head"],
        "multi_heads": hv.default_heads(first, featured["layer"]),
    }
    level = first["word"]
    spec = hv.head_view_spec(hv.token_rows(level), hv.layer_rows(level["attention"], default["layer"]),
                             query=first["query"], heads=[default["head"]])
    ctx.log("rendering the fallback SVG")
    files = {"default.svg": stable_svg(spec, vega=True).encode()}
    # the widget routes every sentence's data in itself: ship the spec without the default's
    for d in spec["data"]:
        if d["name"] in ("tokens", "att"):
            d["values"] = []
    files["spec.json"] = dumps(spec).encode()
    facts = _facts(enc, featured)
    cfg = encoder.config
    facts["model"] = {
        "layers": cfg.num_hidden_layers, "heads": cfg.num_attention_heads, "hidden": cfg.hidden_size,
        "head_dim": cfg.head_dim, "vocab": cfg.vocab_size, "max_tokens": cfg.max_position_embeddings,
        "parameters": int(sum(np.size(x) for x in jax.tree.leaves(encoder.params))),
        "sha256": encoder.sha256["model.safetensors"],
    }
    facts["model"]["parameters_millions"] = round(facts["model"]["parameters"] / 1e6, 1)
    # for readers without JavaScript (the widget replaces it with its own readout of the view shown)
    facts["default_readout"] = (f"Layer {featured['layer'] + 1}, head {featured['head'] + 1}: "
                                f"'{featured['query']}' sends {featured['weight']:.2f} of its attention to "
                                f"'{featured['key']}' (an even spread would give {featured['uniform']:.2f}).")

    files |= {f"{sid}.json": dumps(hv.shipped_payload(p)).encode() for sid, p in enc.payloads.items()}
    files["index.json"] = dumps({
        "sentences": [{"id": s.id, "title": s.title, "text": s.text} for s in sentences],
        "default": default,
        "layers": first["layers"],
        "heads": first["heads"],
        "palette": hv.PALETTE,
    }).encode()
    files["facts.json"] = dumps(facts).encode()
    return files


GROUPS = [Group("head-view", module=__name__, build=build, files=[CONFIG_FILE], extra=model_extra)]
