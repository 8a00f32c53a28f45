"""Corpus-scale measurements of attention heads: pure NumPy functions over arrays and token spans.

Axis legend: N sentences (or schemas), L layers, H heads, n tokens of one sentence, M model dim,
D head dim, R null repeats. Attention is ``[..., n, n]`` with row = query, column = key. Nothing
here runs the model; :mod:`attn_jax.corpus` produces the arrays.

Definitions, stated once:

- *Coreference choice*: a head chooses candidate A for a schema when the pronoun's query piece
  gives A more attention than B, each candidate's attention being the sum over its WordPieces. A
  tie counts as half right, so a head that cannot tell the candidates apart sits at chance.
- *Best-of-heads null*: which candidate is correct is shuffled within each pair (both halves of a
  pair swap labels together, with probability 1/2; an unpaired schema flips alone), accuracy is
  recomputed for every head and the maximum over heads kept; R repeats from a fixed seed.
- *Specificity of "A attends to B"*: the weight from query A to B (summed over B's pieces)
  against the mean weight B receives from every other query token (all tokens except A and B's
  own pieces).
- *Head roles* (:data:`ROLES`), the one definition of "what pattern does a head show" (the head
  view's pattern picks and the all-heads grid read the same scores): over the ordinary
  (non-special) query tokens, each role's score is a mean attention weight. *Previous word*: on
  the token before, over the queries whose previous token is ordinary (the first word, whose
  previous token is [CLS], is not counted; nor is a word right after a mid-sentence [SEP]).
  *Next word*: on the token after, over the queries whose next token is ordinary (the last word,
  followed by [SEP], is not counted). *[CLS] sink*: on [CLS] (position 0). *[SEP] sink*: on [SEP]
  (the last position). *Broadcast*: the largest mean weight any one ordinary key receives from
  the other ordinary queries. A score with no query to average over is 0. A head takes the role
  with the highest score when it reaches :data:`ROLE_THRESHOLD`, else "none".
- *Focus*: over the ordinary query tokens, the mean of each row's largest weight on an ordinary
  key other than the query itself and the tokens right before and after it: how much a head
  singles out one word further away rather than a neighbour or a sink.
- *Target attention*: given for each query of each sequence one key it should attend to (-1:
  the query is not scored), the mean weight on that key over every scored query of every
  sequence (each scored token counts once). The two scores below are target attention:
- *Induction score* (Olsson et al., 2022; TransformerLens): the targets are induction targets,
  from a token of a repeat to the token right after that token's earlier occurrence.
- *Previous-token score*: the target of query t is t - 1 (every query but the first is scored).
- *Uniform null* of either score: what a head spreading its attention evenly over the keys each
  query may see gets (under a causal mask 1 / (t + 1) at query t, averaged over the scored
  queries). It is also the expected score for targets shuffled among the visible keys, whatever
  the head does, since every row sums to 1. The induction score has a second, stricter null: the
  same head on twin sequences with the repeat replaced by fresh tokens (same targets), which
  catches a head that reaches the target by position alone.
- *In-context learning score* (Olsson et al., 2022): mean loss at late positions minus mean loss
  at early positions; negative when a model predicts better the more context it has read.
- *Pair bootstrap*: the Winograd schemas come in pairs whose correct answers swap, so the two
  halves of a pair are not independent (a head that never switches within a pair scores exactly
  one of two). An interval for a mean over schemas resamples whole pairs (an unpaired schema is a
  cluster of its own), R times from a fixed seed, and takes the percentiles.
- *First-mention preference*: a head prefers the candidate mentioned first in a schema when the
  pronoun gives it more attention than the other (a tie counts half). The correct answers are
  balanced within pairs, so a head that always follows the first mention is right half the time.
- *Strong head*: a head whose weight from one word to another exceeds :data:`STRONG_WEIGHT`
  (several times the even share of a short sentence); the article counts them.
- *Contribution* (Kobayashi et al., 2020): what key j moves into query i's output through head h
  is ``alpha_hij * v_jh @ W_O[h]``; its norm is ``alpha_hij * ||v_jh @ W_O[h]||``.
- *Link excess* (the sense pairs): for a target word and a context word of one sentence, on the
  word-level attention (:mod:`attn_jax.words`: query pieces averaged, key pieces summed; special
  tokens kept, not renormalised away), the target's weight on the context word minus the mean
  weight it gives to the sentence's other ordinary words (neither special, nor the target, nor the
  context word). A head spreading its attention evenly over the ordinary words scores 0, whatever
  it gives [CLS] and [SEP]; a head that gives the context word more than a typical other word of
  the sentence scores above 0. Its interval over a set of sense pairs is the *pair bootstrap*
  above, a pair being one word's two sentences: they share the query word (its token, its
  embedding, whatever a head does with that word), so they are not independent, and resampling
  single sentences would count 2P correlated values as independent and give too narrow an interval.
- *Decoy null* of the best head's mean link excess: in each sentence the context word is replaced
  by a word drawn uniformly from the ordinary words other than the target (the real context word
  among them, so the observed assignment is one draw of the null: a permutation test of "to this
  head, the context word is just another word of the sentence"), every head's mean over the N
  sentences is recomputed and the maximum over heads kept; R repeats from a fixed seed. Position
  is part of what it tests: a head that reads the target's neighbour passes where the context
  words are often neighbours, so the data vary the distance.
- *Corrected p* of an observed best-of-heads value against such a null: the share of the R
  repeats that reach it, counting the observed value as one of them, (1 + #{null >= observed}) /
  (1 + R): never 0, since R repeats cannot show a p below 1 / (R + 1) (Phipson and Smyth, 2010).
- *Shuffled-target null* of a target-attention score (:func:`target_attention`), best of heads:
  each scored query's target is replaced by a key drawn uniformly from the keys it sees (0 .. t
  under a causal mask, itself included), every head's score is recomputed and the maximum over
  heads kept; R repeats from a fixed seed. Its expectation per head is the uniform null; its spread
  is what the best of many heads reaches by luck when its attention has nothing to do with the
  targets.
- *Sign-flip null* of paired differences (a head's score on a sequence minus its score on that
  sequence's twin, N sequences), best of heads: under "the twins are exchangeable" each
  difference is as likely with either sign, so each sequence's differences flip sign together
  (all heads at once, keeping their correlation) with probability 1/2, every head's mean
  difference is recomputed and the maximum over heads kept; R repeats from a fixed seed. A head
  whose mean difference exceeds the null's 95th percentile beats it with a family-wise error of 5%
  over all heads (Westfall and Young's max statistic).
- *Attention by offset* (under a causal mask): the mean weight a query at position t gives the key
  d = t - s positions before it (d = 0: the query itself), over every (sequence, query) pair with a
  key at that offset, each counting once; per head, layer or any other leading axes. Its *uniform
  null* is what a head spreading its attention evenly over the keys a query sees gives at every
  offset, 1 / (t + 1), averaged over the same queries (the composition of short and long
  sequences, early and late queries, is the same in both). *Without the first token*: key 0 is
  left out and each row renormalised over keys 1..t, so a sink on the first token no longer
  decides the curve; the pairs whose key at offset d is key 0 are dropped, and the null is 1 / t.
  At d = 1 with every key kept it is the previous-token score.
- *Ratio bootstrap*: an interval for a pooled mean, sum of numerators over sum of denominators
  (weights over queries), resampling whole clusters (e.g. Winograd pairs, as in the pair bootstrap)
  R times from a fixed seed and taking the percentiles of the pooled ratio.
- *Rotary score at offset d* (RoPE, Su et al. 2021): the score q.k / sqrt(D) of a query vector q
  and a key vector k taken before rotation (the rotate-half layout of :mod:`attn_jax.llama`: pair i
  is (x_i, x_{i+D/2}), read as the complex number z_i = x_i + j x_{i+D/2}), q rotated to position
  p + d and k to position p. Rotation multiplies z_i by e^{j theta_i position} with
  theta_i = base^(-2i/D), so the score is sum_i Re(zq_i conj(zk_i) e^{j theta_i d}) / sqrt(D): a
  function of d alone, whatever p (the closed form, computed in float64). Pair i's *wavelength*,
  the offset over which it turns once, is 2 pi / theta_i = 2 pi base^(2i/D) tokens. Computed in
  float32 the rotation angle p theta_i is rounded (relative error about 2^-24 each in theta_i and
  in the product), so a float32 score may differ from the closed form by up to the *rounding
  bound* |q| |k| / sqrt(D) * (2^-23 (2p + d) + 2^-20): a score outside it is not rounding.
- *KV cache bytes per token*: a decoder keeps every layer's keys and values for each token it has
  seen, 2 (keys, values) x L x G x D numbers (G key/value heads; full multi-head attention has one
  per query head, G = H), each of 4 bytes in float32.
- *Dot products of a decode step*: writing the token after T tokens, the new token's query meets
  every cached key, L x H x T query-key products; without a cache every position's query is
  recomputed against its keys, L x H x T (T + 1) / 2 (earlier queries' outputs are needed again
  because the next layer's keys and values are computed from them).
- *First-token share* (attention sinks, Xiao et al. 2023): per head and text, the mean over the
  queries 1 .. n-1 of the weight on key 0, the text's first token (more generally: on key k, over
  the queries from q0 on). Query 0 is left out: under a causal mask it sees only itself, so its
  weight on the first token is 1 whatever the head does. Over texts, the mean of the per-text
  shares (each text counts once, whatever its length). Its *uniform null* is what a head spreading
  its attention evenly over the keys each query sees gives key k, 1 / (t + 1) at query t, averaged
  over the same queries.
- *Perplexity* of scored tokens: exp of their mean loss in nats. The *gap closed* by the sinks,
  with mean losses over the same tokens under full attention (F), a window over the recent tokens
  (W) and the window plus the first few tokens (S): (W - S) / (W - F), in log perplexity; 1: the
  sinks bring back full attention's loss, 0: they do not help.
- *Block bootstrap* of a mean over one long text's tokens: neighbouring tokens share their context,
  so they are not independent draws; the text is cut into blocks of consecutive tokens and whole
  blocks are resampled (the pair bootstrap with the blocks as clusters).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ROLES", "ROLE_THRESHOLD", "STRONG_WEIGHT", "strong_heads", "wilson_interval", "clusters",
    "pair_bootstrap", "first_mention_preference", "candidate_attention", "choice_accuracy",
    "pair_consistency", "best_head_null", "candidate_share", "specificity", "role_scores",
    "focus_scores", "head_roles", "role_shares", "contribution_norms", "special_shares", "cosine_rows",
    "neighbour_overlap", "ablation_importance", "target_attention", "induction_scores",
    "previous_token_targets", "previous_token_scores", "uniform_target_attention", "in_context_score",
    "link_excesses", "link_excess", "decoy_null", "null_p_value",
    "shuffled_target_null", "sign_flip_null",
    "offset_attention", "pooled", "ratio_bootstrap", "rope_wavelengths", "rotary_scores", "scaled_dots",
    "rotary_rounding_bound", "kv_cache_bytes", "decode_dot_products",
    "first_token_share", "uniform_first_token_share", "perplexity", "gap_closed", "blocks",
]

ROLES = ("previous word", "next word", "[CLS] sink", "[SEP] sink", "broadcast", "none")
ROLE_THRESHOLD = 0.5  # "most": a role's mean weight must reach half of the attention
STRONG_WEIGHT = 0.3  # a "strong" link: about 4x the even share of a 13-token sentence


def wilson_interval(k: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (95% by default)."""
    if n <= 0:
        raise ValueError(f"need at least one trial, got n={n}")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(centre - half), float(centre + half)


def candidate_attention(att: np.ndarray, query: int, pieces) -> np.ndarray:
    """Attention from token ``query`` to a candidate (summed over its ``pieces``): ``[..., n, n]`` -> ``[...]``."""
    pieces = list(pieces)
    if not pieces:
        raise ValueError("a candidate needs at least one WordPiece")
    return np.asarray(att, np.float64)[..., query, pieces].sum(-1)


def choice_accuracy(to_a: np.ndarray, to_b: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Per schema and head, 1 if the correct candidate gets more attention, 0.5 on a tie, else 0.

    to_a, to_b ``[N, ...]`` (attention to candidates A and B), correct ``[N]`` (0 = A, 1 = B) ->
    right ``[N, ...]`` as float64; its mean over N is each head's accuracy.
    """
    to_a, to_b = np.asarray(to_a, np.float64), np.asarray(to_b, np.float64)
    correct = np.asarray(correct).reshape((-1,) + (1,) * (to_a.ndim - 1))
    chooses_a = np.where(to_a > to_b, 1.0, np.where(to_a < to_b, 0.0, 0.5))
    return np.where(correct == 0, chooses_a, 1.0 - chooses_a)


def pair_consistency(right: np.ndarray, pair: np.ndarray) -> tuple[np.ndarray, int]:
    """Share of complete pairs (both halves present) where both halves are right.

    right ``[N, ...]`` from :func:`choice_accuracy`, pair ``[N]`` pair ids (-1 = unpaired).
    Returns ``(share [...], number of complete pairs)``; a tie counts as half right in each half.
    """
    pair = np.asarray(pair)
    ids = [p for p in np.unique(pair[pair >= 0]) if (pair == p).sum() == 2]
    if not ids:
        raise ValueError("no complete pairs to measure consistency on")
    both = np.stack([right[pair == p].prod(0) for p in ids])
    return both.mean(0), len(ids)


def best_head_null(right: np.ndarray, pair: np.ndarray, repeats: int = 10000, seed: int = 0) -> np.ndarray:
    """Best-of-heads accuracy under shuffled labels (see the module doc): ``[N, ...]`` -> ``[R]``.

    Flipping which candidate is correct turns ``right`` into ``1 - right``, so repeat r's accuracy
    per head is ``(sum_i right_i + sum_i f_ri (1 - 2 right_i)) / N`` for flips ``f [R, N]``.
    """
    right = np.asarray(right, np.float64).reshape(len(right), -1)  # [N, heads]
    pair = np.asarray(pair)
    groups = np.where(pair >= 0, pair, pair.max(initial=-1) + 1 + np.arange(len(pair)))  # unpaired: own group
    _, group_index = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    flips = rng.integers(0, 2, size=(repeats, group_index.max() + 1))[:, group_index].astype(np.float64)  # [R, N]
    acc = (right.sum(0)[None] + flips @ (1.0 - 2.0 * right)) / len(right)  # [R, heads]
    return acc.max(1)


def candidate_share(att: np.ndarray, query: int, pieces_a, pieces_b) -> tuple[np.ndarray, float]:
    """Share of the query's attention on both candidates together, and their even share.

    Returns ``(share [...], even)`` where even = (pieces of A + pieces of B) / n: what a head
    spreading its attention evenly over all n tokens would give them.
    """
    share = candidate_attention(att, query, pieces_a) + candidate_attention(att, query, pieces_b)
    return share, (len(list(pieces_a)) + len(list(pieces_b))) / np.shape(att)[-1]


def specificity(att: np.ndarray, a: int, pieces_b) -> tuple[np.ndarray, np.ndarray]:
    """Weight from query token ``a`` to B, and the mean weight B gets from the other queries.

    att ``[..., n, n]`` -> ``(a_to_b [...], others_to_b [...])``; "others" are every query token
    except ``a`` and B's own pieces.
    """
    att = np.asarray(att, np.float64)
    pieces_b = list(pieces_b)
    to_b = att[..., :, pieces_b].sum(-1)  # [..., n] each query's weight on B
    others = [i for i in range(att.shape[-1]) if i != a and i not in pieces_b]
    return to_b[..., a], to_b[..., others].mean(-1)


def role_scores(att: np.ndarray, special) -> np.ndarray:
    """Each role's score (module doc) per head: ``[..., n, n]`` -> ``[..., 5]`` in :data:`ROLES` order."""
    att = np.asarray(att, np.float64)
    special = np.asarray(special, bool)
    n = att.shape[-1]
    ordinary = np.flatnonzero(~special)
    prev_q = np.array([i for i in ordinary if i > 0 and not special[i - 1]], int)
    next_q = np.array([i for i in ordinary if i + 1 < n and not special[i + 1]], int)
    nan = np.full(att.shape[:-2], np.nan)

    def mean_at(rows, cols):
        return att[..., rows, cols].mean(-1) if len(rows) else nan

    sub = att[..., ordinary[:, None], ordinary[None, :]]  # [..., o, o] ordinary queries x keys
    k = len(ordinary)
    off_diag = ~np.eye(k, dtype=bool)
    broadcast = (np.where(off_diag, sub, 0.0).sum(-2) / max(k - 1, 1)).max(-1) if k > 1 else nan
    scores = [mean_at(prev_q, prev_q - 1), mean_at(next_q, next_q + 1), mean_at(ordinary, np.zeros_like(ordinary)),
              mean_at(ordinary, np.full_like(ordinary, n - 1)), broadcast]
    return np.nan_to_num(np.stack(scores, -1), nan=0.0)


def focus_scores(att: np.ndarray, special) -> np.ndarray:
    """Each head's focus (module doc): ``[..., n, n]`` -> ``[...]``; a query with no far ordinary key counts 0."""
    att = np.asarray(att, np.float64)
    special = np.asarray(special, bool)
    n = att.shape[-1]
    ordinary = np.flatnonzero(~special)
    pos = np.arange(n)
    far = (np.abs(pos[:, None] - pos[None, :]) > 1) & ~special[None, :]  # [n, n] query x key
    if not len(ordinary):
        return np.zeros(att.shape[:-2])
    return np.where(far[ordinary], att[..., ordinary, :], 0.0).max(-1).mean(-1)


def strong_heads(weights: np.ndarray) -> np.ndarray:
    """Which heads are strong (module doc) for one link: weights ``[...]`` -> bool ``[...]``."""
    return np.asarray(weights, np.float64) > STRONG_WEIGHT


def head_roles(scores: np.ndarray, threshold: float = ROLE_THRESHOLD) -> np.ndarray:
    """Role index (into :data:`ROLES`) per head from :func:`role_scores`: ``[..., 5]`` -> int ``[...]``."""
    best = scores.argmax(-1)
    return np.where(scores.max(-1) >= threshold, best, len(ROLES) - 1)


def role_shares(roles: np.ndarray) -> np.ndarray:
    """Share of sentences in which each head takes each role: int ``[N, ...]`` -> ``[..., len(ROLES)]``."""
    return np.stack([(roles == r).mean(0) for r in range(len(ROLES))], -1)


def contribution_norms(att: np.ndarray, v: np.ndarray, w_out: np.ndarray) -> np.ndarray:
    """``||alpha_hij * v_jh @ W_O[h]||`` for one layer of one sentence.

    att ``[H, n, n]``, v ``[n, H, D]`` (value vectors, bias included), w_out ``[H*D, M]`` (the
    output projection, rows of head h at h*D .. (h+1)*D - 1) -> ``[H, n, n]``.
    """
    n, h, d = v.shape
    if att.shape != (h, n, n) or w_out.shape[0] != h * d:
        raise ValueError(f"att must be [H, n, n] = {(h, n, n)} and w_out [H*D, M] with H*D = {h * d}; "
                         f"got {att.shape} and {w_out.shape}")
    moved = np.asarray(v, np.float64).transpose(1, 0, 2) @ np.asarray(w_out, np.float64).reshape(h, d, -1)  # [H, n, M]
    return np.asarray(att, np.float64) * np.linalg.norm(moved, axis=-1)[:, None, :]  # [H, 1, n] per key


def special_shares(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of the total that lands on [CLS] (position 0) and on [SEP] (last), per head.

    weights ``[..., H, n, n]`` (attention weights or contribution norms), summed over all query
    rows (each row normalised first, so every query counts equally) -> two ``[..., H]``.
    """
    w = np.asarray(weights, np.float64)
    total = w.sum(-1, keepdims=True)
    rows = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    return rows[..., :, 0].mean(-1), rows[..., :, -1].mean(-1)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows: ``[..., N, M]`` x ``[..., N, M]`` -> ``[..., N]``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def neighbour_overlap(reference: np.ndarray, other: np.ndarray, k: int = 5) -> float:
    """Mean share of each sentence's k nearest neighbours (cosine, itself excluded) under
    ``reference [N, M]`` that are still among its k nearest under ``other [N, M]``."""
    def top(e):
        e = np.asarray(e, np.float64)
        e = e / np.linalg.norm(e, axis=-1, keepdims=True)
        sim = e @ e.T
        np.fill_diagonal(sim, -np.inf)
        return np.argsort(-sim, axis=1, kind="stable")[:, :k]

    if len(reference) <= k:
        raise ValueError(f"need more than k={k} sentences, got {len(reference)}")
    ra, rb = top(reference), top(other)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(ra, rb)]))


def ablation_importance(full: np.ndarray, ablated: np.ndarray) -> np.ndarray:
    """Importance of each removed head: mean over sentences of 1 - cosine(full, without it).

    full ``[N, M]`` embeddings of the whole model, ablated ``[..., N, M]`` -> ``[...]``.
    """
    return 1.0 - cosine_rows(np.broadcast_to(full, np.shape(ablated)), ablated).mean(-1)


def target_attention(att: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Mean weight on each query's target key (module doc).

    att ``[N, ..., n, n]`` (N sequences; any head axes between, e.g. ``[N, L, H, n, n]``), targets
    int ``[N, n]`` (a key position per query, -1 = not scored) -> ``[...]``.
    """
    att, targets = np.asarray(att), np.asarray(targets)
    if targets.ndim != 2 or att.ndim < 3 or att.shape[0] != targets.shape[0] \
            or att.shape[-2:] != (targets.shape[1],) * 2:
        raise ValueError(f"att must be [N, ..., n, n] and targets [N, n] with the same N and n; "
                         f"got {att.shape} and {targets.shape}")
    seq, query = np.nonzero(targets >= 0)  # [K] each: the scored (sequence, query) pairs
    if not len(seq):
        raise ValueError("no query has a target (all targets are -1)")
    if targets.max() >= targets.shape[1]:
        raise ValueError(f"a target key is past the last position {targets.shape[1] - 1}: {targets.max()}")
    # Picked before the cast: a real model's attention is large, the picked weights are few.
    return att[seq, ..., query, targets[seq, query]].astype(np.float64).mean(0)  # indices first: [K, ...]


def induction_scores(att: np.ndarray, induction_targets: np.ndarray) -> np.ndarray:
    """Induction score per head: ``[N, ..., n, n]`` and int ``[N, n]`` (the position after each
    repeated token's earlier occurrence, -1 = not a scored repeat) -> ``[...]``."""
    return target_attention(att, induction_targets)


def previous_token_targets(num_sequences: int, n: int) -> np.ndarray:
    """Targets of the previous-token score: int ``[N, n]``, t - 1 at query t, -1 at the first."""
    return np.broadcast_to(np.arange(-1, n - 1), (num_sequences, n)).copy()


def previous_token_scores(att: np.ndarray) -> np.ndarray:
    """Previous-token score per head: ``[N, ..., n, n]`` -> ``[...]``."""
    att = np.asarray(att)
    return target_attention(att, previous_token_targets(att.shape[0], att.shape[-1]))


def uniform_target_attention(targets: np.ndarray, causal: bool = True) -> float:
    """The uniform null (module doc) of :func:`target_attention` for int ``[N, n]`` targets: the
    mean over scored queries of 1 / (keys the query sees): t + 1 when ``causal``, else n."""
    targets = np.asarray(targets)
    _, query = np.nonzero(targets >= 0)
    if not len(query):
        raise ValueError("no query has a target (all targets are -1)")
    seen = query + 1.0 if causal else np.full(len(query), float(targets.shape[1]))
    return float((1.0 / seen).mean())


def in_context_score(losses: np.ndarray, early, late) -> np.ndarray:
    """Mean loss at the ``late`` positions minus mean loss at the ``early`` ones (module doc).

    losses ``[..., n]`` (per position, e.g. averaged over sequences), early and late: position
    indices or slices into the last axis -> ``[...]``.
    """
    losses = np.asarray(losses, np.float64)
    return losses[..., late].mean(-1) - losses[..., early].mean(-1)


def clusters(pair: np.ndarray) -> np.ndarray:
    """Cluster index per schema for :func:`pair_bootstrap`: both halves of a pair share one, an
    unpaired schema (pair id -1) gets its own. int ``[N]`` -> int ``[N]`` in ``0 .. G-1``."""
    pair = np.asarray(pair)
    groups = np.where(pair >= 0, pair, pair.max(initial=-1) + 1 + np.arange(len(pair)))
    return np.unique(groups, return_inverse=True)[1].reshape(-1)


def pair_bootstrap(values: np.ndarray, pair: np.ndarray, repeats: int = 10000, seed: int = 0,
                   level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the mean over schemas, resampling whole pairs (module doc).

    values ``[N, ...]`` (e.g. :func:`choice_accuracy`'s ``right``), pair ``[N]`` pair ids (-1 =
    unpaired) -> ``(low [...], high [...])``. Each repeat draws G clusters with replacement and
    takes the mean over the schemas they hold.
    """
    values = np.asarray(values, np.float64)
    flat = values.reshape(len(values), -1)  # [N, K]
    group = clusters(pair)
    g = group.max() + 1
    sums = np.zeros((g, flat.shape[1]))
    np.add.at(sums, group, flat)
    sizes = np.bincount(group, minlength=g).astype(np.float64)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(g, np.full(g, 1.0 / g), size=repeats).astype(np.float64)  # [R, G]
    means = (counts @ sums) / (counts @ sizes)[:, None]  # [R, K]
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return low.reshape(values.shape[1:]), high.reshape(values.shape[1:])


def first_mention_preference(to_a: np.ndarray, to_b: np.ndarray, a_first: np.ndarray) -> np.ndarray:
    """Per schema and head, 1 if the candidate mentioned first gets more attention, 0.5 on a tie.

    to_a, to_b ``[N, ...]`` (attention to candidates A and B), a_first bool ``[N]`` (A occurs
    before B in the sentence) -> ``[N, ...]`` float64; its mean over N is each head's preference.
    """
    return choice_accuracy(to_a, to_b, np.where(np.asarray(a_first), 0, 1))


def link_excesses(att: np.ndarray, target: int, special) -> np.ndarray:
    """Link excess (module doc) of word ``target`` towards every word of its sentence, each taken
    in turn as the context word.

    att ``[..., w, w]`` word-level attention (row = query), special bool ``[w]`` -> ``[..., w]``:
    entry j is the excess with word j as the context word; NaN at the target and the special words.
    With S the target's total weight on its m ordinary keys (itself excluded), entry j is
    ``a_j - (S - a_j) / (m - 1)``.
    """
    att = np.asarray(att, np.float64)
    keys = ~np.asarray(special, bool)  # [w] the candidate context words: ordinary, not the target
    keys[target] = False
    m = int(keys.sum())
    if m < 2:
        raise ValueError(f"a link excess needs the context word and at least one other ordinary word; got {m} word(s)")
    row = att[..., target, :]  # [..., w]
    total = np.where(keys, row, 0.0).sum(-1, keepdims=True)
    return np.where(keys, row - (total - row) / (m - 1), np.nan)


def link_excess(att: np.ndarray, target: int, context: int, special) -> np.ndarray:
    """Link excess (module doc) from word ``target`` to word ``context``: ``[..., w, w]`` -> ``[...]``."""
    if context == target or np.asarray(special, bool)[context]:
        raise ValueError(f"the context word (index {context}) must be an ordinary word other than the target "
                         f"({target})")
    return link_excesses(att, target, special)[..., context]


def decoy_null(candidates, repeats: int = 10000, seed: int = 0) -> np.ndarray:
    """Best-of-heads mean link excess with random decoys for the context words (module doc).

    candidates: N arrays ``[k_i, ...]``, sentence i's link excess per head with each of its k_i
    ordinary words other than the target as the context word (the rows of :func:`link_excesses`
    that are not NaN) -> ``[R]``: per repeat, one row drawn per sentence, the mean over the N
    sentences, the maximum over heads.
    """
    if not len(candidates):
        raise ValueError("the null needs at least one sentence")
    rng = np.random.default_rng(seed)
    total = 0.0
    for c in candidates:
        c = np.asarray(c, np.float64)
        c = c.reshape(len(c), -1)  # [k_i, heads]
        total = total + c[rng.integers(0, len(c), size=repeats)]  # [R, heads]
    return (total / len(candidates)).max(-1)


def null_p_value(null: np.ndarray, observed: float) -> float:
    """Corrected p (module doc) of ``observed`` against a best-of-heads null ``[R]``."""
    null = np.asarray(null, np.float64)
    return float((1 + (null >= observed).sum()) / (1 + null.size))


def shuffled_target_null(att: np.ndarray, targets: np.ndarray, repeats: int = 1000, seed: int = 0) -> np.ndarray:
    """Best-of-heads :func:`target_attention` with shuffled targets (module doc).

    att ``[N, ..., n, n]`` (causal: query t sees keys 0 .. t), targets int ``[N, n]`` (-1 = not
    scored; only which queries are scored matters) -> ``[R]``.
    """
    att, targets = np.asarray(att), np.asarray(targets)
    if targets.ndim != 2 or att.shape[0] != targets.shape[0] or att.shape[-2:] != (targets.shape[1],) * 2:
        raise ValueError(f"att must be [N, ..., n, n] and targets [N, n] with the same N and n; "
                         f"got {att.shape} and {targets.shape}")
    seq, query = np.nonzero(targets >= 0)  # [K] each
    if not len(seq):
        raise ValueError("no query has a target (all targets are -1)")
    n = targets.shape[1]
    rows = att[seq, ..., query, :]  # [K, ..., n]: each scored query's row
    rows = np.ascontiguousarray(rows.reshape(len(seq), -1, n).transpose(0, 2, 1))  # [K, n, heads]
    rng = np.random.default_rng(seed)
    picks = np.arange(len(seq))
    out = np.empty(repeats)
    for r in range(repeats):
        keys = np.floor(rng.random(len(seq)) * (query + 1)).astype(np.int64)  # uniform on 0 .. t
        out[r] = rows[picks, keys].mean(0, dtype=np.float64).max()
    return out


def sign_flip_null(differences: np.ndarray, repeats: int = 10000, seed: int = 0) -> np.ndarray:
    """Best-of-heads mean paired difference under random sign flips (module doc): ``[N, ...]`` -> ``[R]``."""
    d = np.asarray(differences, np.float64)
    if not len(d):
        raise ValueError("the null needs at least one sequence")
    d = d.reshape(len(d), -1)  # [N, heads]
    flips = np.random.default_rng(seed).integers(0, 2, size=(repeats, len(d))) * 2.0 - 1.0  # [R, N]
    return (flips @ d / len(d)).max(1)


def offset_attention(atts, max_offset: int, skip_first: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Attention by offset (module doc), per sequence, as sums ready to pool.

    atts: N arrays ``[..., n_i, n_i]`` (row = query; the same leading axes, e.g. ``[L, H]``),
    ``skip_first``: key 0 left out and rows renormalised (module doc) -> ``(sums [N, ..., K],
    counts [N, K], null [N, K])`` for offsets d = 0..K-1, K = ``max_offset + 1``: each sequence's
    weights at offset d summed over its queries, how many queries have a key at offset d, and the
    uniform null's weights summed over the same queries. Pool with :func:`pooled`.
    """
    if max_offset < 0 or not len(atts):
        raise ValueError(f"need max_offset >= 0 and at least one sequence; got {max_offset}, {len(atts)}")
    k = max_offset + 1
    first = 1 if skip_first else 0
    sums, counts, null = [], np.zeros((len(atts), k)), np.zeros((len(atts), k))
    for i, att in enumerate(atts):
        att = np.asarray(att, np.float64)
        n = att.shape[-1]
        if att.ndim < 2 or att.shape[-2] != n:
            raise ValueError(f"sequence {i}: attention must be [..., n, n]; got {att.shape}")
        if skip_first:
            att = att.copy()
            att[..., 0] = 0.0
            total = att.sum(-1, keepdims=True)
            att = np.divide(att, total, out=np.zeros_like(att), where=total > 0)
        s = np.zeros(att.shape[:-2] + (k,))
        for d in range(min(n, k)):
            # entry j of the diagonal is query j + d, key j; key 0 (j = 0) left out when skip_first
            s[..., d] = np.diagonal(att, offset=-d, axis1=-2, axis2=-1)[..., first:].sum(-1)
            queries = np.arange(d + first, n)  # t
            counts[i, d] = len(queries)
            null[i, d] = (1.0 / (queries + 1 - first)).sum()
        sums.append(s)
    return np.stack(sums), counts, null


def pooled(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The pooled mean of per-sequence sums ``[N, ..., K]`` over counts ``[N, K]`` (from
    :func:`offset_attention`; its null pools the same way) -> ``[..., K]``; NaN where no sequence
    has a query."""
    sums, total = np.asarray(sums, np.float64).sum(0), np.asarray(counts, np.float64).sum(0)
    return np.divide(sums, total, out=np.full(np.broadcast(sums, total).shape, np.nan), where=total > 0)


def ratio_bootstrap(numerators: np.ndarray, denominators: np.ndarray, cluster: np.ndarray, repeats: int = 10000,
                    seed: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Ratio bootstrap (module doc): numerators ``[N, ...]``, denominators broadcastable to them
    (e.g. ``[N, K]`` counts under ``[N, K]`` sums), cluster ids ``[N]`` (:func:`clusters` turns pair
    ids into them) -> ``(low [...], high [...])`` of sum(numerators) / sum(denominators); NaN where a
    resample's denominator is 0."""
    num = np.asarray(numerators, np.float64)
    den = np.broadcast_to(np.asarray(denominators, np.float64), num.shape)
    group = np.asarray(cluster).reshape(-1)
    if len(group) != len(num):
        raise ValueError(f"one cluster id per row: {len(group)} ids for {len(num)} rows")
    g = group.max() + 1
    sums, dens = np.zeros((g, num[0].size)), np.zeros((g, num[0].size))
    np.add.at(sums, group, num.reshape(len(num), -1))
    np.add.at(dens, group, den.reshape(len(den), -1))
    counts = np.random.default_rng(seed).multinomial(g, np.full(g, 1.0 / g), size=repeats).astype(np.float64)
    top, bottom = counts @ sums, counts @ dens  # [R, X]
    ratios = np.divide(top, bottom, out=np.full_like(top, np.nan), where=bottom > 0)
    tail = (1.0 - level) / 2 * 100
    low, high = np.nanpercentile(ratios, [tail, 100 - tail], axis=0)
    return low.reshape(num.shape[1:]), high.reshape(num.shape[1:])


def rope_wavelengths(head_dim: int, base: float) -> np.ndarray:
    """Each rotary pair's wavelength in tokens (module doc): ``[D/2]``, 2 pi base^(2i/D), shortest first."""
    return 2 * np.pi * np.float64(base) ** (np.arange(0, head_dim, 2) / head_dim)


def rotary_scores(q: np.ndarray, k: np.ndarray, offsets, base: float) -> np.ndarray:
    """Rotary score (module doc), the closed form in float64: q ``[..., D]`` and k ``[..., D]``
    before rotation (broadcast together), offsets int ``[K]`` -> ``[..., K]``, the score of q at
    position p + d against k at position p for each offset d, whatever p."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    half = q.shape[-1] // 2
    if q.shape[-1] != k.shape[-1] or q.shape[-1] % 2:
        raise ValueError(f"q and k need the same even head dim; got {q.shape} and {k.shape}")
    theta = 2 * np.pi / rope_wavelengths(q.shape[-1], base)  # [D/2]
    zq, zk = q[..., :half] + 1j * q[..., half:], k[..., :half] + 1j * k[..., half:]
    turn = np.exp(1j * np.multiply.outer(np.asarray(offsets, np.float64), theta))  # [K, D/2]
    return np.real((zq * np.conj(zk))[..., None, :] * turn).sum(-1) / np.sqrt(q.shape[-1])


def scaled_dots(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """q.k / sqrt(D) of rotated vectors, in float64: ``[..., D]`` and ``[..., D]`` (broadcast) -> ``[...]``."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    return (q * k).sum(-1) / np.sqrt(q.shape[-1])


def rotary_rounding_bound(q: np.ndarray, k: np.ndarray, position: int, offset) -> np.ndarray:
    """The rounding bound (module doc) of a float32 rotary score against the closed form: q, k
    ``[D]`` before rotation, k at ``position``, q at ``position + offset`` (int or ``[K]``)."""
    scale = np.linalg.norm(np.asarray(q, np.float64)) * np.linalg.norm(np.asarray(k, np.float64))
    scale /= np.sqrt(np.shape(q)[-1])
    return scale * (2.0**-23 * (2 * position + np.asarray(offset, np.float64)) + 2.0**-20)


def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, tokens: int = 1, bytes_per_value: int = 4) -> int:
    """KV cache bytes (module doc) for ``tokens`` tokens: 2 x L x G x D x ``bytes_per_value`` each."""
    return 2 * layers * kv_heads * head_dim * bytes_per_value * tokens


def decode_dot_products(tokens, layers: int, heads: int, cached: bool = True):
    """Query-key dot products of the decode step after ``tokens`` tokens (module doc), int or array:
    L x H x T with the cache, L x H x T (T + 1) / 2 without."""
    t = np.asarray(tokens, np.int64)
    out = layers * heads * (t if cached else t * (t + 1) // 2)
    return int(out) if out.ndim == 0 else out


def first_token_share(att: np.ndarray, key: int = 0, first_query: int = 1) -> np.ndarray:
    """First-token share (module doc) of one text: ``[..., n, n]`` -> ``[...]``, the mean weight on
    ``key`` over the queries ``first_query`` .. n-1 (default: key 0, every query but the first)."""
    att = np.asarray(att)
    n = att.shape[-1]
    if att.ndim < 2 or att.shape[-2] != n:
        raise ValueError(f"att must be [..., n, n]; got {att.shape}")
    if not 0 <= key <= first_query < n:
        raise ValueError(f"need 0 <= key <= first_query < n (every query sees the key); "
                         f"got key={key}, first_query={first_query}, n={n}")
    return att[..., first_query:, key].astype(np.float64).mean(-1)


def uniform_first_token_share(n: int, key: int = 0, first_query: int = 1) -> float:
    """The uniform null (module doc) of :func:`first_token_share` for a text of ``n`` tokens: the
    mean of 1 / (t + 1) over the queries t = ``first_query`` .. n-1."""
    if not 0 <= key <= first_query < n:
        raise ValueError(f"need 0 <= key <= first_query < n; got key={key}, first_query={first_query}, n={n}")
    return float((1.0 / np.arange(first_query + 1, n + 1, dtype=np.float64)).mean())


def perplexity(losses: np.ndarray) -> float:
    """Perplexity (module doc): exp of the mean of ``losses`` (nats, any shape)."""
    losses = np.asarray(losses, np.float64)
    if not losses.size:
        raise ValueError("no scored token")
    return float(np.exp(losses.mean()))


def gap_closed(full: float, window: float, sinks: float) -> float:
    """Gap closed by the sinks (module doc), from the three mean losses (log perplexities)."""
    if window == full:
        raise ValueError("the window costs nothing here (same loss as full attention): no gap to close")
    return float((window - sinks) / (window - full))


def blocks(n: int, size: int) -> np.ndarray:
    """Block id of each of ``n`` consecutive tokens, blocks of ``size`` (the last may be shorter),
    for the block bootstrap (module doc): pass them to :func:`pair_bootstrap` as cluster ids."""
    if n < 1 or size < 1:
        raise ValueError(f"need n >= 1 and size >= 1; got n={n}, size={size}")
    return np.arange(n) // size
