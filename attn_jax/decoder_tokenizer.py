"""The decoder's byte-level BPE tokenizer, built with ``tokenizers`` from the GGUF metadata.

A GGUF file has no ``tokenizer.json``: it stores the vocabulary (``tokenizer.ggml.tokens``, already
spelled in GPT-2's byte alphabet, e.g. ``Ġcapital`` for " capital"), the merges, each token's type
(3 = control, like ``<|im_end|>``) and the name of the pre-tokenizer (``tokenizer.ggml.pre``).
:func:`build_tokenizer` puts them together as a ``tokenizers.Tokenizer``; no BPE is written here.

**The pre-tokenizer.** The file names ``"smollm"``: llama.cpp splits text for it with two regexes
in turn, first every numeral on its own (``\\p{N}``), then GPT-2's split (words with their leading
space, runs of punctuation, runs of whitespace). That is ``Digits(individual_digits=True)`` then
``ByteLevel`` here, the pre-tokenizer SmolLM2 was trained with. Hugging Face's GGUF loader has no
entry for "smollm" and falls back to GPT-2's split alone, which agrees everywhere except around
numerals: ``"a  1"`` is ``a ĠĠ 1`` here and in llama.cpp, but ``a Ġ Ġ 1`` in transformers 5.24;
``"mc²"`` and ``"½"`` differ the same way. tests/attn_jax/test_decoder_tokenizer.py checks both.

The tokenizer adds no BOS token (``tokenizer.ggml.add_bos_token`` is false for this file).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import AttnJaxError

__all__ = ["DecoderTokenized", "PRE_TOKENIZERS", "build_tokenizer", "tokenize"]

CONTROL = 3  # llama.cpp's token type for control tokens such as <|im_start|>


def _smollm():
    from tokenizers import pre_tokenizers

    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])


# tokenizer.ggml.pre -> the pre-tokenizer llama.cpp applies for it (only the one tested here).
PRE_TOKENIZERS = {"smollm": _smollm}


@dataclass(frozen=True)
class DecoderTokenized:
    """One text as the decoder sees it (no BOS, no padding)."""

    text: str
    ids: np.ndarray  # int32 [n]
    tokens: tuple[str, ...]  # [n], the text each token stands for ("�" for part of a character)


def build_tokenizer(meta: dict):
    """A ``tokenizers.Tokenizer`` from the ``tokenizer.ggml.*`` metadata (keys without the prefix)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models

    kind, pre = meta.get("model"), meta.get("pre")
    if kind != "gpt2" or pre not in PRE_TOKENIZERS:
        raise AttnJaxError(f"tokenizer {kind!r} with pre-tokenizer {pre!r} is not supported (byte-level BPE "
                           f"with {sorted(PRE_TOKENIZERS)} is); use the SmolLM2 GGUF file")
    if meta.get("add_bos_token") or meta.get("add_eos_token"):
        raise AttnJaxError("this GGUF file asks for BOS/EOS tokens to be added, which the decoder does not do; "
                           "use the SmolLM2 GGUF file")
    tokens = meta["tokens"]
    vocab = {token: i for i, token in enumerate(tokens)}
    merges = [tuple(m.split(" ")) for m in meta["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = PRE_TOKENIZERS[pre]()
    tok.decoder = decoders.ByteLevel()
    # Control tokens are matched whole in the text, never cut into bytes (as llama.cpp and HF do).
    control = [t for t, kind in zip(tokens, meta.get("token_type", ())) if kind == CONTROL]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    return tok


def token_texts(tokenizer, ids) -> tuple[str, ...]:
    """The text of each token id on its own (``"�"`` where a token holds part of a character)."""
    return tuple(tokenizer.decode([int(i)], skip_special_tokens=False) for i in ids)


def tokenize(tokenizer, texts: list[str], max_tokens: int) -> list[DecoderTokenized]:
    """Tokenize each text; raise AttnJaxError for an empty one or one over ``max_tokens``."""
    if not texts:
        raise AttnJaxError("no text given; pass at least one prompt")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            raise AttnJaxError(f"text {i} is empty; give a prompt with at least one character")
    out = []
    for i, (text, enc) in enumerate(zip(texts, tokenizer.encode_batch(texts))):
        if len(enc.ids) > max_tokens:
            raise AttnJaxError(f"text {i} is {len(enc.ids)} tokens long but the model's context holds at most "
                               f"{max_tokens}; shorten it")
        ids = np.asarray(enc.ids, dtype=np.int32)
        out.append(DecoderTokenized(text=text, ids=ids, tokens=token_texts(tokenizer, ids)))
    return out
