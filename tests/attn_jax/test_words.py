"""WordPiece-to-word alignment and word-level attention, with hand-checkable values."""

import numpy as np
import pytest

from attn_jax.words import align_words, drop_special, word_attention


@pytest.fixture(scope="module")
def tokenized(encoder):
    return encoder.tokenize(["The animal didn't cross.", "Tokenization is unbelievable!"])


def test_apostrophe_word_is_one_word(tokenized):
    al = align_words(tokenized[0])
    assert al.words == ("[CLS]", "The", "animal", "didn't", "cross", ".", "[SEP]")
    assert al.special == (True, False, False, False, False, False, True)
    # didn ' t -> three pieces of word 3
    assert [al.token_word[i] for i, t in enumerate(tokenized[0].tokens) if t in ("didn", "'", "t")] == [3, 3, 3]


def test_pieces_of_one_word(tokenized):
    tok = tokenized[1]
    al = align_words(tok)
    assert "Tokenization" in al.words and "unbelievable" in al.words
    assert len(tok.tokens) > len(al.words)  # some words are several pieces


def test_word_attention_rule_by_hand():
    # tokens: [CLS] a ##b c [SEP] -> words: [CLS], ab, c, [SEP]
    from attn_jax.tokenize import Tokenized

    tok = Tokenized("ab c", np.zeros(5, np.int32), ("[CLS]", "a", "##b", "c", "[SEP]"),
                    ((0, 0), (0, 1), (1, 2), (3, 4), (0, 0)), np.array([1, 0, 0, 0, 1], bool))
    al = align_words(tok)
    assert al.words == ("[CLS]", "ab", "c", "[SEP]")
    a = np.array(
        [
            [0.2, 0.2, 0.2, 0.2, 0.2],
            [0.1, 0.3, 0.1, 0.4, 0.1],  # query piece "a"
            [0.5, 0.0, 0.0, 0.5, 0.0],  # query piece "##b"
            [0.0, 0.1, 0.2, 0.3, 0.4],
            [1.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    w = word_attention(a, al)
    # row "ab" = mean of the two piece rows; column "ab" = sum of the two piece columns
    np.testing.assert_allclose(w[1], [(0.1 + 0.5) / 2, (0.4 + 0.0) / 2, (0.4 + 0.5) / 2, (0.1 + 0.0) / 2])
    np.testing.assert_allclose(w[2], [0.0, 0.3, 0.3, 0.4])
    np.testing.assert_allclose(w.sum(-1), 1.0)

    sub, removed = drop_special(w, al.special)
    np.testing.assert_allclose(removed, [0.3 + 0.05, 0.4])
    np.testing.assert_allclose(sub, [[0.2 / 0.65, 0.45 / 0.65], [0.5, 0.5]])


def test_word_attention_on_real_model_rows_sum_to_one(encoder):
    [r] = encoder.run(["The animal didn't cross the street because it was too tired."])
    al = align_words(r.tokenized)
    w = word_attention(r.attentions, al)
    assert w.shape == (6, 12, len(al.words), len(al.words))
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    sub, removed = drop_special(w, al.special)
    np.testing.assert_allclose(sub.sum(-1) + 0 * removed, 1.0, atol=1e-5)
    assert np.all((removed >= 0) & (removed <= 1))
