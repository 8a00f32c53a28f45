"""The mechanics the article teaches, computed on the featured sentence and the model's weights:
the model's sizes, the parameters of one encoder layer, what the scaling does, and what a causal
mask changes.

Pure functions, arrays in and numbers out. Every step is ``attn_jax``'s own (``attention_scores``,
``scale_scores``, ``causal_mask``, ``mask_scores``, ``softmax_weights``), applied to the q and k the
encoder computed.

Axis legend: T query length, S key length (T = S = n tokens here), D head dim, M model dim.
"""

from __future__ import annotations

import numpy as np

PRECISION = 3


def mask_demo(q: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
    """One head's attention with no mask and with a causal mask, from its q ``[T, D]`` and k ``[S, D]``.

    Returns float64 arrays ``[T, S]``: ``scaled`` scores, ``full`` weights (every token may attend to
    every token, as in this encoder), ``causal`` mask (True = may attend) and ``causal_weights``
    (the same scores with later keys masked out, the softmax renormalising each row over the keys
    that remain).
    """
    import jax.numpy as jnp

    from attn_jax import attention_scores, causal_mask, mask_scores, scale_scores, softmax_weights

    q, k = jnp.asarray(q, jnp.float32), jnp.asarray(k, jnp.float32)
    scaled = scale_scores(attention_scores(q, k), q.shape[-1])
    mask = causal_mask(q.shape[0], k.shape[0])
    return {
        "scaled": np.asarray(scaled, np.float64),
        "full": np.asarray(softmax_weights(scaled), np.float64),
        "causal": np.asarray(mask),
        "causal_weights": np.asarray(softmax_weights(mask_scores(scaled, mask), mask), np.float64),
    }


def scaling_demo(q: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
    """One head's weights with and without the division by sqrt(D): ``{"raw", "scaled", "with",
    "without"}`` (scores and softmax rows, float64 ``[T, S]``)."""
    import jax.numpy as jnp

    from attn_jax import attention_scores, scale_scores, softmax_weights

    q, k = jnp.asarray(q, jnp.float32), jnp.asarray(k, jnp.float32)
    raw = attention_scores(q, k)
    scaled = scale_scores(raw, q.shape[-1])
    return {"raw": np.asarray(raw, np.float64), "scaled": np.asarray(scaled, np.float64),
            "with": np.asarray(softmax_weights(scaled), np.float64),
            "without": np.asarray(softmax_weights(raw), np.float64)}


def entropy_bits(row: np.ndarray) -> float:
    """Entropy of one attention row in bits: 0 = all on one key, log2(n) = spread evenly."""
    p = row[row > 0]
    return float(-(p * np.log2(p)).sum())


def layer_parameters(layers: dict) -> dict[str, int]:
    """Parameters of ONE encoder layer by block, from the stacked ``[L, ...]`` parameter tree.

    ``attention``: the query, key, value and output projections (weights and biases);
    ``feed_forward``: its two dense layers; ``layer_norms``: the two LayerNorms.
    """
    def count(tree) -> int:
        if isinstance(tree, dict):
            return sum(count(v) for v in tree.values())
        return int(np.prod(np.shape(tree)[1:]))  # drop the stacked layer axis

    return {"attention": count(layers["attention"]),
            "feed_forward": count(layers["ffn_in"]) + count(layers["ffn_out"]),
            "layer_norms": count(layers["attention_norm"]) + count(layers["ffn_norm"])}


def model_sizes(encoder) -> dict:
    """The encoder's sizes (from its config) and parameter count (from its weights): the one
    place the article's model facts come from."""
    import jax

    cfg = encoder.config
    parameters = int(sum(np.size(x) for x in jax.tree.leaves(encoder.params)))
    return {"layers": cfg.num_hidden_layers, "heads": cfg.num_attention_heads, "hidden": cfg.hidden_size,
            "head_dim": cfg.head_dim, "vocab": cfg.vocab_size, "max_tokens": cfg.max_position_embeddings,
            "parameters": parameters, "parameters_millions": round(parameters / 1e6, 1),
            "sha256": encoder.sha256["model.safetensors"]}


def split_examples(tokenized) -> dict:
    """The tokenizer's two ways of cutting a word, each on the first word (in the order of
    ``tokenized``, a list of :class:`attn_jax.tokenize.Tokenized`) where it happens:

    - ``punctuation``: the pre-tokenizer splits text at punctuation before WordPiece runs, so a
      word with an apostrophe ("didn't") becomes several tokens, one of them the apostrophe;
    - ``wordpiece``: WordPiece cuts a word missing from its vocabulary into pieces, each piece
      after the first marked ``##`` ("council ##men").

    Words are :mod:`attn_jax.words`' (a word's tokens are the ones it spans).
    """
    from attn_jax.words import align_words

    found: dict = {}
    for tok in tokenized:
        al = align_words(tok)
        for w, word in enumerate(al.words):
            pieces = [t for t, tw in zip(tok.tokens, al.token_word) if tw == w]
            if len(pieces) < 2:
                continue
            kind = "wordpiece" if any(p.startswith("##") for p in pieces) else "punctuation"
            if kind not in found:
                found[kind] = {"word": word, "pieces": " ".join(pieces), "count": len(pieces), "text": tok.text}
        if len(found) == 2:
            break
    missing = {"wordpiece", "punctuation"} - set(found)
    if missing:
        raise ValueError(f"no word of the corpus is split by {sorted(missing)}; add a sentence that has one")
    return found
