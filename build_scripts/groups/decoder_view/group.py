"""The decoder's head view (``docs/generated/decoder-view/``): SmolLM2 on the config's sentences and
on the continuations it writes from the config's prompts (part two of the article).

Files: ``<id>.json`` per text (the head view's payload) and ``<id>/layer-<l>.json`` (its weights,
one file per layer, quantised to 8 bits: the page fetches a layer when it is first shown), ``index.json``
(:func:`build_scripts.groups.decoder_view.charts.index`), ``spec.json`` (the head view's spec, data
routed in by the widget), ``default.svg`` (the default view for readers without JavaScript) and
``facts.json``: the decoder's sizes (every page quotes them from here) and each continuation.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import CONFIG_FILE, decoder_extra
from build_scripts.pipeline.registry import Group

DEFAULT_PROMPT = 1  # the default view: the second prompt (a name copied from earlier in the text)


def build(ctx) -> dict[str, bytes]:
    import jax
    import numpy as np

    from build_scripts.pipeline import payloads as pl
    from build_scripts.pipeline.artifacts import rounded
    from build_scripts.pipeline.config import load_config
    from build_scripts.pipeline.models import decoder, decoder_corpus
    from build_scripts.pipeline.render import stable_svg

    from . import charts, measure

    config = load_config(ctx.root / CONFIG_FILE)
    dec = decoder(ctx)
    cfg = dec.config
    results = decoder_corpus(ctx, "config sentences", [s.text for s in config.sentences])
    payloads = measure.sentence_payloads(config.sentences, results)
    written, continuations = {}, {}
    for prompt in config.prompts:
        ctx.log(f"writing from '{prompt.text}' ({prompt.max_new_tokens} tokens)")
        written[prompt.id], continuations[prompt.id] = measure.generation_payload(prompt, dec)
    first = written[config.prompts[DEFAULT_PROMPT].id]
    copy = measure.writing_head(first)
    layer, head = copy["layer_1based"] - 1, copy["head_1based"] - 1
    first = {**first, "query": first["generated_from"] + copy["step"] - 2}  # opens on the copy
    written[first["id"]] = first
    default = {"sentence": first["id"], "layer": layer, "head": head, "multi_heads": pl.default_heads(first, layer)}
    files = {"default.svg": stable_svg(charts.default_spec(first, layer, head), vega=True).encode(),
             # the widget routes every text's data and causal signals in itself
             "spec.json": dumps(charts.empty_spec(first)).encode()}
    for sid, p in {**payloads, **written}.items():  # 30 layers: each loads when first shown
        files |= {name: dumps(data).encode() for name, data in pl.shipped_by_layer(sid, p).items()}
    sentences = [{"id": s.id, "title": s.title, "text": s.text} for s in config.sentences]
    prompts = [{"id": p.id, "title": p.title, "text": p.text + continuations[p.id]["continuation"]} for p in config.prompts]
    files["index.json"] = dumps(charts.index(sentences, prompts, default, cfg.num_layers, cfg.num_heads,
                                             cfg.num_kv_heads)).encode()
    parameters = int(sum(np.size(x) for x in jax.tree.leaves(dec.params)))
    facts = {
        "model": {"layers": cfg.num_layers, "heads": cfg.num_heads, "kv_heads": cfg.num_kv_heads,
                  "heads_per_kv": cfg.num_heads // cfg.num_kv_heads, "head_dim": cfg.head_dim, "hidden": cfg.hidden_size,
                  "ffn_width": cfg.intermediate_size, "vocab": cfg.vocab_size, "context": cfg.context_length,
                  "rope_theta": cfg.rope_theta, "parameters": parameters,
                  "parameters_millions": round(parameters / 1e6, 1), "sha256": dec.sha256,
                  "maps": cfg.num_layers * cfg.num_heads},
        "continuations": continuations, "copy": {**copy, "prompt": config.prompts[DEFAULT_PROMPT].text},
        "default_readout": (f"Writing '{copy['token']}': layer {copy['layer_1based']}, head {copy['head_1based']} sends "
                            f"{copy['weight']:.2f} of the attention of '{copy['query']}' to the earlier "
                            f"'{copy['token']}' (an even spread would give {copy['uniform']:.2f})."),
    }
    files["facts.json"] = dumps(rounded(facts, 4)).encode()
    return files


GROUP = Group("decoder-view", module=__name__, build=build, files=[CONFIG_FILE], extra=decoder_extra)
