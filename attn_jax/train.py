"""Small models trained from scratch on :mod:`attn_jax.tasks`, and a reusable training loop.

Axis legend: B batch, T positions, H heads, D head dim, M model dim, L layers, V classes,
C checkpoints, P probe examples.

- :func:`transformer_apply` - token + learned position embeddings, L pre-LayerNorm blocks of
  :func:`attn_jax.self_attention` (which calls :func:`attn_jax.multi_head_attention`) and an MLP,
  then a linear readout at the last (query) position. Returns logits and every layer's attention
  weights as values.
- :func:`gru_apply` - the recurrent baseline: a GRU (plain JAX, ``lax.scan``) whose final state,
  after reading the query, is all it has to answer from.
- :func:`train` - a generic optax loop: batches are drawn and steps run inside one jit-compiled
  ``lax.scan`` per checkpoint interval, so it runs unchanged (and faster) on GPU/TPU. At each
  checkpoint it records held-out loss and accuracy and the probe examples' attention.

Both models take ``(params, tokens [B, T]) -> (logits [B, V], attention [L, B, H, T, T] or None)``.
Everything is seeded; the only randomness is ``jax.random``, so a run is repeatable on one machine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .attention import causal_mask
from .projections import self_attention
from .tasks import RecallBatch, RecallTask, sample_batch

__all__ = [
    "TransformerConfig",
    "GRUConfig",
    "init_transformer",
    "transformer_apply",
    "init_gru",
    "gru_apply",
    "Budget",
    "make_optimizer",
    "evaluate",
    "TrainLog",
    "train",
    "count_params",
]

ApplyFn = Callable[[dict, jax.Array], tuple[jax.Array, jax.Array | None]]


# --- the tiny transformer -------------------------------------------------------------------


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int
    length: int  # T, the number of learned positions
    num_classes: int  # V
    model_dim: int = 64  # M
    num_heads: int = 4  # H (head dim D = M / H)
    num_layers: int = 2  # L
    mlp_dim: int = 128
    causal: bool = True  # each position sees only itself and earlier ones, like the GRU
    init_std: float = 0.02  # small weights: attention starts close to uniform

    def to_dict(self) -> dict:
        return asdict(self)


def _normal(key, shape, std):
    return std * jax.random.normal(key, shape, dtype=jnp.float32)


def _dense_init(key, n_in, n_out, std):
    return {"w": _normal(key, (n_in, n_out), std), "b": jnp.zeros((n_out,), jnp.float32)}


def _ln_init(m):
    return {"scale": jnp.ones((m,), jnp.float32), "bias": jnp.zeros((m,), jnp.float32)}


def init_transformer(key: jax.Array, config: TransformerConfig) -> dict:
    """Parameters as a plain pytree; attention blocks use the layout of :func:`self_attention`."""
    c, m, std = config, config.model_dim, config.init_std
    keys = iter(jax.random.split(key, 3 + 6 * c.num_layers))
    layers = []
    for _ in range(c.num_layers):
        attn = {name: _dense_init(next(keys), m, m, std) for name in ("query", "key", "value", "output")}
        mlp = {"fc": _dense_init(next(keys), m, c.mlp_dim, std), "proj": _dense_init(next(keys), c.mlp_dim, m, std)}
        layers.append({"ln1": _ln_init(m), "attn": attn, "ln2": _ln_init(m), "mlp": mlp})
    return {
        "embed": _normal(next(keys), (c.vocab_size, m), 1.0),
        "pos": _normal(next(keys), (c.length, m), 1.0),
        "layers": layers,
        "ln_f": _ln_init(m),
        "readout": _dense_init(next(keys), m, c.num_classes, std),
    }


def layer_norm(p: dict, x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """Normalise the last axis to zero mean, unit variance, then scale and shift."""
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["bias"]


def _mlp(p: dict, x: jax.Array) -> jax.Array:
    h = jax.nn.gelu(x @ p["fc"]["w"] + p["fc"]["b"], approximate=False)
    return h @ p["proj"]["w"] + p["proj"]["b"]


def transformer_apply(
    params: dict, tokens: jax.Array, config: TransformerConfig
) -> tuple[jax.Array, jax.Array]:
    """tokens int ``[B, T]`` -> ``(logits [B, V] at the last position, attention [L, B, H, T, T])``."""
    b, t = tokens.shape
    x = params["embed"][tokens] + params["pos"][:t]  # [B, T, M]
    mask = causal_mask(t) if config.causal else None  # [T, T], broadcast over B and H
    weights = []
    for layer in params["layers"]:
        a = self_attention(layer["attn"], layer_norm(layer["ln1"], x), config.num_heads, mask)
        x = x + a.out
        x = x + _mlp(layer["mlp"], layer_norm(layer["ln2"], x))
        weights.append(a.weights)  # [B, H, T, T]
    h = layer_norm(params["ln_f"], x[:, -1])  # [B, M]: the query position reads out the answer
    logits = h @ params["readout"]["w"] + params["readout"]["b"]
    return logits, jnp.stack(weights)


# --- the recurrent baseline -----------------------------------------------------------------


@dataclass(frozen=True)
class GRUConfig:
    vocab_size: int
    num_classes: int
    embed_dim: int = 64
    hidden_dim: int = 128  # the whole memory: everything read so far must fit in this vector

    def to_dict(self) -> dict:
        return asdict(self)


def init_gru(key: jax.Array, config: GRUConfig) -> dict:
    c = config
    k_emb, k_in, k_rec, k_out = jax.random.split(key, 4)
    e, h = c.embed_dim, c.hidden_dim
    return {
        "embed": _normal(k_emb, (c.vocab_size, e), 1.0),
        # Gates stacked as [reset | update | candidate] along the last axis.
        "input": _dense_init(k_in, e, 3 * h, 1.0 / np.sqrt(e)),
        "recurrent": _dense_init(k_rec, h, 3 * h, 1.0 / np.sqrt(h)),
        "readout": _dense_init(k_out, h, c.num_classes, 1.0 / np.sqrt(h)),
    }


def gru_apply(params: dict, tokens: jax.Array, config: GRUConfig) -> tuple[jax.Array, None]:
    """tokens int ``[B, T]`` -> ``(logits [B, V] from the final state, None)``: no attention."""
    b, _ = tokens.shape
    x = params["embed"][tokens]  # [B, T, E]
    gi = x @ params["input"]["w"] + params["input"]["b"]  # [B, T, 3H], all time steps at once
    rec = params["recurrent"]

    def step(h, gi_t):  # h [B, H], gi_t [B, 3H]
        gh = h @ rec["w"] + rec["b"]
        i_r, i_z, i_n = jnp.split(gi_t, 3, axis=-1)
        h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
        r = jax.nn.sigmoid(i_r + h_r)
        z = jax.nn.sigmoid(i_z + h_z)
        n = jnp.tanh(i_n + r * h_n)
        return (1.0 - z) * n + z * h, None

    h0 = jnp.zeros((b, config.hidden_dim), jnp.float32)
    h, _ = jax.lax.scan(step, h0, jnp.swapaxes(gi, 0, 1))  # scan over T
    return h @ params["readout"]["w"] + params["readout"]["b"], None


def count_params(params) -> int:
    return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))


# --- training -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """What every model gets: the same steps, batch size and optimizer settings."""

    steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3  # peak learning rate of AdamW (linear warm-up, then cosine decay to lr/10)
    warmup: int = 50
    weight_decay: float = 0.01
    clip_norm: float = 1.0  # gradients are clipped to this global norm

    def to_dict(self) -> dict:
        return asdict(self)


def make_optimizer(budget: Budget) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, budget.lr, budget.warmup, max(budget.steps, budget.warmup + 1), end_value=budget.lr / 10
    )
    return optax.chain(
        optax.clip_by_global_norm(budget.clip_norm),
        optax.adamw(schedule, weight_decay=budget.weight_decay),
    )


def _loss_and_accuracy(apply_fn: ApplyFn, params, tokens, targets):
    logits, _ = apply_fn(params, tokens)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()
    accuracy = (jnp.argmax(logits, axis=-1) == targets).mean()
    return loss, accuracy


@partial(jax.jit, static_argnums=0)
def evaluate(apply_fn: ApplyFn, params, batch: RecallBatch) -> tuple[jax.Array, jax.Array]:
    """Mean cross-entropy and accuracy of ``apply_fn`` on a batch (``apply_fn`` must be hashable,
    e.g. a ``functools.partial`` of a module-level function with a frozen config)."""
    return _loss_and_accuracy(apply_fn, params, batch.tokens, batch.targets)


class TrainLog(NamedTuple):
    params: dict  # the final parameters
    steps: np.ndarray  # int [C]: 0, every, 2 * every, ..., steps
    loss: np.ndarray  # float [C]: held-out cross-entropy at each checkpoint
    accuracy: np.ndarray  # float [C]: held-out accuracy at each checkpoint
    train_loss: np.ndarray  # float [C]: mean training loss over the interval before (NaN at 0)
    probe_attention: np.ndarray | None  # float [C, P, L, H, T]: the last position's attention row
    seconds: float  # wall time, compilation included


def train(
    apply_fn: ApplyFn,
    params: dict,
    task: RecallTask,
    budget: Budget,
    *,
    seed: int,
    heldout: RecallBatch,
    checkpoint_every: int,
    probe: jax.Array | None = None,
) -> TrainLog:
    """Train ``apply_fn`` on fresh batches of ``task`` with AdamW; checkpoint every few steps.

    Step s trains on ``sample_batch(fold_in(PRNGKey(seed), s), task, batch_size)``, so the data
    depend on the seed and the step only. ``budget.steps`` must be a multiple of
    ``checkpoint_every``. ``probe`` tokens ``[P, T]`` (e.g. held-out inputs) have the attention of
    their last (query) position recorded at every checkpoint, when the model returns attention.
    """
    if budget.steps % checkpoint_every:
        raise ValueError(f"steps {budget.steps} is not a multiple of checkpoint_every {checkpoint_every}")
    start = time.perf_counter()
    optimizer = make_optimizer(budget)
    data_key = jax.random.PRNGKey(seed)

    def one_step(carry, step):
        params, opt_state = carry
        batch = sample_batch(jax.random.fold_in(data_key, step), task, budget.batch_size)
        loss_fn = lambda p: _loss_and_accuracy(apply_fn, p, batch.tokens, batch.targets)  # noqa: E731
        (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    @jax.jit
    def run_interval(params, opt_state, first_step):
        steps = first_step + jnp.arange(checkpoint_every, dtype=jnp.int32)
        (params, opt_state), losses = jax.lax.scan(one_step, (params, opt_state), steps)
        return params, opt_state, losses.mean()

    @jax.jit
    def checkpoint(params):
        loss, accuracy = _loss_and_accuracy(apply_fn, params, heldout.tokens, heldout.targets)
        if probe is None:
            return loss, accuracy, None
        _, attention = apply_fn(params, probe)  # [L, P, H, T, T] or None
        row = None if attention is None else jnp.transpose(attention[..., -1, :], (1, 0, 2, 3))
        return loss, accuracy, row  # row [P, L, H, T]

    opt_state = optimizer.init(params)
    records = [checkpoint(params) + (jnp.float32(jnp.nan),)]
    for first in range(0, budget.steps, checkpoint_every):
        params, opt_state, train_loss = run_interval(params, opt_state, jnp.int32(first))
        records.append(checkpoint(params) + (train_loss,))
    records = jax.device_get(records)
    rows = [r[2] for r in records]
    return TrainLog(
        params=params,
        steps=np.arange(0, budget.steps + 1, checkpoint_every),
        loss=np.array([r[0] for r in records], np.float64),
        accuracy=np.array([r[1] for r in records], np.float64),
        train_loss=np.array([r[3] for r in records], np.float64),
        probe_attention=None if rows[0] is None else np.stack(rows).astype(np.float64),
        seconds=time.perf_counter() - start,
    )
