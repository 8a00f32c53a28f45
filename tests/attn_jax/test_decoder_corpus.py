"""Corpus runs of the decoder (attn_jax.decoder_corpus): batched, padded on the right, sharded over
the devices; per-token losses against Hugging Face's, attentions against single runs, and the
interventions the analyses use (heads gated off, an attention window with sinks)."""

import numpy as np
import pytest

from attn_jax import AttnJaxError
from attn_jax.decoder_corpus import DecoderCorpusRunner


@pytest.fixture(scope="module")
def runner(decoder):
    return DecoderCorpusRunner(decoder, batch_size=2)


@pytest.fixture(scope="module")
def corpus(hf_decoder_golden):
    """Three fixture inputs (two texts, the repeated random ids as ids) and their HF losses."""
    texts = [str(t) for t in hf_decoder_golden["texts"]]
    picks = [1, 2, len(texts) - 1]
    inputs = [texts[i] or hf_decoder_golden[f"ids_{i}"] for i in picks]
    return inputs, [hf_decoder_golden[f"nll_{i}"] for i in picks]


def test_losses_match_hugging_face_in_input_order(runner, corpus):
    inputs, nll = corpus
    results = runner.run(inputs)  # three inputs in batches of two: sorted by length, then put back
    for r, want in zip(results, nll):
        assert r.losses.dtype == np.float32 and r.losses.shape == (len(r.ids) - 1,)
        np.testing.assert_allclose(r.losses, want, atol=2e-3)
    assert results[0].tokens[:3] == ("The", " cat", " sat")


def test_attentions_equal_single_runs(runner, decoder, corpus):
    inputs, _ = corpus
    results = runner.run(inputs)
    for x, r in zip(inputs, results):
        [alone] = decoder.run([x]) if isinstance(x, str) else decoder.run_ids([x])
        assert r.attentions.shape == (30, 9, len(r.ids), len(r.ids))
        np.testing.assert_allclose(r.attentions, alone.attentions, atol=2e-5)


def test_the_weights_free_run_gives_the_same_losses(runner, corpus):
    inputs, _ = corpus
    fast = runner.run(inputs, weights=False)
    assert all(r.attentions is None for r in fast)
    for a, b in zip(fast, runner.run(inputs)):
        np.testing.assert_allclose(a.losses, b.losses, atol=1e-4)


def test_gating_heads_off(runner, corpus):
    inputs, _ = corpus
    base = runner.run(inputs, weights=False)
    same = runner.run(inputs, weights=False, head_gates=np.ones((30, 9)))
    for a, b in zip(base, same):
        np.testing.assert_array_equal(a.losses, b.losses)
    gates = np.ones((30, 9), np.float32)
    gates[:, :] = 0.0  # no attention at all: each token sees only itself through the MLPs
    blind = runner.run(inputs[2:], weights=False, head_gates=gates)[0]
    # The repeat of the random ids can no longer be copied from the first occurrence.
    assert blind.losses[40:].mean() > base[2].losses[40:].mean() + 5


def test_a_window_with_sinks(runner, corpus):
    inputs, _ = corpus
    [r] = runner.run(inputs[2:], window=8, sinks=4)
    n = len(r.ids)
    t, s = np.arange(n)[:, None], np.arange(n)[None, :]
    allowed = (s <= t) & ((t - s < 8) | (s < 4))
    assert np.all(r.attentions[..., ~allowed] == 0)
    np.testing.assert_allclose(r.attentions.sum(-1), 1.0, atol=1e-5)
    [wide] = runner.run(inputs[2:], weights=False, window=n)  # a window as long as the text changes nothing
    np.testing.assert_allclose(wide.losses, runner.run(inputs[2:], weights=False)[0].losses, atol=1e-5)
    assert r.losses[40:].mean() > wide.losses[40:].mean() + 5  # 8 tokens back cannot reach the first copy


def test_bad_inputs(runner):
    with pytest.raises(AttnJaxError, match="no text given"):
        runner.run([])
    with pytest.raises(AttnJaxError, match="input 1: 0 ids"):
        runner.run(["ok", []])
    with pytest.raises(AttnJaxError, match="text 0 is empty"):
        runner.run([""])
