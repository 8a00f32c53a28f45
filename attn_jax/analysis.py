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
- *Strong head*: a head whose weight from one word to another exceeds :data:`STRONG_WEIGHT`
  (several times the even share of a short sentence); the article counts them.
- *Contribution* (Kobayashi et al., 2020): what key j moves into query i's output through head h
  is ``alpha_hij * v_jh @ W_O[h]``; its norm is ``alpha_hij * ||v_jh @ W_O[h]||``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ROLES", "ROLE_THRESHOLD", "STRONG_WEIGHT", "strong_heads", "wilson_interval", "candidate_attention", "choice_accuracy",
    "pair_consistency", "best_head_null", "candidate_share", "specificity", "role_scores",
    "focus_scores", "head_roles", "role_shares", "contribution_norms", "special_shares", "cosine_rows",
    "neighbour_overlap", "ablation_importance",
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
