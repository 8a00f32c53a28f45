"""The decoder's attention on the config's sentences and on the continuations it writes.

- :func:`sentence_payloads`: every ``[[sentence]]`` of sentences.toml through SmolLM2 (the shared
  decoder run of the config's sentences), as causal head-view payloads;
- :func:`generation_payload`: a ``[[prompt]]`` continued greedily, one token at a time with the KV
  cache. The prompt's rows come from the prefill; each further row is the attention row the model
  computed, with the cache, while writing the next token (``Generation.attentions``). One token
  more is generated than is shown, so that the last shown token's row is the model's own too.
- :func:`writing_head`: in a continuation, the head that sends the most attention from the token
  being read to an earlier token that is the same as the one being written (a copy).

Layers and heads are 1-based in the facts, 0-based in arrays. Axis legend: L layers, H query heads,
G key/value heads, n tokens, P prompt tokens, N new tokens.
"""

from __future__ import annotations

import numpy as np

from build_scripts.pipeline import payloads as pl


def sentence_payloads(sentences, results) -> dict[str, dict]:
    """``{id: payload}`` of the config's sentences; the query is the sentence's query word's last
    token (its first word's otherwise)."""
    out = {}
    for s, r in zip(sentences, results):
        labels = [pl.token_label(t) for t in r.tokens]
        query = max((i for i, t in enumerate(labels) if s.query and t == s.query), default=len(labels) - 1)
        out[s.id] = pl.decoder_payload(s.id, s.title, s.text, r.tokens, r.attentions, query)
    return out


def generation_rows(prefill: np.ndarray, steps: list[np.ndarray]) -> np.ndarray:
    """The causal attention ``[L, H, n, n]`` of a written text, n = P + N: rows 0..P-2 from the
    prefill ``[L, H, P, P]``, row P-1+j from the j-th step's cached row ``[L, H, P+j]``
    (``steps`` has N+1 rows: the last one is read when writing token N+1, which is not shown)."""
    p = prefill.shape[-1]
    n = p + len(steps) - 1
    att = np.zeros((*prefill.shape[:2], n, n), np.float32)
    att[:, :, : p - 1, :p] = prefill[:, :, : p - 1]
    for j, row in enumerate(steps):
        if row.shape[-1] != p + j:
            raise ValueError(f"step {j} has {row.shape[-1]} keys, expected {p + j}")
        att[:, :, p - 1 + j, : p + j] = row
    return att


def generation_payload(prompt, dec) -> tuple[dict, dict]:
    """``(payload, facts)`` of one prompt: written greedily, ``max_new_tokens`` shown."""
    g = dec.generate(prompt.text, max_new_tokens=prompt.max_new_tokens + 1)
    [prefill] = dec.run([prompt.text])
    p = len(g.prompt_ids)
    steps = g.attentions[: len(g.tokens) - p]  # each written token's row (fewer when the model ended early)
    att = generation_rows(prefill.attentions, steps)
    n = att.shape[-1]
    tokens, written = g.tokens[:n], g.tokens[p:]
    payload = pl.decoder_payload(prompt.id, prompt.title, prompt.text, tokens, att, query=p - 1,
                                 generated_from=p, next_tokens=written)
    facts = {"prompt": prompt.text, "continuation": "".join(written), "prompt_tokens": p,
             "new_tokens": len(written), "first_token": pl.token_label(written[0])}
    return payload, facts


def writing_head(payload: dict) -> dict:
    """The copy in a continuation: the first step whose written token already occurs earlier in the
    text, and the head sending the most attention from the token being read to that earlier
    occurrence (the attention behind a copied word)."""
    labels, written, p = payload["word"]["labels"], payload["next_tokens"], payload["generated_from"]
    att = np.asarray(payload["word"]["attention"])
    for k, token in enumerate(written, start=1):
        query = p + k - 2
        earlier = [i for i in range(query + 1) if labels[i] == token]
        if earlier:
            key = earlier[-1]
            w = att[:, :, query, key]  # [L, H]
            layer, head = np.unravel_index(int(w.argmax()), w.shape)
            return {"step": k, "token": token, "query": labels[query], "key_position_1based": key + 1,
                    "layer_1based": int(layer) + 1, "head_1based": int(head) + 1, "weight": float(w.max()),
                    "mean_over_heads": float(w.mean()), "uniform": 1.0 / (query + 1)}
    return {}
