"""The decoder's head view: a written text's rows assembled from the prefill and the cached steps,
the copy found where it is, the payload refusing attention that looks ahead, and the prompts'
config checked like the sentences'."""

import numpy as np
import pytest

from build_scripts.groups.decoder_view import charts, measure
from build_scripts.pipeline import payloads as pl
from build_scripts.pipeline.config import ConfigError, load_config


def causal(l, h, n, seed=0):
    """Random causal attention ``[l, h, n, n]``: rows sum to 1 over keys <= query."""
    w = np.tril(np.random.default_rng(seed).uniform(0.1, 1.0, (l, h, n, n)))
    return w / w.sum(-1, keepdims=True)


def test_generation_rows_take_the_prompt_from_the_prefill_and_each_new_row_from_its_step():
    full = causal(2, 3, 7)  # P = 4 prompt tokens and N = 3 written ones shown: 4 steps, rows 3..6
    steps = [full[:, :, 3 + j, : 4 + j] for j in range(4)]
    att = measure.generation_rows(full[:, :, :4, :4] * np.tri(4)[None, None], steps)
    assert att.shape == (2, 3, 7, 7)
    np.testing.assert_allclose(att, full, atol=1e-7)  # every row from its source
    with pytest.raises(ValueError, match="step 1 has 4 keys, expected 5"):
        measure.generation_rows(full[:, :, :4, :4], [full[:, :, 3, :4], full[:, :, 4, :4]])


def test_the_copy_is_the_first_written_token_seen_before():
    tokens = [" Alice", " met", " Bob", ".", " Alice", " met"]
    att = causal(1, 2, 6)
    att[0, 1, 5] = 0.0
    att[0, 1, 5, 2] = 1.0  # head 2 looks from the last " met" back at " Bob"
    p = pl.decoder_payload("x", "x", "".join(tokens), tokens, att, query=5, generated_from=5,
                           next_tokens=[" met", " Bob", "."])
    copy = measure.writing_head(p)
    # step 1 writes " met", already in the text: its row is token 4's; step 2 writes " Bob"
    assert copy["step"] == 1 and copy["token"] == "met" and copy["key_position_1based"] == 2
    p2 = pl.decoder_payload("x", "x", "", tokens, att, query=5, generated_from=6, next_tokens=[" Bob", "."])
    copy = measure.writing_head(p2)
    assert (copy["step"], copy["token"], copy["query"], copy["layer_1based"], copy["head_1based"]) == (1, "Bob", "met", 1, 2)
    assert copy["weight"] == pytest.approx(1.0) and copy["uniform"] == pytest.approx(1 / 6)


def test_a_payload_that_looks_ahead_is_refused_and_labels_stay_visible():
    tokens = [" a", "\n", " ", "b"]
    with pytest.raises(ValueError, match="must be causal"):
        pl.decoder_payload("x", "x", "", tokens, np.full((1, 1, 4, 4), 0.25), query=0)
    p = pl.decoder_payload("x", "x", "", tokens, causal(1, 1, 4), query=3)
    assert p["word"]["labels"] == ["a", "↵", "␣", "b"] and p["causal"] and not any(p["word"]["special"])


def test_index_names_the_key_value_head_of_every_query_head():
    idx = charts.index([{"id": "s"}], [{"id": "w"}], {"sentence": "w"}, 30, 9, 3)
    assert idx["kv_heads"] == 3 and [g["sentences"] for g in idx["groups"]] == [["s"], ["w"]]


def test_prompts_are_checked_like_sentences(tmp_path):
    text = (load_config().path.read_text()
            + '\n[[prompt]]\nid = "x"\ntext = "Hi <b>there</b>"\ntitle = "x"\nmax_new_tokens = 3\n')
    path = tmp_path / "sentences.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="prompt #6.*HTML"):
        load_config(path)
    path.write_text(text.replace('text = "Hi <b>there</b>"', 'text = "Hi"').replace("max_new_tokens = 3", "max_new_tokens = 99"))
    with pytest.raises(ConfigError, match="max_new_tokens must be a whole number from 1 to 24"):
        load_config(path)
    path.write_text(text.replace('text = "Hi <b>there</b>"', 'text = "Hi"').replace('id = "x"', 'id = "cat-mat"'))
    with pytest.raises(ConfigError, match="used twice"):
        load_config(path)
