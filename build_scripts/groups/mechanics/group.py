"""Generated files of the article's mechanics figures and the model's facts (``docs/generated/mechanics/``).

``facts.json``: the model's sizes (``model``: layers, heads, widths, vocabulary, parameters,
checksum; every page quotes them from here) and, on the featured sentence and head
(``[roles.featured]``), the matrix shapes with the sentence's real sizes, the parameters of one
encoder layer by block, the softmax of the featured query with and without the division by
sqrt(D), and what a causal mask changes. ``masks/``: the chart of the weights without and with a
causal mask (compiled Vega + fallback SVG).
"""

from __future__ import annotations

import math

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import COLLECTION_FILE, CONFIG_FILE, encoded, model_extra
from build_scripts.pipeline.registry import Group


def _r(x: float) -> float:
    return round(float(x), 3)


def build(ctx) -> dict[str, bytes]:
    import numpy as np

    from attn_jax.words import align_words
    from build_scripts.pipeline.render import chart_files

    from . import charts
    from . import measure as mx

    enc = encoded(ctx)
    role = enc.config.roles["featured"]
    featured = enc.featured()
    result = enc.results[role["sentence"]]
    layer, head = featured["layer"], featured["head"]
    tokens = list(result.tokens)
    al = align_words(result.tokenized)
    query = al.token_word.index(al.words.index(role["query"]))  # first WordPiece of the query word
    key = al.token_word.index(al.words.index(role["expect"]))
    q, k = result.q[layer][:, head], result.k[layer][:, head]  # [n, D]
    n, d = q.shape
    cfg = enc.encoder.config

    masks = mx.mask_demo(q, k)
    # the unmasked weights must be the encoder's own (float32 noise only)
    np.testing.assert_allclose(masks["full"], result.attentions[layer, head], atol=1e-5)
    scaling = mx.scaling_demo(q, k)
    top_without = int(np.argmax(scaling["without"][query]))
    params = mx.layer_parameters(enc.encoder.params["layers"])
    per_layer = sum(params.values())
    later = masks["full"][query, query + 1:].sum()

    facts = {
        "model": mx.model_sizes(enc.encoder),
        "featured": {"sentence": role["sentence"], "query": role["query"], "key": role["expect"],
                     "layer_1based": layer + 1, "head_1based": head + 1},
        "shapes": {"T": n, "others": n - 1, "D": d, "M": cfg.hidden_size, "H": cfg.num_attention_heads, "L": cfg.num_hidden_layers,
                   "HD": cfg.num_attention_heads * d, "scores": n * n},
        "block": {
            "attention": params["attention"], "feed_forward": params["feed_forward"],
            "layer_norms": params["layer_norms"], "per_layer": per_layer,
            "attention_share": _r(params["attention"] / per_layer),
            "feed_forward_share": _r(params["feed_forward"] / per_layer),
            "feed_forward_width": cfg.intermediate_size, "feed_forward_ratio": cfg.intermediate_size // cfg.hidden_size,
        },
        "scaling": {
            "sqrt_d": _r(math.sqrt(d)),
            "with": _r(scaling["with"][query, key]), "without": _r(scaling["without"][query, key]),
            "raw_score": _r(scaling["raw"][query, key]), "scaled_score": _r(scaling["scaled"][query, key]),
            "raw_std": _r(scaling["raw"][query].std()), "scaled_std": _r(scaling["scaled"][query].std()),
            "entropy_with_bits": _r(mx.entropy_bits(scaling["with"][query])),
            "entropy_without_bits": _r(mx.entropy_bits(scaling["without"][query])),
            "entropy_even_bits": _r(math.log2(n)),
            "top_without": tokens[top_without], "top_without_weight": _r(scaling["without"][query, top_without]),
        },
        "masks": {
            "full": _r(masks["full"][query, key]), "causal": _r(masks["causal_weights"][query, key]),
            "later_share": _r(later), "visible_keys": int(masks["causal"][query].sum()),
            "first_token_self": _r(masks["causal_weights"][0, 0]),
        },
    }
    # the tokenizer's two steps, each shown on the first word of the config's sentences, then of the
    # Winograd collection, where it happens (tokenizing only: no model run)
    from build_scripts.pipeline.winograd import load_collection

    texts = [s.text for s in load_collection(ctx.root / COLLECTION_FILE)]
    facts["wordpieces"] = mx.split_examples([enc.results[s.id].tokenized for s in enc.config.sentences]
                                            + enc.encoder.tokenize(texts))
    ctx.log(f"layer {layer + 1}, head {head + 1}: '{role['query']}' -> '{role['expect']}' "
            f"{facts['scaling']['with']} with the scaling, {facts['scaling']['without']} without; "
            f"causal mask {facts['masks']['causal']}")
    return chart_files(charts.mask_chart(charts.mask_rows(tokens, masks), n), "masks/") | {
        "facts.json": dumps(facts).encode()}


GROUP = Group("mechanics", module=__name__, build=build, files=[CONFIG_FILE, COLLECTION_FILE], extra=model_extra)
