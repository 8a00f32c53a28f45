"""A corpus through the decoder on every local device: attentions and per-token losses, fast.

Axis legend: N texts, B batch, T positions, L layers, H query heads, V vocabulary.

    runner = DecoderCorpusRunner(Decoder.load())   # a 1-D mesh over jax.devices(), weights replicated
    rs = runner.run(texts)                         # per text: attentions [L, H, n, n], losses [n-1]
    rs = runner.run(texts, weights=False, head_gates=g)            # losses with heads removed
    rs = runner.run(texts, weights=False, window=256, sinks=4)     # StreamingLLM-style window

Texts (or token id sequences, e.g. repeated random tokens) are sorted by length, cut into batches
and padded on the right to a multiple of 8 tokens, exactly as :class:`attn_jax.corpus.CorpusRunner`
batches the encoder's corpus (its ``batches`` method serves both); each batch's rows are split over
the devices of the mesh. The causal mask already keeps every real token from seeing the pads after
it, so no padding mask is needed and each row equals its unpadded run; the losses of pad positions
are dropped.

Per-token loss at position t is ``-log p(token t+1 | tokens 0..t)`` in nats, computed inside the
compiled call with the logits formed 128 positions at a time (never all ``[B, T, V]`` at once). With
``weights=False`` attention runs blockwise (:func:`attn_jax.efficient_attention`) and no weights are
formed: the losses are the same up to float32 rounding. ``head_gates [L, H]`` multiply each head's output before the output
projection (0 removes the head: the ablation of Olsson et al. 2022 and Michel et al. 2019);
``window`` and ``sinks`` limit each query to the last ``window`` positions plus the first ``sinks``
(Xiao et al. 2023). None of them recompiles when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .corpus import CorpusRunner, device_mesh
from .decoder import Decoder, gate_array, window_args
from .decoder_tokenizer import DecoderTokenized, token_texts
from .errors import AttnJaxError
from .gguf_weights import LlamaConfig
from .llama import run_layers, sequence_losses

__all__ = ["DecoderCorpusRunner", "CorpusResult"]


@dataclass(frozen=True)
class CorpusResult:
    """One text's run (n = its number of tokens)."""

    ids: np.ndarray  # int32 [n]
    tokens: tuple[str, ...]  # [n]
    attentions: np.ndarray | None  # float32 [L, H, n, n] (None with weights=False)
    losses: np.ndarray  # float32 [n-1]: losses[t] = -log p(ids[t+1] | ids[..t]) in nats


@partial(jax.jit, static_argnames=("cfg", "weights"))
def _run_batch(params, ids, gates, window, sinks, *, cfg: LlamaConfig, weights: bool):
    """ids ``[B, T]`` -> (attentions ``[L, B, H, T, T]`` or None, losses ``[B, T-1]``)."""
    x, attentions, _ = run_layers(params, ids, gates, window, sinks, cfg=cfg, weights=weights)
    return attentions, sequence_losses(params, x, ids, cfg)


class DecoderCorpusRunner:
    """A :class:`~attn_jax.Decoder` whose batches are sharded over a device mesh."""

    # The encoder runner's batching (sort by length, pad right to a multiple of 8, batch rows a
    # power of two times the device count, rows sharded): it needs only the attributes set below.
    batches = CorpusRunner.batches

    def __init__(self, decoder: Decoder, mesh: Mesh | None = None, batch_size: int = 8):
        self.decoder = decoder
        self.mesh = mesh if mesh is not None else device_mesh()
        self.devices = self.mesh.devices.size
        self.batch_size = -(-batch_size // self.devices) * self.devices  # a multiple of the device count
        self._rows = NamedSharding(self.mesh, PartitionSpec("batch"))
        self.params = jax.device_put(decoder.params, NamedSharding(self.mesh, PartitionSpec()))  # replicated

    def items(self, inputs: list) -> list[DecoderTokenized]:
        """Texts tokenized, id sequences (int ``[n]``) taken as they are."""
        if not inputs:
            raise AttnJaxError("no text given; pass at least one text or id sequence")
        texts = [x for x in inputs if isinstance(x, str)]
        tokenized = iter(self.decoder.tokenize(texts) if texts else [])
        out = []
        limit, vocab = self.decoder.config.context_length, self.decoder.config.vocab_size
        for i, x in enumerate(inputs):
            if isinstance(x, str):
                out.append(next(tokenized))
                continue
            ids = np.asarray(x, np.int32).reshape(-1)
            if not 0 < len(ids) <= limit or ids.min() < 0 or ids.max() >= vocab:
                raise AttnJaxError(f"input {i}: {len(ids)} ids; give 1 to {limit} ids in 0..{vocab - 1}")
            out.append(DecoderTokenized(text="", ids=ids, tokens=token_texts(self.decoder.tokenizer, ids)))
        return out

    def run(self, inputs: list, *, weights: bool = True, head_gates=None, window: int | None = None, sinks: int = 0,
            batch_size: int | None = None) -> list[CorpusResult]:
        """Attentions (unless ``weights=False``) and per-token losses of each input, in input order.

        inputs: texts or token id sequences. head_gates ``[L, H]``, window, sinks: see the module
        docstring. ``batch_size`` overrides the runner's (smaller for long texts, above all with
        weights: a batch's attentions take L * B * H * T * T * 4 bytes, 1.1 GB per row of 1024).
        """
        cfg = self.decoder.config
        gates = jax.device_put(gate_array(cfg, head_gates), NamedSharding(self.mesh, PartitionSpec()))
        win, sink = window_args(window, sinks)
        items = self.items(inputs)
        out: list[CorpusResult | None] = [None] * len(items)
        for idx, ids, _ in self.batches(items, batch_size):
            att, losses = _run_batch(self.params, ids, gates, win, sink, cfg=cfg, weights=weights)
            att = None if att is None else np.asarray(att)
            losses = np.asarray(losses)
            for row, i in enumerate(idx):
                n = len(items[i].ids)
                out[i] = CorpusResult(ids=items[i].ids, tokens=items[i].tokens, losses=losses[row, : n - 1],
                                      attentions=None if att is None else att[:, row, :, :n, :n])  # fmt: skip
        return out
