"""The head view's payload: word level from the encoder's own token attention, the featured head,
and 8-bit weights within half a step."""

import numpy as np
import pytest

from build_scripts.pipeline import payloads as pl


def test_featured_head_is_the_argmax_of_the_real_weights(payloads):
    (cat, _), (r, _) = payloads
    f = pl.featured_head(cat, "it", "cat")
    tokens = list(r.tokens)
    a = r.attentions[:, :, tokens.index("it"), tokens.index("cat")]  # every word is one token here
    layer, head = np.unravel_index(a.argmax(), a.shape)
    assert (f["layer"], f["head"]) == (layer, head)
    assert f["weight"] == pytest.approx(a.max(), abs=1e-3)
    assert f["weight"] > 3 * f["uniform"]  # a real, strong preference


def test_word_level_merges_pieces(payloads):
    (_, animal), (_, r) = payloads
    assert "didn't" in animal["word"]["labels"] and "didn" in animal["token"]["labels"]
    w = np.asarray(animal["word"]["attention"])
    assert w.shape[-1] == len(animal["word"]["labels"]) == len(r.tokens) - 2  # didn ' t -> didn't
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=0.01)  # rounded to 3 decimals


def test_quantised_weights_within_half_a_step(payloads):
    (cat, animal), _ = payloads
    for p in (cat, animal):
        a = np.asarray(p["word"]["attention"], np.float64)
        back = pl.dequantise(pl.quantise(a))
        assert np.abs(back - a).max() <= pl.Q8_MAX_ERROR + 1e-12
    shipped = pl.shipped_payload(animal)
    assert set(shipped["token"]["attention"]) == {"q8", "shape"}
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pl.quantise(np.array([0.5, 1.5]))


def test_a_one_step_flip_of_8_bit_weights_is_not_a_change():
    from build_scripts.pipeline.artifacts import dumps, equivalent

    a = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    near, far = a.copy(), a.copy()
    near[0, 0] += 0.6 / 255  # another CPU's last bits move the weight across a rounding boundary
    far[0, 0] += 2.0 / 255
    old = dumps({"attention": pl.quantise(a), "query": 1}).encode()
    assert equivalent(old, dumps({"attention": pl.quantise(near), "query": 1}).encode())
    assert not equivalent(old, dumps({"attention": pl.quantise(far), "query": 1}).encode())
    assert not equivalent(old, dumps({"attention": pl.quantise(a), "query": 2}).encode())
