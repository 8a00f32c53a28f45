"""The head view's payload: word level from the encoder's own token attention, the featured head,
and 8-bit weights within half a step."""

import base64

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


def test_causal_weights_ship_half_the_bytes_and_come_back_whole():
    rng = np.random.default_rng(0)
    w = np.tril(rng.uniform(0.0, 1.0, (2, 3, 7, 7)))
    w /= w.sum(-1, keepdims=True)
    full, half = pl.quantise(w), pl.quantise(w, causal=True)
    assert half["causal"] and len(base64.b64decode(half["q8"])) == 2 * 3 * 7 * 8 // 2
    np.testing.assert_array_equal(pl.dequantise(half), pl.dequantise(full))  # the same bytes where it counts
    assert np.abs(pl.dequantise(half) - w).max() <= pl.Q8_MAX_ERROR + 1e-12
    with pytest.raises(ValueError, match="above the diagonal"):
        pl.quantise(np.full((3, 3), 1 / 3), causal=True)


def test_a_payload_by_layer_holds_each_layer_once_and_nothing_else_changes():
    rng = np.random.default_rng(1)
    w = np.tril(rng.uniform(0.0, 1.0, (3, 2, 5, 5)))
    w /= w.sum(-1, keepdims=True)
    tokens = ["a", "b", "c", "d", "e"]
    p = pl.decoder_payload("s", "s", "abcde", tokens, w, query=4)
    files = pl.shipped_by_layer("s", p)
    assert sorted(files) == ["s.json", "s/layer-1.json", "s/layer-2.json", "s/layer-3.json"]
    head = files["s.json"]
    assert head["word"]["layers"] == ["s/layer-1.json", "s/layer-2.json", "s/layer-3.json"]
    assert "attention" not in head["word"] and head["word"]["labels"] == p["word"]["labels"] and head["query"] == 4
    whole = pl.dequantise(pl.shipped_payload(p)["word"]["attention"])
    for layer, name in enumerate(head["word"]["layers"]):
        np.testing.assert_array_equal(pl.dequantise(files[name]), whole[layer])
    with pytest.raises(ValueError, match="word level only"):
        pl.shipped_by_layer("x", {**p, "token": {"attention": w}})


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
