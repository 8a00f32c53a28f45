"""The decoder's tokenizer (attn_jax.decoder_tokenizer), built from the GGUF metadata, against two
references stored in the fixture: Hugging Face's GGUF tokenizer, and llama.cpp's split for the
file's pre-tokenizer ("smollm") with each piece encoded by HF's BPE model. We follow llama.cpp
(the pre-tokenizer the model was trained with); HF's differs only around numerals."""

import numpy as np
import pytest

from attn_jax import AttnJaxError


def corpus(golden, name):
    ids, offsets = golden[f"tok_{name}_ids"], golden[f"tok_{name}_offsets"]
    return [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def texts(golden):
    return [str(t) for t in golden["tok_texts"]]


def test_ids_match_llamacpp_on_the_whole_corpus(decoder, hf_decoder_golden):
    for text, want in zip(texts(hf_decoder_golden), corpus(hf_decoder_golden, "llamacpp")):
        assert decoder.tokenizer.encode(text).ids == want, text


def test_ids_match_hugging_face_except_around_numerals(decoder, hf_decoder_golden):
    hf = corpus(hf_decoder_golden, "hf")
    ours = [decoder.tokenizer.encode(t).ids for t in texts(hf_decoder_golden)]
    differ = [t for t, a, b in zip(texts(hf_decoder_golden), ours, hf) if a != b]
    # The known cases: a run of whitespace before a digit, and numerals glued to other characters.
    assert differ == ["a  1   22    333", "    indented 42\n\t7 tab then digit",
                      "Mixed: e=mc², ½ cup, 10°C, €5, ¥300, ™"]
    assert len(texts(hf_decoder_golden)) - len(differ) >= 15  # Unicode, emoji, CJK, code, spaces, tabs match


def test_runs_of_spaces_before_a_digit_by_hand(decoder):
    tokens = [decoder.tokenizer.id_to_token(i) for i in decoder.tokenizer.encode("a  1").ids]
    assert tokens == ["a", "ĠĠ", "1"]  # llama.cpp: numerals first, then GPT-2's split ("a", "  ")
    tokens = [decoder.tokenizer.id_to_token(i) for i in decoder.tokenizer.encode(" 2024").ids]
    assert tokens == ["Ġ", "2", "0", "2", "4"]  # the vocabulary has no token of two digits


def test_decoding_gives_the_text_back_and_no_bos_is_added(decoder, hf_decoder_golden):
    bos = decoder.tokenizer.token_to_id("<|im_start|>")  # the file's bos_token_id, 1
    for text in texts(hf_decoder_golden):
        ids = decoder.tokenizer.encode(text).ids
        assert decoder.tokenizer.decode(ids, skip_special_tokens=False) == text
        if ids and not text.startswith("<|im_start|>"):
            assert ids[0] != bos
    assert decoder.tokenizer.encode("The capital of France is").ids == [504, 3575, 282, 4649, 314]


def test_control_tokens_stay_whole(decoder):
    ids = decoder.tokenizer.encode("<|im_start|>user\nHi!<|im_end|>").ids
    assert ids[0] == 1 and ids[-1] == 2 == decoder.eos_id


def test_token_texts(decoder):
    [a, b] = decoder.tokenize(["The cat 🙂", "The 日本"])
    assert a.tokens == ("The", " cat", " 🙂")
    assert b.tokens == ("The", " �", "�", "�", "本")  # 日 is cut into bytes, which alone are no character


@pytest.mark.parametrize("texts,pattern", [([], "no text given"), (["ok", ""], "text 1 is empty")])
def test_bad_texts(decoder, texts, pattern):
    with pytest.raises(AttnJaxError, match=pattern):
        decoder.tokenize(texts)


def test_a_text_beyond_the_context_is_refused(decoder):
    with pytest.raises(AttnJaxError, match=r"text 0 is 8200 tokens long but the model's context holds at most 8192"):
        decoder.tokenize(["7" * 8200])  # digits are split one by one: one token each


def test_hf_fixture_is_consistent(hf_decoder_golden):
    hf, cpp = corpus(hf_decoder_golden, "hf"), corpus(hf_decoder_golden, "llamacpp")
    assert len(hf) == len(cpp) == len(texts(hf_decoder_golden))
    assert np.mean([a == b for a, b in zip(hf, cpp)]) > 0.8
