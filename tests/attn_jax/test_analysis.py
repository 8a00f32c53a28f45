"""attn_jax.analysis on synthetic attention whose answers are known by construction."""

import numpy as np
import pytest

from attn_jax import analysis as A


def rows(*weights):
    """A [n, n] attention matrix from rows given as dicts {key: weight}, rest spread evenly."""
    n = len(weights)
    out = np.zeros((n, n))
    for i, row in enumerate(weights):
        rest = (1 - sum(row.values())) / max(n - len(row), 1)
        out[i] = rest
        for j, w in row.items():
            out[i, j] = w
    return out


def test_wilson_interval_known_values():
    lo, hi = A.wilson_interval(50, 100)  # textbook: 0.4038 .. 0.5962
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = A.wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.2775, abs=1e-4)
    with pytest.raises(ValueError, match="at least one trial"):
        A.wilson_interval(0, 0)


def test_candidate_attention_sums_pieces_and_choice_accuracy():
    att = np.zeros((2, 3, 5, 5))
    att[..., 4, 1], att[..., 4, 2], att[..., 4, 3] = 0.1, 0.2, 0.25
    assert np.allclose(A.candidate_attention(att, 4, [1, 2]), 0.3)
    to_a = np.array([[0.3, 0.1, 0.2]])
    to_b = np.array([[0.2, 0.2, 0.2]])
    assert A.choice_accuracy(to_a, to_b, np.array([0])).tolist() == [[1.0, 0.0, 0.5]]
    assert A.choice_accuracy(to_a, to_b, np.array([1])).tolist() == [[0.0, 1.0, 0.5]]
    with pytest.raises(ValueError, match="WordPiece"):
        A.candidate_attention(att, 4, [])


def test_pair_consistency_counts_complete_pairs_only():
    right = np.array([[1, 1], [1, 0], [0, 1], [1, 0], [1, 1.0]])  # 5 schemas x 2 heads
    pair = np.array([0, 0, 1, 1, 2])  # pair 2 has one half: ignored
    share, n = A.pair_consistency(right, pair)
    assert n == 2 and share.tolist() == [0.5, 0.0]


def test_best_head_null_subject_tracker_sits_at_exactly_half():
    # a head that always picks the same candidate is right on exactly one half of every pair,
    # whatever the shuffle: its null accuracy is exactly 0.5 in every repeat
    n = 40
    correct = np.tile([0, 1], n // 2)
    pair = np.repeat(np.arange(n // 2), 2)
    right = A.choice_accuracy(np.ones(n), np.zeros(n), correct)[:, None]
    null = A.best_head_null(right, pair, repeats=200, seed=1)
    assert np.all(null == 0.5)


def test_best_head_null_is_seeded_and_grows_with_heads():
    rng = np.random.default_rng(0)
    n, heads = 60, 72
    right = rng.integers(0, 2, (n, heads)).astype(float)
    pair = np.repeat(np.arange(n // 2), 2)
    a = A.best_head_null(right, pair, repeats=500, seed=3)
    assert np.array_equal(a, A.best_head_null(right, pair, repeats=500, seed=3))
    one = A.best_head_null(right[:, :1], pair, repeats=500, seed=3)
    assert a.mean() > one.mean() and 0.55 < np.percentile(a, 95) < 0.8
    # a perfect head stays perfect only when no pair is flipped: its null is a coin count, mean 0.5
    perfect = A.best_head_null(np.ones((n, 1)), pair, repeats=4000, seed=0)
    assert perfect.mean() == pytest.approx(0.5, abs=0.01)


def test_candidate_share_and_even_share():
    att = np.full((4, 4), 0.25)
    att[3] = [0.1, 0.6, 0.2, 0.1]
    share, even = A.candidate_share(att, 3, [1], [2])
    assert share == pytest.approx(0.8) and even == 0.5


def test_specificity_separates_broadcast_from_specific():
    # broadcast: every token sends 0.7 to token 1; specific: only token 3 does
    n = 5
    broadcast = rows({1: 0.7}, {1: 0.7}, {1: 0.7}, {1: 0.7}, {1: 0.7})
    specific = rows({0: 0.9}, {0: 0.9}, {0: 0.9}, {1: 0.7}, {0: 0.9})
    a_b, others = A.specificity(np.stack([broadcast, specific]), 3, [1])
    assert a_b == pytest.approx([0.7, 0.7])
    # others = queries 0, 2, 4 (not A=3, not B's own piece 1)
    assert others[0] == pytest.approx(0.7) and others[1] == pytest.approx(0.1 / (n - 1))


def test_role_scores_and_roles_on_constructed_heads():
    n = 7  # [CLS] w1 .. w5 [SEP]
    special = np.array([1, 0, 0, 0, 0, 0, 1], bool)
    eye = np.eye(n)
    prev = np.roll(eye, -1, axis=1)  # row i -> i-1
    nxt = np.roll(eye, 1, axis=1)  # row i -> i+1
    cls = np.zeros((n, n)); cls[:, 0] = 1
    sep = np.zeros((n, n)); sep[:, -1] = 1
    bcast = np.zeros((n, n)); bcast[:, 2] = 1; bcast[2, 2] = 0; bcast[2, 3] = 1
    flat = np.full((n, n), 1 / n)
    heads = np.stack([prev, nxt, cls, sep, bcast, flat])
    scores = A.role_scores(heads, special)
    assert scores.shape == (6, 5)
    assert scores[0, 0] == 1 and scores[1, 1] == 1 and scores[2, 2] == 1 and scores[3, 3] == 1
    assert scores[4, 4] == 1  # token 2 takes everything from the 4 other ordinary queries
    assert A.head_roles(scores).tolist() == [0, 1, 2, 3, 4, 5]
    roles = np.array([[0, 5], [0, 4], [2, 4], [0, 4]])  # 4 sentences x 2 heads
    shares = A.role_shares(roles)
    assert shares[0].tolist() == [0.75, 0, 0.25, 0, 0, 0] and shares[1].tolist() == [0, 0, 0, 0, 0.75, 0.25]


def test_role_and_focus_scores_edge_rule_with_a_mid_sentence_sep():
    """A neighbour that is a special token is not a previous or next word.

    "[CLS] a b [SEP] c d [SEP]": previous word is asked of b (-> a) and d (-> c) only, next word
    of a (-> b) and c (-> d) only; a's previous is [CLS], c's is the middle [SEP].
    """
    n = 7
    special = np.array([1, 0, 0, 1, 0, 0, 1], bool)
    a, b, sep, c, d, last = 1, 2, 3, 4, 5, 6
    before = np.zeros((n, n)); before[np.arange(1, n), np.arange(n - 1)] = 1; before[0, 0] = 1  # row i -> i-1
    after = np.zeros((n, n)); after[np.arange(n - 1), np.arange(1, n)] = 1; after[-1, -1] = 1  # row i -> i+1
    only_special_neighbours = np.eye(n); only_special_neighbours[a] = 0; only_special_neighbours[a, 0] = 1
    only_special_neighbours[c] = 0; only_special_neighbours[c, sep] = 1  # a -> [CLS], c -> [SEP]; b, d -> self
    far = np.zeros((n, n)); far[:, 0] = 1  # specials' own rows do not matter
    for q, k in ((a, d), (b, a), (c, a), (d, b)):  # half on itself, half on one word
        far[q] = 0; far[q, q] = 0.5; far[q, k] = 0.5
    scores = A.role_scores(np.stack([before, after, only_special_neighbours, far]), special)
    # broadcast: key a gets 1 from b and nothing from c, d (1/3); likewise c from d, b from a, d from c
    assert scores[0] == pytest.approx([1, 0, 0.25, 0, 1 / 3])  # b -> a, d -> c; a -> [CLS] is the [CLS] sink
    assert scores[1] == pytest.approx([0, 1, 0, 0.25, 1 / 3])  # a -> b, c -> d; d -> the last [SEP]
    assert scores[2, :2].tolist() == [0, 0]  # would be 0.5 and 0 if special neighbours counted
    # focus: a's far words are c, d; b's are c, d (a is its neighbour); c's a, b; d's a, b
    focus = A.focus_scores(np.stack([before, after, only_special_neighbours, far]), special)
    assert focus.tolist() == [0, 0, 0, (0.5 + 0 + 0.5 + 0.5) / 4]
    # one word: no query has an ordinary neighbour or a far word, so those scores are 0, not NaN
    one = np.zeros((3, 3)); one[:, 0] = 1
    assert A.role_scores(one, [True, False, True]).tolist() == [0, 0, 1, 0, 0]
    assert A.focus_scores(one, [True, False, True]) == 0


def test_contribution_norms_against_a_loop():
    rng = np.random.default_rng(0)
    h, n, d, m = 3, 5, 2, 7
    att = rng.dirichlet(np.ones(n), size=(h, n))
    v = rng.normal(size=(n, h, d))
    w = rng.normal(size=(h * d, m))
    got = A.contribution_norms(att, v, w)
    for hh in range(h):
        for i in range(n):
            for j in range(n):
                want = np.linalg.norm(att[hh, i, j] * v[j, hh] @ w[hh * d:(hh + 1) * d])
                assert got[hh, i, j] == pytest.approx(want)
    with pytest.raises(ValueError, match=r"\[H, n, n\]"):
        A.contribution_norms(att[:, :4], v, w)


def test_special_shares_weight_vs_small_value_norm():
    # half of every query's weight on [CLS], but [CLS]'s value vector is tiny: its share of what
    # moves is small. This is the effect the weight-vs-contribution chart measures.
    n = 4
    att = np.full((1, n, n), 0.5 / (n - 1)); att[..., 0] = 0.5
    v = np.ones((n, 1, 2)); v[0] = 0.01
    w = np.eye(2)
    cls_w, sep_w = A.special_shares(att)
    cls_c, _ = A.special_shares(A.contribution_norms(att, v, w))
    assert cls_w[0] == pytest.approx(0.5) and sep_w[0] == pytest.approx(0.5 / 3)
    assert cls_c[0] == pytest.approx(0.005 / (0.005 + 0.5), rel=1e-9)


def test_neighbour_overlap_and_importance():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(30, 8))
    assert A.neighbour_overlap(e, e, k=5) == 1.0
    assert A.neighbour_overlap(e, 3.0 * e, k=5) == 1.0  # cosine ignores scale
    assert A.neighbour_overlap(e, rng.normal(size=(30, 8)), k=5) < 0.5
    ablated = np.stack([e, -e, e + 1e-9])
    assert A.ablation_importance(e, ablated) == pytest.approx([0.0, 2.0, 0.0], abs=1e-9)


# --- the sense pairs: link excess, its decoy null and the corrected p ----------------------------

SENSE_SPECIAL = np.array([True, False, False, False, False, False, True])  # [CLS] w1 w2 w3 w4 w5 [SEP]


def test_link_excess_by_hand():
    # target w2 (index 2), context w3 (index 3); ordinary words besides the target: w1, w3, w4, w5
    att = np.zeros((7, 7))
    att[2] = [0.1, 0.2, 0.05, 0.4, 0.1, 0.05, 0.1]
    # 0.4 - mean(w1, w4, w5) = 0.4 - (0.2 + 0.1 + 0.05) / 3; the target's own weight and [CLS]/[SEP] play no part
    assert A.link_excess(att, 2, 3, SENSE_SPECIAL) == pytest.approx(0.4 - 0.35 / 3)
    every = A.link_excesses(att, 2, SENSE_SPECIAL)
    assert np.isnan(every[[0, 2, 6]]).all()
    assert every[1] == pytest.approx(0.2 - (0.4 + 0.1 + 0.05) / 3)  # w1 as the context word
    assert every[3] == A.link_excess(att, 2, 3, SENSE_SPECIAL)
    # over the candidates the excesses sum to 0: a head's expected excess for a random decoy is 0
    assert np.nansum(every) == pytest.approx(0.0, abs=1e-12)


def test_link_excess_of_a_linking_head_and_of_uniform_attention():
    looks = np.full((7, 7), 1 / 7)
    looks[2] = 0.0
    looks[2, 3] = 1.0  # the target looks only at the context word
    uniform = np.full((7, 7), 1 / 7)
    sinks = np.full((7, 7), 1 / 7)
    sinks[2] = [0.4, 0.04, 0.04, 0.04, 0.04, 0.04, 0.4]  # most on [CLS]/[SEP], the rest even
    got = A.link_excess(np.stack([looks, uniform, sinks]), 2, 3, SENSE_SPECIAL)  # [3] heads
    assert got == pytest.approx([1.0, 0.0, 0.0], abs=1e-12)
    with pytest.raises(ValueError, match="ordinary word other than the target"):
        A.link_excess(uniform, 2, 2, SENSE_SPECIAL)
    with pytest.raises(ValueError, match="ordinary word other than the target"):
        A.link_excess(uniform, 2, 0, SENSE_SPECIAL)
    with pytest.raises(ValueError, match="at least one other ordinary word"):
        A.link_excesses(np.full((4, 4), 0.25), 1, [True, False, False, True])


def _binomial_cdf(n: int) -> np.ndarray:
    from math import comb

    return np.cumsum([comb(n, k) for k in range(n + 1)]) / 2.0 ** n


def test_decoy_null_max_of_two_independent_heads_against_the_binomial():
    # 20 sentences, two heads; each sentence has four decoys whose excess is (+1, +1), (+1, -1),
    # (-1, +1), (-1, -1) for the two heads: a uniform draw gives each head an independent fair sign.
    # A head's mean is (2B - N) / N with B ~ Binomial(N, 1/2); the null keeps the larger of two.
    n = 20
    decoys = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], float)
    null = A.decoy_null([decoys] * n, repeats=20000, seed=1)
    values = (2 * np.arange(n + 1) - n) / n
    cdf_max = _binomial_cdf(n) ** 2  # P(max <= value)
    p95 = values[np.searchsorted(cdf_max, 0.95)]  # the smallest value with P(max <= value) >= 0.95
    mean = float((values * np.diff(cdf_max, prepend=0.0)).sum())
    assert set(np.unique(null)) <= set(values)
    assert np.percentile(null, 95) == pytest.approx(p95, abs=2 / n + 1e-9)  # within one step of the grid
    assert null.mean() == pytest.approx(mean, abs=0.01)  # 0.125 by hand (p95 0.4)
    assert A.decoy_null([decoys] * n, repeats=500, seed=1).tolist() == A.decoy_null([decoys] * n, 500, 1).tolist()


def test_decoy_null_on_random_attention_is_centred_for_one_head():
    # one head, Dirichlet attention: the decoy excesses of each sentence sum to 0, so the null of a
    # single head (nothing to take the best of) averages 0 within its standard error
    rng = np.random.default_rng(0)
    cands = []
    for _ in range(30):
        att = rng.dirichlet(np.ones(7), size=7)
        every = A.link_excesses(att, 2, SENSE_SPECIAL)
        cands.append(every[~np.isnan(every)][:, None])  # [4, 1]
    null = A.decoy_null(cands, repeats=4000, seed=0)
    assert abs(null.mean()) < 3 * null.std() / np.sqrt(4000)
    with pytest.raises(ValueError, match="at least one sentence"):
        A.decoy_null([], 10)


def test_null_p_value_counts_the_observed_value_as_one_draw():
    null = np.array([0.1, 0.2, 0.3, 0.4])
    assert A.null_p_value(null, 0.3) == pytest.approx(3 / 5)  # 0.3, 0.4 and the observed
    assert A.null_p_value(null, 1.0) == pytest.approx(1 / 5)  # never 0
    assert A.null_p_value(null, 0.0) == 1.0


# --- attention by offset, ratio bootstrap, rotary scores, KV cache sizes ---------------------------


def causal_uniform(n: int) -> np.ndarray:
    """Row t spreads its weight evenly over keys 0..t."""
    return np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]


def test_offset_attention_of_an_even_spread_equals_its_null_and_counts_queries():
    atts = [causal_uniform(3), causal_uniform(5)]
    for skip_first in (False, True):
        sums, counts, null = A.offset_attention(atts, 6, skip_first=skip_first)
        assert sums.shape == (2, 7) and counts.shape == null.shape == (2, 7)
        np.testing.assert_allclose(sums, null, atol=1e-12)  # an even spread is its own null
    sums, counts, null = A.offset_attention(atts, 6)
    assert counts.tolist() == [[3, 2, 1, 0, 0, 0, 0], [5, 4, 3, 2, 1, 0, 0]]  # queries with a key d back
    # d = 1 in the 3-token sequence: queries 1 and 2 give 1/2 and 1/3 to the key before them
    assert sums[0, 1] == pytest.approx(1 / 2 + 1 / 3)
    mean = A.pooled(sums, counts)
    assert mean[1] == pytest.approx((1 / 2 + 1 / 3 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 6)  # each query once
    assert np.isnan(mean[5]) and np.isnan(mean[6])  # no sequence reaches offset 5
    # without the first token: query t spreads over keys 1..t (null 1/t); key 0 never counts
    _, counts1, null1 = A.offset_attention(atts, 6, skip_first=True)
    assert counts1.tolist() == [[2, 1, 0, 0, 0, 0, 0], [4, 3, 2, 1, 0, 0, 0]]
    assert null1[0, 0] == pytest.approx(1 / 1 + 1 / 2)


def test_offset_attention_renormalises_without_the_first_token():
    # query 2 gives 0.6 to the first token, 0.3 to key 1, 0.1 to itself: without key 0, 0.75 and 0.25
    att = rows({0: 1.0}, {0: 0.5, 1: 0.5}, {0: 0.6, 1: 0.3, 2: 0.1})
    sums, counts, _ = A.offset_attention([att], 2, skip_first=True)
    assert counts[0].tolist() == [2, 1, 0]  # d = 2 from query 2 is key 0: dropped
    assert sums[0].tolist() == pytest.approx([1.0 + 0.25, 0.75, 0.0])
    sums, counts, _ = A.offset_attention([att], 2)
    assert sums[0].tolist() == pytest.approx([1.0 + 0.5 + 0.1, 0.5 + 0.3, 0.6]) and counts[0].tolist() == [3, 2, 1]


def test_offset_attention_at_one_is_the_previous_token_score_per_head():
    rng = np.random.default_rng(0)
    att = rng.dirichlet(np.ones(6), size=(4, 2, 3, 6)) * np.tril(np.ones((6, 6)))  # [N, L, H, n, n]
    att /= att.sum(-1, keepdims=True)
    sums, counts, _ = A.offset_attention(list(att), 3)
    np.testing.assert_allclose(A.pooled(sums, counts[:, None, None])[..., 1], A.previous_token_scores(att), atol=1e-12)
    with pytest.raises(ValueError, match="max_offset >= 0"):
        A.offset_attention([], 3)


def test_ratio_bootstrap_resamples_clusters_and_pools_ratios():
    num = np.array([1.0, 3.0, 2.0, 6.0])  # two clusters of two, each with ratio 4/4 = 1 ... and 8/8 = 1
    den = np.array([2.0, 2.0, 4.0, 4.0])
    low, high = A.ratio_bootstrap(num, den, np.array([0, 0, 1, 1]), repeats=200)
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)  # every resample pools to 1
    # one cluster with ratio 0, one with ratio 1: the resampled ratio spans 0 .. 1
    low, high = A.ratio_bootstrap(np.array([0.0, 5.0]), np.array([5.0, 5.0]), np.array([0, 1]), repeats=2000)
    assert low == pytest.approx(0.0) and high == pytest.approx(1.0)
    low, high = A.ratio_bootstrap(np.ones((3, 2)), np.array([[1.0, 2.0]] * 3), A.clusters(np.array([-1, -1, -1])))
    assert low.tolist() == pytest.approx([1.0, 0.5]) and high.tolist() == pytest.approx([1.0, 0.5])


def test_rope_wavelengths_and_the_closed_form_by_hand():
    assert A.rope_wavelengths(4, 100.0).tolist() == pytest.approx([2 * np.pi, 20 * np.pi])
    # D = 2: one pair turning by 1 radian per token; q = k = (1, 0) score cos(d) / sqrt(2)
    d = np.arange(5)
    assert A.rotary_scores([1.0, 0.0], [1.0, 0.0], d, 7.0).tolist() == pytest.approx((np.cos(d) / np.sqrt(2)).tolist())
    # q = (0, 1) is k = (1, 0) turned a quarter ahead: cos(d + pi/2) = -sin(d)
    assert A.rotary_scores([0.0, 1.0], [1.0, 0.0], d, 7.0).tolist() == pytest.approx((-np.sin(d) / np.sqrt(2)).tolist())
    assert A.rotary_scores(np.ones((3, 4)), np.ones(4), d, 10.0).shape == (3, 5)
    assert A.scaled_dots([1.0, 2.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]) == pytest.approx(2.5)


def test_rotary_scores_match_an_explicit_rotation_at_every_position():
    # an independent rotation in float64: each pair (x_i, x_{i+D/2}) turned by position * base^(-2i/D)
    rng = np.random.default_rng(1)
    q, k = rng.normal(size=(2, 8))
    base, half = 50.0, 4
    theta = base ** (-np.arange(half) * 2 / 8)

    def turn(x, pos):
        c, s = np.cos(pos * theta), np.sin(pos * theta)
        return np.concatenate([x[:half] * c - x[half:] * s, x[half:] * c + x[:half] * s])

    offsets = np.arange(20)
    closed = A.rotary_scores(q, k, offsets, base)
    for p in (0, 3, 1000):
        direct = [turn(q, p + d) @ turn(k, p) / np.sqrt(8) for d in offsets]
        np.testing.assert_allclose(direct, closed, atol=1e-9)
    bound = A.rotary_rounding_bound(q, k, 1000, offsets)
    assert (bound > 0).all() and bound[-1] > bound[0] > A.rotary_rounding_bound(q, k, 0, 0)


def test_kv_cache_bytes_and_decode_dot_products_by_hand():
    assert A.kv_cache_bytes(30, 3, 64) == 2 * 30 * 3 * 64 * 4 == 46080  # SmolLM2 in float32
    assert A.kv_cache_bytes(30, 9, 64, tokens=2) == 3 * 2 * 46080
    assert A.kv_cache_bytes(1, 1, 2, np.array([0, 5])).tolist() == [0, 80]
    assert A.decode_dot_products(3, 1, 1) == 3 and A.decode_dot_products(3, 1, 1, cached=False) == 6  # 1 + 2 + 3
    assert A.decode_dot_products(2048, 30, 9, cached=False) == 30 * 9 * 2048 * 2049 // 2
    assert A.decode_dot_products(np.array([1, 4]), 2, 1, cached=False).tolist() == [2, 20]


def test_kv_cache_bytes_match_the_decoders_own_cache_buffers(tiny_llama):
    import jax.numpy as jnp

    from attn_jax.llama import NO_WINDOW, fill_cache, forward

    cfg, params = tiny_llama
    ids = jnp.asarray([[1, 2, 3, 4, 5]], jnp.int32)
    gates = jnp.ones((cfg.num_layers, cfg.num_heads), jnp.float32)
    out = forward(params, ids, gates, jnp.int32(NO_WINDOW), jnp.int32(0), cfg=cfg, weights=False, kv=True)
    cache = fill_cache(out.cache, 16)
    assert cache.k.nbytes + cache.v.nbytes == A.kv_cache_bytes(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, 16)
    assert A.kv_cache_bytes(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim) == 2 * 2 * 1 * 10 * 4  # L 2, G 1, D 10


def causal_uniform(n):
    """[n, n] attention spreading each query evenly over the keys it sees (0 .. t)."""
    return np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]


def test_shuffled_target_null_of_an_even_spread_is_the_uniform_null_in_every_draw():
    n = 6
    att = np.broadcast_to(causal_uniform(n), (3, 2, n, n))  # [N, H, n, n]
    targets = np.full((3, n), -1)
    targets[:, 3:] = [1, 2, 3]
    null = A.shuffled_target_null(att, targets, repeats=50, seed=1)
    assert null.shape == (50,)
    # every key a query sees carries 1 / (t + 1): whatever key is drawn, the score is the uniform null
    assert np.allclose(null, A.uniform_target_attention(targets))


def test_shuffled_target_null_of_a_sink_head_centres_on_the_uniform_null_and_takes_the_best_head():
    n, seqs = 8, 200
    sink = np.zeros((n, n))
    sink[:, 0] = 1.0  # every query on key 0: a draw hits with probability 1 / (t + 1)
    att = np.broadcast_to(sink, (seqs, 1, n, n))
    targets = np.broadcast_to(np.arange(-1, n - 1), (seqs, n))
    null = A.shuffled_target_null(att, targets, repeats=400, seed=0)
    uniform = A.uniform_target_attention(targets)
    k = seqs * (n - 1)
    sd = np.sqrt(np.mean([(1 / (t + 1)) * (1 - 1 / (t + 1)) for t in range(1, n)]) / k)
    assert abs(null.mean() - uniform) < 4 * sd / np.sqrt(400) + 1e-9
    assert null.std() == pytest.approx(sd, rel=0.25)
    # a second head that always hits the real targets (t - 1) scores 1 on them, yet the null draws
    # other targets: it stays near the uniform null, far below the head's own score
    previous = np.eye(n, k=-1)
    previous[0, 0] = 1.0
    both = np.concatenate([att, np.broadcast_to(previous, (seqs, 1, n, n))], 1)
    assert A.target_attention(both, targets)[1] == 1.0
    assert A.shuffled_target_null(both, targets, repeats=100).max() < 0.5
    with pytest.raises(ValueError, match="no query has a target"):
        A.shuffled_target_null(att, np.full((seqs, n), -1))
    with pytest.raises(ValueError, match="same N and n"):
        A.shuffled_target_null(att, targets[:, :-1])


def test_sign_flip_null_by_hand():
    # one sequence, two heads with differences 1 and -2: unflipped the best is 1, flipped it is 2
    null = A.sign_flip_null(np.array([[1.0, -2.0]]), repeats=2000, seed=0)
    assert set(np.unique(null)) == {1.0, 2.0}
    assert abs((null == 1.0).mean() - 0.5) < 0.05
    # two sequences, one head, differences 1 and 3: means (±1 ±3) / 2 = 2, -1, 1, -2, each 1/4
    null = A.sign_flip_null(np.array([[1.0], [3.0]]), repeats=4000, seed=1)
    values, counts = np.unique(null, return_counts=True)
    assert values.tolist() == [-2.0, -1.0, 1.0, 2.0] and np.allclose(counts / 4000, 0.25, atol=0.03)
    # the observed mean (2) is reached only when nothing flips: corrected p about 1/4
    assert A.null_p_value(null, 2.0) == pytest.approx(0.25, abs=0.03)
    with pytest.raises(ValueError, match="at least one sequence"):
        A.sign_flip_null(np.zeros((0, 3)))


def test_first_token_share_leaves_out_the_first_query_and_matches_the_uniform_null():
    n = 5
    uniform = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]  # query t: 1 / (t + 1) on each key it sees
    by_hand = np.mean([1 / 2, 1 / 3, 1 / 4, 1 / 5])  # queries 1..4; query 0's weight of 1 is not counted
    assert A.first_token_share(uniform) == pytest.approx(by_hand)
    assert A.uniform_first_token_share(n) == pytest.approx(by_hand)
    sink = np.zeros((n, n))
    sink[:, 0] = 1.0
    heads = np.stack([uniform, sink, np.eye(n)])  # [H = 3, n, n]: uniform, all on the first token, on itself
    assert A.first_token_share(heads) == pytest.approx([by_hand, 1.0, 0.0])
    # another key and first query: key 1 over queries 2..4 of the uniform head
    assert A.first_token_share(uniform, key=1, first_query=2) == pytest.approx(np.mean([1 / 3, 1 / 4, 1 / 5]))
    assert A.uniform_first_token_share(n, key=1, first_query=2) == pytest.approx(np.mean([1 / 3, 1 / 4, 1 / 5]))
    with pytest.raises(ValueError, match="key <= first_query < n"):
        A.first_token_share(uniform, key=2, first_query=1)  # query 1 cannot see key 2
    with pytest.raises(ValueError, match="key <= first_query < n"):
        A.uniform_first_token_share(1)  # a one-token text has no query but the first
    with pytest.raises(ValueError, match=r"\[\.\.\., n, n\]"):
        A.first_token_share(np.ones((3, 4)))


def test_perplexity_gap_closed_and_blocks_by_hand():
    assert A.perplexity([1.0, 3.0]) == pytest.approx(np.exp(2.0))
    assert A.perplexity(np.zeros(4)) == 1.0
    assert A.gap_closed(full=2.0, window=3.0, sinks=2.25) == pytest.approx(0.75)
    assert A.gap_closed(full=2.0, window=3.0, sinks=3.5) == pytest.approx(-0.5)  # sinks that make it worse
    assert A.blocks(7, 3).tolist() == [0, 0, 0, 1, 1, 1, 2]
    # the blocks as clusters of the pair bootstrap: two blocks of equal values, so every resample's
    # mean is 0, 1 or 2 (both blocks, one or the other), never a value between
    low, high = A.pair_bootstrap(np.array([0.0, 0.0, 2.0, 2.0]), A.blocks(4, 2), repeats=2000, seed=0)
    assert (low, high) == (0.0, 2.0)
    with pytest.raises(ValueError, match="no scored token"):
        A.perplexity([])
    with pytest.raises(ValueError, match="no gap"):
        A.gap_closed(1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="size >= 1"):
        A.blocks(3, 0)
