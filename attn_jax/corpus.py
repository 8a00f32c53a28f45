"""A corpus through the encoder on every local device: batches sharded over ``jax.devices()``.

Axis legend: G gate settings, N sentences, B batch, T positions, L layers, H heads, D head dim,
M model dim.

    runner = CorpusRunner(Encoder.load())     # a 1-D mesh over jax.devices(), weights replicated
    results = runner.run(texts)               # one SentenceResult per text, as Encoder.run gives
    emb = runner.embeddings(texts, gates)     # [G, N, M] sentence embeddings, heads gated

Sentences are sorted by length, cut into batches of ``batch_size`` and padded to a multiple of 8
tokens (sorted batches are nearly uniform in length, so this wastes little and compiles few shapes);
each batch's rows are split over the devices of a :class:`jax.sharding.Mesh` (axis ``"batch"``)
and the parameters are replicated, so one GPU, eight GPUs or a TPU slice run the same code. The
batch is padded with empty rows to a power of two times the device count; results come back in
the order of ``texts``.

*Head gates* (after Michel, Levy and Neubig, 2019) multiply each head's output by a number before
the output projection. Since that projection is linear, gating head h of layer l is exactly
scaling rows h*D .. (h+1)*D - 1 of that layer's output weight: :func:`gate_heads` does that to the
parameters, so the encoder's forward pass runs unchanged, and gates of 1 give identical results.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .encoder import Encoder, SentenceResult
from .model import embed, encode, encoder_layer
from .tokenize import Tokenized

__all__ = ["device_mesh", "gate_heads", "mean_pool", "CorpusRunner"]

PAD_MULTIPLE = 8


def device_mesh(devices=None) -> Mesh:
    """A 1-D mesh with axis ``"batch"`` over ``devices`` (default: every local device)."""
    devices = list(devices if devices is not None else jax.devices())
    return Mesh(np.array(devices), ("batch",))


def gate_heads(params: dict, gates: jax.Array) -> dict:
    """Parameters whose head h in layer l has its output multiplied by ``gates[l, h]`` (``[L, H]``)."""
    w = params["layers"]["attention"]["output"]["w"]  # [L, H*D, M]
    num_layers, num_heads = gates.shape
    if w.shape[0] != num_layers or w.shape[1] % num_heads:
        raise ValueError(f"gates must be [L, H] matching the output weight [L, H*D, M] = {tuple(w.shape)}; "
                         f"got {tuple(gates.shape)}")
    scale = jnp.repeat(gates.astype(w.dtype), w.shape[1] // num_heads, axis=1)[:, :, None]  # [L, H*D, 1]
    attention = {**params["layers"]["attention"], "output": {**params["layers"]["attention"]["output"], "w": w * scale}}
    return {**params, "layers": {**params["layers"], "attention": attention}}


def mean_pool(hidden: jax.Array, mask: jax.Array) -> jax.Array:
    """The model's sentence embedding: mean of the real tokens' last hidden states, unit length.

    hidden ``[B, T, M]``, mask ``[B, T]`` -> ``[B, M]`` (an empty padding row gives zeros).
    """
    m = mask.astype(hidden.dtype)[..., None]
    mean = (hidden * m).sum(1) / jnp.maximum(m.sum(1), 1.0)
    return mean / jnp.maximum(jnp.linalg.norm(mean, axis=-1, keepdims=True), 1e-12)


@partial(jax.jit, static_argnames=("num_heads", "eps", "reuse_prefix"))
def _embeddings(params, input_ids, attention_mask, gates, num_heads, eps, reuse_prefix=False):
    """Gated forward pass to pooled embeddings for each gate setting: gates ``[G, L, H]`` -> ``[G, B, M]``.

    With ``reuse_prefix``, the ungated model runs once and each setting starts from its output at
    the first layer with a gate other than 1 (the layers before it compute exactly what the
    ungated model computes): removing one head of layer l reruns only layers l .. L-1.
    """
    mask = attention_mask.astype(jnp.bool_)[:, None, None, :]
    x0 = embed(params["embeddings"], input_ids, eps)
    num_layers = gates.shape[1]

    def layer(lp, x):
        return encoder_layer(lp, x, mask, num_heads, eps)[0]

    if reuse_prefix:
        _, states = jax.lax.scan(lambda x, lp: (layer(lp, x),) * 2, x0, params["layers"])
        inputs = jnp.concatenate([x0[None], states])  # [L+1, B, T, M]: the input of layer i at i

    def one(g):
        p = gate_heads(params, g)
        if not reuse_prefix:
            x, _ = jax.lax.scan(lambda x, lp: (layer(lp, x), None), x0, p["layers"])
            return mean_pool(x, attention_mask)
        changed = jnp.any(g != 1.0, axis=1)  # [L]
        start = jnp.where(changed.any(), jnp.argmax(changed), num_layers)

        def step(x, item):
            i, lp = item
            return jax.lax.cond(i >= start, lambda x: layer(lp, x), lambda x: x, x), None  # skip before start

        x, _ = jax.lax.scan(step, inputs[start], (jnp.arange(num_layers), p["layers"]))
        return mean_pool(x, attention_mask)

    return jax.lax.map(one, gates)


GATE_CHUNK = 8  # gate settings per compiled call: any number of settings reuses one compiled shape


class CorpusRunner:
    """An :class:`~attn_jax.Encoder` whose batches are sharded over a device mesh."""

    def __init__(self, encoder: Encoder, mesh: Mesh | None = None, batch_size: int = 64):
        self.encoder = encoder
        self.mesh = mesh if mesh is not None else device_mesh()
        self.devices = self.mesh.devices.size
        self.batch_size = -(-batch_size // self.devices) * self.devices  # a multiple of the device count
        self._rows = NamedSharding(self.mesh, PartitionSpec("batch"))
        self.params = jax.device_put(encoder.params, NamedSharding(self.mesh, PartitionSpec()))  # replicated

    def batches(self, items: list[Tokenized], batch_size: int | None = None):
        """Yield ``(indices, input_ids [B, T], attention_mask [B, T])``, rows sharded over the mesh.

        B is the batch size rounded up to a power of two times the device count (with empty rows),
        so that batches of a corpus share a few compiled shapes."""
        size = batch_size or self.batch_size
        order = sorted(range(len(items)), key=lambda i: (len(items[i].ids), i))
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            t = -(-max(len(items[i].ids) for i in idx) // PAD_MULTIPLE) * PAD_MULTIPLE
            per_device = -(-len(idx) // self.devices)
            b = (1 << (per_device - 1).bit_length()) * self.devices
            ids = np.zeros((b, t), np.int32)
            mask = np.zeros((b, t), np.int32)
            for row, i in enumerate(idx):
                ids[row, : len(items[i].ids)] = items[i].ids
                mask[row, : len(items[i].ids)] = 1
            yield idx, jax.device_put(ids, self._rows), jax.device_put(mask, self._rows)

    def run(self, texts: list[str]) -> list[SentenceResult]:
        """Every layer's attention, Q, K, V and hidden states per text (unpadded), in input order."""
        items = self.encoder.tokenize(texts)
        out: list[SentenceResult | None] = [None] * len(items)
        for idx, ids, mask in self.batches(items):
            res = encode(self.encoder.config, self.params, ids, mask)
            att, hs, q, k, v = (np.asarray(a) for a in (res.attentions, res.hidden_states, res.q, res.k, res.v))
            for row, i in enumerate(idx):
                n = len(items[i].ids)
                out[i] = SentenceResult(tokenized=items[i], attentions=att[:, row, :, :n, :n], hidden=hs[-1, row, :n],
                                        hidden_states=hs[:, row, :n], q=q[:, row, :n], k=k[:, row, :n],
                                        v=v[:, row, :n])  # fmt: skip
        return out

    def embeddings(self, texts: list[str], gates=None, batch_size: int = 16, reuse_prefix: bool = False) -> np.ndarray:
        """Sentence embeddings with heads gated: gates ``[G, L, H]`` (default: one setting, all 1)
        -> float32 ``[G, N, M]`` in input order. Settings run :data:`GATE_CHUNK` at a time; small
        batches keep the padding of each batch short. ``reuse_prefix`` skips recomputing the
        layers before each setting's first gated layer (a saving when most settings gate late
        layers, e.g. one head at a time; a cost of one ungated pass per chunk otherwise)."""
        cfg = self.encoder.config
        shape = (cfg.num_hidden_layers, cfg.num_attention_heads)
        gates = np.ones((1, *shape), np.float32) if gates is None else np.asarray(gates, np.float32)
        if gates.ndim != 3 or gates.shape[1:] != shape:
            raise ValueError(f"gates must be [G, L, H] with L, H = {shape[0]}, {shape[1]}; got {tuple(gates.shape)}")
        g = len(gates)
        padded = np.ones((-(-g // GATE_CHUNK) * GATE_CHUNK, *shape), np.float32)
        padded[:g] = gates
        replicated = NamedSharding(self.mesh, PartitionSpec())
        chunks = [jax.device_put(padded[i : i + GATE_CHUNK], replicated) for i in range(0, len(padded), GATE_CHUNK)]
        items = self.encoder.tokenize(texts)
        out = np.zeros((len(padded), len(items), cfg.hidden_size), np.float32)
        for idx, ids, mask in self.batches(items, batch_size):
            for c, chunk in enumerate(chunks):
                emb = _embeddings(self.params, ids, mask, chunk, cfg.num_attention_heads, cfg.layer_norm_eps,
                                  reuse_prefix)
                out[c * GATE_CHUNK : (c + 1) * GATE_CHUNK, idx] = np.asarray(emb)[:, : len(idx)]
        return out[:g]
