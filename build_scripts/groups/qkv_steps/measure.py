"""The Q/K/V steps of every head of one layer, for one sentence, with the encoder's own numbers.

    raw = q · k        scaled = raw / sqrt(D)        weights = softmax(scaled)        out = Σ weights × v

Each step is ``attn_jax.attention``'s own function (the one the model runs), vmapped over heads,
applied to the Q, K, V the encoder computed (token level: every WordPiece, and [CLS] and [SEP],
has its own q, k and v). The weights shipped are the encoder's; :func:`layer_payload` checks that
the softmax of the scaled scores reproduces them, so the steps shown lead to the weights used.

Axis legend: L layers, H heads, n tokens (T = S = n), D head dim.
"""

from __future__ import annotations

import numpy as np

from build_scripts.pipeline.artifacts import rounded

PRECISION = 3  # decimals kept in the shipped numbers


def steps(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> dict[str, np.ndarray]:
    """q, k, v ``[n, H, D]`` -> ``raw``, ``scaled``, ``weights`` ``[H, n, n]`` (softmax recomputed from
    the scaled scores), through ``attn_jax.attention``'s step functions, one head at a time."""
    import jax
    import jax.numpy as jnp

    from attn_jax.attention import attention_scores, scale_scores, softmax_weights

    q, k = jnp.asarray(q, jnp.float32), jnp.asarray(k, jnp.float32)
    raw = jax.vmap(attention_scores, in_axes=(1, 1))(q, k)  # [H, n, n]
    scaled = scale_scores(raw, q.shape[-1])
    return {"raw": np.asarray(raw), "scaled": np.asarray(scaled), "weights": np.asarray(softmax_weights(scaled))}


def outputs(weights: np.ndarray, v: np.ndarray) -> np.ndarray:
    """weights ``[H, n, n]``, v ``[n, H, D]`` -> every query's output ``[H, n, D]`` (``attn_jax.weighted_sum``)."""
    import jax
    import jax.numpy as jnp

    from attn_jax.attention import weighted_sum

    return np.asarray(jax.vmap(weighted_sum, in_axes=(0, 1))(jnp.asarray(weights, jnp.float32), jnp.asarray(v, jnp.float32)))


def layer_payload(sentence, result, layer: int, atol: float = 1e-4) -> dict:
    """Every number of the widget for one sentence and one layer, all heads, rounded to 3 decimals.

    ``q``, ``k``, ``v``, ``out`` are ``[H][n][D]``; ``raw``, ``scaled``, ``weights`` are ``[H][n][n]``
    (row = query token, column = key token). ``weights`` are the encoder's own attention weights;
    this raises ``AssertionError`` unless the softmax recomputed from its Q and K matches them to
    ``atol``.
    """
    q, k, v = (a[layer] for a in (result.q, result.k, result.v))  # [n, H, D]
    s = steps(q, k, v)
    weights = result.attentions[layer]  # [H, n, n]
    err = float(np.abs(s["weights"] - weights).max())
    if err > atol:
        raise AssertionError(
            f"{sentence.id}, layer {layer + 1}: softmax(q·k/sqrt(D)) differs from the encoder's weights by "
            f"{err:.2e} (> {atol}); the Q/K/V and attention outputs of attn_jax disagree"
        )
    per_head = lambda a: np.transpose(a, (1, 0, 2))  # noqa: E731 - [n, H, D] -> [H, n, D]
    return {
        "sentence": sentence.id, "layer": layer, "tokens": list(result.tokens),
        "special": [bool(x) for x in result.tokenized.special], "head_dim": int(q.shape[-1]),
        **rounded({"q": per_head(q), "k": per_head(k), "v": per_head(v), "raw": s["raw"], "scaled": s["scaled"],
                   "weights": weights, "out": outputs(weights, v)}, PRECISION),
    }


def query_token(sentence, result) -> int:
    """The token index of the sentence's query word (its first WordPiece; default: the first word)."""
    from attn_jax.words import align_words

    al = align_words(result.tokenized)
    word = al.words.index(sentence.query) if sentence.query else al.special.index(False)
    return al.token_word.index(word)
