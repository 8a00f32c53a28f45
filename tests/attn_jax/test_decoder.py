"""The real SmolLM2-135M decoder (attn_jax.Decoder) against Hugging Face transformers' GGUF loading
(tests/fixtures/hf_decoder_golden.npz, made by make_hf_decoder_golden.py): ids, attention of every
layer and query head (<= 1e-4), logits (<= 1e-3 relative), greedy generation (identical tokens);
and the KV cache against the full forward pass."""

import numpy as np
import pytest

from attn_jax import AttnJaxError
from attn_jax.checkpoints import DECODER_SHA256

ATTENTION_TOL = 1e-4  # absolute, on weights in [0, 1] (the fixture stores them to 7.7e-6)
LOGIT_RTOL = 1e-3  # relative to the largest |logit| of the row


def inputs(golden):
    return [golden[f"ids_{i}"] for i in range(len(golden["texts"]))]


@pytest.fixture(scope="module")
def runs(decoder, hf_decoder_golden):
    """Every fixture input through the decoder as one padded batch."""
    return decoder.run_ids(inputs(hf_decoder_golden))


def test_the_fixture_was_made_from_this_file(hf_decoder_golden):
    assert str(hf_decoder_golden["gguf_sha256"]) == DECODER_SHA256


def test_ids_match(decoder, hf_decoder_golden):
    texts = [str(t) for t in hf_decoder_golden["texts"]]
    assert texts[-1] == ""  # the repeated random ids, given as ids
    for item, want in zip(decoder.tokenize(texts[:-1]), inputs(hf_decoder_golden)):
        np.testing.assert_array_equal(item.ids, want)


def test_attentions_match(runs, hf_decoder_golden):
    for i, r in enumerate(runs):
        rows = hf_decoder_golden[f"attention_rows_{i}"]
        want = hf_decoder_golden[f"attentions_{i}"].astype(np.float64) / 65535
        assert r.attentions.dtype == np.float32 and r.attentions.shape == (30, 9, len(r.ids), len(r.ids))
        err = np.abs(r.attentions[:, :, rows] - want).max()
        assert err <= ATTENTION_TOL, f"input {i}: max |attention difference| {err:.2e}"


def test_logits_match(runs, hf_decoder_golden):
    subset = hf_decoder_golden["vocab_subset"]
    for i, r in enumerate(runs):
        assert r.logits.shape == (len(r.ids), 49152)
        for ours, want in ((r.logits[:, subset], hf_decoder_golden[f"logits_subset_{i}"]),
                           (np.take_along_axis(r.logits, hf_decoder_golden[f"topk_ids_{i}"], 1),
                            hf_decoder_golden[f"topk_logits_{i}"])):  # fmt: skip
            rel = (np.abs(ours - want).max(1) / np.abs(want).max(1)).max()
            assert rel <= LOGIT_RTOL, f"input {i}: relative logit error {rel:.2e}"
        lse = np.log(np.exp(r.logits.astype(np.float64) - r.logits.max(1, keepdims=True)).sum(1)) + r.logits.max(1)
        np.testing.assert_allclose(lse, hf_decoder_golden[f"logsumexp_{i}"], rtol=LOGIT_RTOL)


def test_losses_match_and_show_in_context_copying(runs, hf_decoder_golden):
    for i, r in enumerate(runs):
        logp = r.logits.astype(np.float64) - hf_decoder_golden[f"logsumexp_{i}"][:, None]
        nll = -np.take_along_axis(logp[:-1], r.ids[1:, None], 1)[:, 0]
        np.testing.assert_allclose(nll, hf_decoder_golden[f"nll_{i}"], atol=2e-3)
    nll = hf_decoder_golden[f"nll_{len(runs) - 1}"]  # 40 random ids, then the same 40 again
    assert nll[:39].mean() > 10 and nll[40:].mean() < 3  # the repeat is predicted from the first copy


def test_greedy_tokens_are_identical(decoder, hf_decoder_golden):
    for p, prompt in enumerate(hf_decoder_golden["greedy_prompts"]):
        g = decoder.generate(str(prompt), max_new_tokens=32)
        np.testing.assert_array_equal(g.prompt_ids, hf_decoder_golden[f"greedy_prompt_ids_{p}"])
        np.testing.assert_array_equal(g.ids[len(g.prompt_ids) :], hf_decoder_golden[f"greedy_ids_{p}"])
        assert len(g.attentions) == len(g.logits) == len(g.ids) - len(g.prompt_ids)
    assert decoder.generate("The capital of France is", max_new_tokens=2).text == " Paris."  # two tokens


def test_generation_stops_at_the_end_of_text_unless_told(decoder, hf_decoder_golden):
    want = hf_decoder_golden["greedy_ids_0"]  # "The capital of France is": 30 tokens, the last <|im_end|>
    assert len(want) == 30 and want[-1] == decoder.eos_id
    g = decoder.generate("The capital of France is", max_new_tokens=31, stop_at_eos=False)
    assert len(g.ids) - len(g.prompt_ids) == 31
    np.testing.assert_array_equal(g.ids[len(g.prompt_ids) : -1], want)


def test_cached_generation_equals_the_uncached_forward(decoder):
    g = decoder.generate("Attention lets every token look back", max_new_tokens=12)
    n = len(g.prompt_ids)
    [full] = decoder.run_ids([g.ids[:-1]])  # the whole text at once, no cache
    for k, rows in enumerate(g.attentions):
        assert rows.shape == (30, 9, n + k)
        # Equal up to float32 rounding: one row at a time sums in another order than a full matrix.
        np.testing.assert_allclose(rows, full.attentions[:, :, n - 1 + k, : n + k], atol=5e-5)
        np.testing.assert_allclose(g.logits[k], full.logits[n - 1 + k], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.array([a.sum(-1) for a in g.attentions]), 1.0, atol=1e-5)


def test_sampling_is_seeded(decoder):
    prompt = "Once upon a time"
    a = decoder.generate(prompt, max_new_tokens=6, temperature=0.9, top_k=20, seed=1)
    assert np.array_equal(a.ids, decoder.generate(prompt, max_new_tokens=6, temperature=0.9, top_k=20, seed=1).ids)
    seeds = {tuple(decoder.generate(prompt, max_new_tokens=6, temperature=1.5, seed=s).ids) for s in range(4)}
    assert len(seeds) > 1
    greedy = decoder.generate(prompt, max_new_tokens=6)
    assert np.array_equal(decoder.generate(prompt, max_new_tokens=6, temperature=0.9, top_k=1).ids, greedy.ids)


def test_padding_and_batch_neighbours_change_nothing(decoder, runs, hf_decoder_golden):
    [alone] = decoder.run_ids([inputs(hf_decoder_golden)[1]])
    # Up to float32 rounding: a matmul of another shape (16 rows, not 160) may sum in another order.
    np.testing.assert_allclose(alone.attentions, runs[1].attentions, atol=2e-5)
    np.testing.assert_allclose(alone.logits, runs[1].logits, rtol=1e-5, atol=1e-4)


def test_a_later_token_changes_no_earlier_row(decoder):
    ids = decoder.tokenize(["The cat sat on the mat because it was tired."])[0].ids
    a, b = decoder.run_ids([ids, np.concatenate([ids[:-3], [100, 200, 300]])])
    np.testing.assert_array_equal(a.logits[:-3], b.logits[:-3])
    np.testing.assert_array_equal(a.attentions[:, :, :-3], b.attentions[:, :, :-3])


def test_the_weights_free_path_gives_the_same_logits(decoder, runs, hf_decoder_golden):
    fast = decoder.run_ids(inputs(hf_decoder_golden)[3:4], weights=False)[0]
    assert fast.attentions is None
    np.testing.assert_allclose(fast.logits, runs[3].logits, rtol=1e-5, atol=2e-4)


@pytest.mark.parametrize(
    "call,pattern",
    [(lambda d: d.run([""]), "text 0 is empty"),
     (lambda d: d.generate(""), "text 0 is empty"),
     (lambda d: d.generate("7" * 8200), "8200 tokens long but the model's context holds at most 8192"),
     (lambda d: d.generate("7" * 8170, max_new_tokens=32), "plus 32 new tokens exceeds the model's context of 8192"),
     (lambda d: d.generate("Hi", max_new_tokens=0), "ask for at least 1"),
     (lambda d: d.run_ids([[1, 2, 49152]]), "outside 0..49151"),
     (lambda d: d.run_ids([[]]), "has 0 tokens")],
)  # fmt: skip
def test_bad_input_is_one_line(decoder, call, pattern):
    with pytest.raises(AttnJaxError) as e:
        call(decoder)
    assert pattern in str(e.value) and "\n" not in str(e.value)


def test_wrong_gate_shape_names_both_shapes(decoder):
    with pytest.raises(ValueError, match=r"\[L, H\] = \(30, 9\); got \(30, 3\)"):
        decoder.run(["Hi"], head_gates=np.ones((30, 3)))
