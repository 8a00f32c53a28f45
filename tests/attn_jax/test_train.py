"""attn_jax.tasks and attn_jax.train: the task's stated structure (the answer is always recoverable
from the input), the models' shapes and causality, and a training run that learns a tiny instance.
Odd sizes (5 pairs, 7 keys, 3 values, 3 heads of 5) so that swapped axes fail."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.tasks import RecallTask, sample_batch, token_labels
from attn_jax.train import (
    Budget,
    GRUConfig,
    TransformerConfig,
    count_params,
    evaluate,
    gru_apply,
    init_gru,
    init_transformer,
    train,
    transformer_apply,
)

TASK = RecallTask(num_pairs=5, num_keys=7, num_values=3)  # T = 11, vocab = 10
B = 97


@partial(jax.jit, static_argnums=1)
def sample(key, task=TASK):
    """B sequences; one compile per task instead of op-by-op dispatch (compiles are slow here)."""
    return sample_batch(key, task, B)


def solve(tokens: np.ndarray, n: int) -> int:
    """Reference solver that shares no code with the generator: find the one earlier copy of the
    query key among the keys and read the token after it."""
    hits = [j for j in range(n) if tokens[2 * j] == tokens[2 * n]]
    assert len(hits) == 1, f"the query key must appear exactly once in the list: {tokens}"
    return int(tokens[2 * hits[0] + 1])


def check_structure(task: RecallTask, batch) -> None:
    n, v, k = task.num_pairs, task.num_values, task.num_keys
    tokens, query, targets, pair = (np.asarray(a) for a in batch)
    b = tokens.shape[0]
    assert tokens.shape == (b, 2 * n + 1) and tokens.dtype == np.int32
    keys, values = tokens[:, 0 : 2 * n : 2], tokens[:, 1 : 2 * n : 2]
    assert ((keys >= v) & (keys < v + k)).all() and ((values >= 0) & (values < v)).all()
    assert all(len(set(row)) == n for row in keys), "keys must be distinct within a sequence"
    np.testing.assert_array_equal(query, 2 * n)
    np.testing.assert_array_equal(tokens[:, 2 * n], keys[np.arange(b), pair])
    np.testing.assert_array_equal(targets, values[np.arange(b), pair])
    np.testing.assert_array_equal(targets, [solve(row, n) for row in tokens])


@pytest.mark.parametrize("seed", [0, 1])
def test_answer_is_always_recoverable(seed):
    batch = sample(jax.random.PRNGKey(seed))
    check_structure(TASK, batch)
    # The queried pair is uniform: every pair is asked about in a batch this size.
    assert set(np.asarray(batch.pair).tolist()) == set(range(TASK.num_pairs))


@pytest.mark.parametrize("n,k,v", [(1, 1, 2), (6, 6, 12)])
def test_structure_holds_at_the_edges(n, k, v):
    # One pair; and keys that use the whole key vocabulary (a permutation).
    task = RecallTask(num_pairs=n, num_keys=k, num_values=v)
    check_structure(task, sample(jax.random.PRNGKey(n), task))


def test_distance_fixes_the_queried_pair():
    assert TASK.distances == (2, 4, 6, 8, 10)
    for d in TASK.distances:
        batch = sample_batch(jax.random.PRNGKey(d), TASK, 9, distance=d)  # same shapes: cached ops
        check_structure(TASK, batch)
        np.testing.assert_array_equal(np.asarray(batch.query) - 2 * np.asarray(batch.pair), d)


@pytest.mark.parametrize("distance", [0, 3, 12])
def test_unreachable_distance_is_refused(distance):
    with pytest.raises(ValueError, match="distance must be one of"):
        sample_batch(jax.random.PRNGKey(0), TASK, 2, distance=distance)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="num_pairs <= num_keys"):
        RecallTask(num_pairs=5, num_keys=4)
    with pytest.raises(ValueError, match="at least 2 values"):
        RecallTask(num_values=1)


def test_sampling_is_a_pure_function_of_the_key():
    a, b = sample(jax.random.PRNGKey(3)), sample(jax.random.PRNGKey(3))
    c = sample(jax.random.PRNGKey(4))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.tokens, c.tokens)


def test_token_labels():
    assert token_labels(TASK, [3, 0, 9, 2, 3]) == ["A", "0", "G", "2", "A"]


# --- the models -----------------------------------------------------------------------------

TF = TransformerConfig(TASK.vocab_size, TASK.length, TASK.num_values, model_dim=15, num_heads=3, mlp_dim=7)
GRU = GRUConfig(TASK.vocab_size, TASK.num_values, embed_dim=5, hidden_dim=13, mlp_dim=7)


def test_transformer_shapes_causality_and_uniform_start():
    batch = sample(jax.random.PRNGKey(0))
    params = init_transformer(jax.random.PRNGKey(1), TF)
    logits, attn = jax.jit(partial(transformer_apply, config=TF))(params, batch.tokens, batch.query)
    t = TASK.length
    assert logits.shape == (B, TASK.num_values) and attn.shape == (2, B, 3, t, t)
    np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-6)
    future = np.triu(np.ones((t, t), bool), k=1)
    assert (np.asarray(attn)[..., future] == 0).all(), "a position attended to a later one"
    # Zero-initialised query maps: every row starts exactly uniform over the positions it sees.
    uniform = np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]
    np.testing.assert_allclose(attn, np.broadcast_to(uniform, attn.shape), atol=1e-6)


@pytest.mark.parametrize("name", ["transformer", "gru"])
def test_readout_ignores_tokens_after_the_query(name):
    # Read out at position 6 (a key); tokens after it must not change the answer.
    batch = sample(jax.random.PRNGKey(2))
    query = jnp.full((B,), 6, jnp.int32)
    changed = batch.tokens.at[:, 7:].set(TASK.num_values)
    if name == "transformer":
        params, apply = init_transformer(jax.random.PRNGKey(0), TF), partial(transformer_apply, config=TF)
    else:
        params, apply = init_gru(jax.random.PRNGKey(0), GRU), partial(gru_apply, config=GRU)
    apply = jax.jit(apply)
    before, _ = apply(params, batch.tokens, query)
    after, _ = apply(params, changed, query)
    np.testing.assert_array_equal(before, after)
    moved, _ = apply(params, batch.tokens, query + 2)
    assert not np.allclose(before, moved), "the readout position had no effect"


def test_gru_shapes():
    batch = sample(jax.random.PRNGKey(0))
    params = init_gru(jax.random.PRNGKey(1), GRU)
    logits, attn = jax.jit(partial(gru_apply, config=GRU))(params, batch.tokens, batch.query)
    assert logits.shape == (B, TASK.num_values) and attn is None
    # embed + input [5, 39] + recurrent [13, 39] + mlp [13, 7] + readout [7, 3], with biases
    assert count_params(params) == 10 * 5 + (5 * 39 + 39) + (13 * 39 + 39) + (13 * 7 + 7) + (7 * 3 + 3)


# --- training -------------------------------------------------------------------------------


def test_training_learns_a_tiny_instance():
    task = RecallTask(num_pairs=2, num_keys=4, num_values=4)  # chance 0.25
    config = TransformerConfig(
        task.vocab_size, task.length, task.num_values, model_dim=16, num_heads=2, mlp_dim=0
    )
    heldout = sample_batch(jax.random.PRNGKey(7), task, 256)
    probe = jax.tree_util.tree_map(lambda a: a[:3], heldout)
    apply = partial(transformer_apply, config=config)
    budget = Budget(steps=150, batch_size=64, lr=1e-2, warmup=10)
    log = train(
        apply, init_transformer(jax.random.PRNGKey(0), config), task, budget,
        seed=1, heldout=heldout, checkpoint_every=50, probe=probe,
    )
    np.testing.assert_array_equal(log.steps, [0, 50, 100, 150])
    assert log.loss.shape == log.accuracy.shape == log.train_loss.shape == (4,)
    assert np.isnan(log.train_loss[0]) and np.isfinite(log.train_loss[1:]).all()
    # Guessing one of the two listed values gives about 0.6; learning the lookup gives ~1.
    assert log.accuracy[0] < 0.5 and log.accuracy[-1] >= 0.9, log.accuracy
    assert log.loss[-1] < log.loss[0] / 3
    assert float(evaluate(apply, log.params, heldout)[1]) == pytest.approx(log.accuracy[-1])
    # The probe: the query's attention row per checkpoint, example, layer and head.
    rows = log.probe_attention
    assert rows.shape == (4, 3, 2, 2, task.length)
    np.testing.assert_allclose(rows.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(rows[0], 1.0 / task.length, atol=1e-6)  # uniform at step 0


def test_steps_must_be_a_multiple_of_the_checkpoint_interval():
    with pytest.raises(ValueError, match="multiple"):
        train(None, {}, TASK, Budget(steps=10), seed=0, heldout=None, checkpoint_every=3)
