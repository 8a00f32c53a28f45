"""Small models trained from scratch on :mod:`attn_jax.tasks`, and a reusable training loop.

Axis legend: B batch, T positions, H heads, D head dim, M model dim, L layers, V classes,
C checkpoints, P probe examples, N seeds trained side by side.

- :func:`transformer_apply` - token + learned position embeddings, L pre-LayerNorm blocks of
  :func:`attn_jax.self_attention` (which calls :func:`attn_jax.multi_head_attention`) and an MLP,
  then a linear readout at the query position (or at every position: a language model). Returns
  logits and every layer's attention weights as values.
- :func:`gru_apply` - the recurrent baseline: a GRU (plain JAX, ``lax.scan``) whose state after
  reading the query, one vector, is all it has to answer from.
- :func:`train` - a generic optax loop: batches are drawn and steps run inside one jit-compiled
  ``lax.scan`` per checkpoint interval, so it runs unchanged (and faster) on GPU/TPU. At each
  checkpoint it records held-out loss and accuracy and the probe examples' attention. It
  minimises :func:`answer_loss` (one answer at the query) or :func:`next_token_loss` (every
  position), and can train N seeds side by side in one compiled run.

Both models take ``(params, tokens [B, T], query [B]) -> (logits [B, V], attention
[L, B, H, T, T] or None)``, reading their answer at each example's query position. Both are causal:
position t sees positions <= t only. Everything is seeded; the only randomness is ``jax.random``,
so a run is repeatable on one machine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .attention import causal_mask
from .projections import self_attention
from .tasks import RecallBatch

__all__ = [
    "TransformerConfig",
    "GRUConfig",
    "init_transformer",
    "transformer_apply",
    "init_gru",
    "gru_apply",
    "Budget",
    "make_optimizer",
    "answer_loss",
    "next_token_losses",
    "next_token_loss",
    "evaluate",
    "TrainLog",
    "train",
    "count_params",
]

ApplyFn = Callable[[dict, jax.Array, jax.Array], tuple[jax.Array, jax.Array | None]]


# --- the tiny transformer -------------------------------------------------------------------


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int
    length: int  # T, the number of learned positions
    num_classes: int  # V
    model_dim: int = 32  # M
    num_heads: int = 4  # H (head dim D = M / H)
    num_layers: int = 2  # L
    mlp_dim: int = 64  # 0: attention-only blocks
    zero_query: bool = True  # query maps start at 0, so every attention row starts exactly uniform

    def to_dict(self) -> dict:
        return asdict(self)


def _normal(key, shape, std):
    return std * jax.random.normal(key, shape, dtype=jnp.float32)


def _dense_init(key, n_in, n_out):
    """Weights ~ N(0, 1/fan_in), zero biases: activations keep their scale through each layer."""
    w = _normal(key, (n_in, n_out), float(1.0 / np.sqrt(n_in)))
    return {"w": w, "b": jnp.zeros((n_out,), jnp.float32)}


def _ln_init(m):
    return {"scale": jnp.ones((m,), jnp.float32), "bias": jnp.zeros((m,), jnp.float32)}


def init_transformer(key: jax.Array, config: TransformerConfig) -> dict:
    """Parameters as a plain pytree; attention blocks use the layout of :func:`self_attention`.

    Token and position embeddings ``[vocab, M]`` and ``[T, M]`` start ~ N(0, 1) and are learned.
    """
    c, m = config, config.model_dim
    keys = iter(jax.random.split(key, 3 + 6 * c.num_layers))
    layers = []
    for _ in range(c.num_layers):
        attn = {name: _dense_init(next(keys), m, m) for name in ("query", "key", "value", "output")}
        if c.zero_query:  # scores q.k are then all 0: attention starts uniform, and still learns
            attn["query"]["w"] = jnp.zeros_like(attn["query"]["w"])
        layer = {"ln1": _ln_init(m), "attn": attn}
        if c.mlp_dim:
            fc, proj = _dense_init(next(keys), m, c.mlp_dim), _dense_init(next(keys), c.mlp_dim, m)
            layer |= {"ln2": _ln_init(m), "mlp": {"fc": fc, "proj": proj}}
        layers.append(layer)
    return {
        "embed": _normal(next(keys), (c.vocab_size, m), 1.0),
        "pos": _normal(next(keys), (c.length, m), 1.0),
        "layers": layers,
        "ln_f": _ln_init(m),
        "readout": _dense_init(next(keys), m, c.num_classes),
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
    params: dict, tokens: jax.Array, query: jax.Array | None, config: TransformerConfig
) -> tuple[jax.Array, jax.Array]:
    """tokens int ``[B, T]``, query positions int ``[B]``
    -> ``(logits [B, V] at the query, attention [L, B, H, T, T])`` (row = query, column = key).

    ``query=None`` reads out at every position, a language model: logits ``[B, T, V]``, where
    row t predicts token t + 1 (with ``num_classes`` = the vocabulary size)."""
    b, t = tokens.shape
    x = params["embed"][tokens] + params["pos"][:t]  # [B, T, M]
    mask = causal_mask(t)  # [T, T], broadcast over B and H: position t sees keys <= t
    weights = []
    for layer in params["layers"]:
        a = self_attention(layer["attn"], layer_norm(layer["ln1"], x), config.num_heads, mask)
        x = x + a.out
        if config.mlp_dim:
            x = x + _mlp(layer["mlp"], layer_norm(layer["ln2"], x))
        weights.append(a.weights)  # [B, H, T, T]
    # [B, M] at the query, or [B, T, M] everywhere
    h = layer_norm(params["ln_f"], x if query is None else x[jnp.arange(b), query])
    logits = h @ params["readout"]["w"] + params["readout"]["b"]
    return logits, jnp.stack(weights)


# --- the recurrent baseline -----------------------------------------------------------------


@dataclass(frozen=True)
class GRUConfig:
    vocab_size: int
    num_classes: int
    embed_dim: int = 32
    hidden_dim: int = 128  # the whole memory: everything read so far must fit in this vector
    mlp_dim: int = 128  # > 0: a GELU MLP between the state and the readout (0: linear readout)

    def to_dict(self) -> dict:
        return asdict(self)


def init_gru(key: jax.Array, config: GRUConfig) -> dict:
    c = config
    k_emb, k_in, k_rec, k_out, k_mlp = jax.random.split(key, 5)
    e, h = c.embed_dim, c.hidden_dim
    return {
        "embed": _normal(k_emb, (c.vocab_size, e), 1.0),
        # Gates stacked as [reset | update | candidate] along the last axis.
        "input": _dense_init(k_in, e, 3 * h),
        "recurrent": _dense_init(k_rec, h, 3 * h),
        "readout": _dense_init(k_out, c.mlp_dim or h, c.num_classes),
        **({"mlp": _dense_init(k_mlp, h, c.mlp_dim)} if c.mlp_dim else {}),
    }


def gru_apply(
    params: dict, tokens: jax.Array, query: jax.Array, config: GRUConfig
) -> tuple[jax.Array, None]:
    """tokens int ``[B, T]``, query positions int ``[B]`` -> ``(logits [B, V], None)``: the answer
    is read from the state just after the query token, which is all the GRU kept; no attention."""
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
        h = (1.0 - z) * n + z * h
        return h, h

    h0 = jnp.zeros((b, config.hidden_dim), jnp.float32)
    _, states = jax.lax.scan(step, h0, jnp.swapaxes(gi, 0, 1))  # [T, B, H], scan over T
    h = states[query, jnp.arange(b)]  # [B, H]: the state after reading the query
    if config.mlp_dim:
        h = jax.nn.gelu(h @ params["mlp"]["w"] + params["mlp"]["b"], approximate=False)
    return h @ params["readout"]["w"] + params["readout"]["b"], None


def count_params(params) -> int:
    return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))


# --- training -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """What every model gets: the same steps, batch size and optimizer settings."""

    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3  # peak learning rate of AdamW (linear warm-up, then cosine decay to lr/10)
    warmup: int = 50
    weight_decay: float = 0.01
    clip_norm: float = 1.0  # gradients are clipped to this global norm
    # "constant": the peak lr from the end of warm-up on; when a model learns something (a phase
    # change) then depends on the steps taken, not on how long the run was planned to be
    schedule: str = "cosine"

    def __post_init__(self):
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def make_optimizer(budget: Budget) -> optax.GradientTransformation:
    if budget.schedule == "constant":
        schedule = optax.linear_schedule(0.0, budget.lr, max(budget.warmup, 1))
    else:
        schedule = optax.warmup_cosine_decay_schedule(
            0.0, budget.lr, budget.warmup, max(budget.steps, budget.warmup + 1), end_value=budget.lr / 10
        )
    return optax.chain(
        optax.clip_by_global_norm(budget.clip_norm),
        optax.adamw(schedule, weight_decay=budget.weight_decay),
    )


Objective = Callable[[ApplyFn, dict, Any], tuple[jax.Array, jax.Array]]


def answer_loss(apply_fn: ApplyFn, params, batch: RecallBatch) -> tuple[jax.Array, jax.Array]:
    """Mean cross-entropy and accuracy of the answer read out at each example's query position."""
    logits, _ = apply_fn(params, batch.tokens, batch.query)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch.targets).mean()
    accuracy = (jnp.argmax(logits, axis=-1) == batch.targets).mean()
    return loss, accuracy


def next_token_losses(logits: jax.Array, tokens: jax.Array) -> jax.Array:
    """logits ``[B, T, V]`` (row t predicts token t + 1), tokens int ``[B, T]`` -> cross-entropy
    ``[B, T - 1]`` of each prediction (the last row has nothing to predict)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits[:, :-1], tokens[:, 1:])


def next_token_loss(apply_fn: ApplyFn, params, batch) -> tuple[jax.Array, jax.Array]:
    """A language model's objective: mean next-token cross-entropy and accuracy over every
    position of every sequence in ``batch`` (anything with ``tokens [B, T]``)."""
    logits, _ = apply_fn(params, batch.tokens, None)
    accuracy = (jnp.argmax(logits[:, :-1], axis=-1) == batch.tokens[:, 1:]).mean()
    return next_token_losses(logits, batch.tokens).mean(), accuracy


@partial(jax.jit, static_argnums=0)
def evaluate(apply_fn: ApplyFn, params, batch: RecallBatch) -> tuple[jax.Array, jax.Array]:
    """Mean cross-entropy and accuracy of ``apply_fn`` on a batch (``apply_fn`` must be hashable,
    e.g. a ``functools.partial`` of a module-level function with a frozen config)."""
    return answer_loss(apply_fn, params, batch)


class TrainLog(NamedTuple):
    """What :func:`train` records; with N seeds trained side by side every array gains a leading
    ``[N]`` axis (``loss [N, C]``, ``probe_attention [N, C, P, L, H, T]``, params ``[N, ...]``)."""

    params: dict  # the final parameters
    steps: np.ndarray  # int [C]: 0, every, 2 * every, ..., steps
    loss: np.ndarray  # float [C]: held-out loss (the objective) at each checkpoint
    accuracy: np.ndarray  # float [C]: held-out accuracy at each checkpoint
    train_loss: np.ndarray  # float [C]: mean training loss over the interval before (NaN at 0)
    probe_attention: np.ndarray | None  # float [C, P, L, H, T]: the query position's attention row
    seconds: float  # wall time, compilation included
    measures: list | None = None  # [C]: what ``on_checkpoint`` returned at each checkpoint


def train(
    apply_fn: ApplyFn,
    params: dict,
    task,
    budget: Budget,
    *,
    seed: int | Sequence[int],
    heldout=None,
    checkpoint_every: int,
    probe: RecallBatch | None = None,
    objective: Objective = answer_loss,
    on_checkpoint: Callable[[int, dict], Any] | None = None,
) -> TrainLog:
    """Train ``apply_fn`` on fresh batches of ``task`` with AdamW; checkpoint every few steps.

    Step s trains on ``task.sample(fold_in(PRNGKey(seed), s), batch_size)``, so the data depend
    on the seed and the step only. ``objective(apply_fn, params, batch) -> (loss, accuracy)`` is
    minimised (:func:`answer_loss`, or :func:`next_token_loss` for a language model) and
    measured on ``heldout`` at every checkpoint (None: not measured, NaN in the log, for a
    caller that measures in ``on_checkpoint``). ``budget.steps`` must be a multiple of
    ``checkpoint_every``. For the ``probe`` examples (P of them, e.g. held-out ones) the attention
    row of their query position is recorded at every checkpoint, when the model returns attention.
    ``on_checkpoint(step, params)`` runs on the host at every checkpoint, step 0 included; its
    results are kept in :attr:`TrainLog.measures`.

    ``seed`` may be a sequence of N seeds: then ``params`` carry a leading ``[N]`` axis (e.g.
    ``jax.vmap(init)(keys)``) and the N models train side by side, vmapped in one compiled run
    (one compile, wider matmuls); each still sees exactly the batches its own seed gives.
    """
    if budget.steps % checkpoint_every:
        raise ValueError(f"steps {budget.steps} is not a multiple of checkpoint_every {checkpoint_every}")
    start = time.perf_counter()
    optimizer = make_optimizer(budget)
    side_by_side = not isinstance(seed, int)
    if side_by_side:
        data_key = jnp.stack([jax.random.PRNGKey(s) for s in seed])  # [N, 2]
        if {leaf.shape[0] for leaf in jax.tree_util.tree_leaves(params)} != {len(seed)}:
            raise ValueError(f"with {len(seed)} seeds every parameter needs a leading axis of {len(seed)}")
    else:
        data_key = jax.random.PRNGKey(seed)

    def one_step(params, opt_state, data_key, step):
        batch = task.sample(jax.random.fold_in(data_key, step), budget.batch_size)
        loss_fn = lambda p: objective(apply_fn, p, batch)  # noqa: E731
        (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        # optax mixes its int32 step count with floats; allow that even where strict promotion is on.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def evaluate_checkpoint(params):
        if heldout is None:
            loss = accuracy = jnp.float32(jnp.nan)
        else:
            loss, accuracy = objective(apply_fn, params, heldout)
        if probe is None:
            return loss, accuracy, None
        _, attention = apply_fn(params, probe.tokens, probe.query)  # [L, P, H, T, T] or None
        if attention is None:
            return loss, accuracy, None
        rows = attention[:, jnp.arange(probe.query.shape[0]), :, probe.query]  # [P, L, H, T]
        return loss, accuracy, rows

    if side_by_side:
        one_step = jax.vmap(one_step, in_axes=(0, 0, 0, None))
        evaluate_checkpoint = jax.vmap(evaluate_checkpoint)

    def scan_step(carry, step):
        params, opt_state, loss = one_step(*carry, data_key, step)
        return (params, opt_state), loss

    @jax.jit
    def run_interval(params, opt_state, first_step):
        steps = first_step + jnp.arange(checkpoint_every, dtype=jnp.int32)
        (params, opt_state), losses = jax.lax.scan(scan_step, (params, opt_state), steps)
        return params, opt_state, losses.mean(axis=0)

    checkpoint = jax.jit(evaluate_checkpoint)
    opt_state = (jax.vmap(optimizer.init) if side_by_side else optimizer.init)(params)
    no_loss = jnp.full((len(seed),) if side_by_side else (), jnp.nan, jnp.float32)
    records = [checkpoint(params) + (no_loss,)]
    measures = None if on_checkpoint is None else [on_checkpoint(0, params)]
    for first in range(0, budget.steps, checkpoint_every):
        params, opt_state, train_loss = run_interval(params, opt_state, jnp.int32(first))
        records.append(checkpoint(params) + (train_loss,))
        if on_checkpoint is not None:
            measures.append(on_checkpoint(first + checkpoint_every, params))
    records = jax.device_get(records)

    def stacked(i):  # [C, ...] -> [N, C, ...] when seeds run side by side
        a = np.stack([r[i] for r in records]).astype(np.float64)
        return np.moveaxis(a, 0, 1) if side_by_side else a

    return TrainLog(
        params=params,
        steps=np.arange(0, budget.steps + 1, checkpoint_every),
        loss=stacked(0),
        accuracy=stacked(1),
        train_loss=stacked(3),
        probe_attention=None if records[0][2] is None else stacked(2),
        seconds=time.perf_counter() - start,
        measures=measures,
    )
