"""Shared test set-up: strict dtype promotion (a silent float64/bfloat16 mix-up fails) and the
pretrained encoder, loaded once. Helper functions are in tests/helpers.py."""

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(scope="session")
def encoder():
    """The real pretrained encoder (sha256-verified), loaded once per test session."""
    from attn_jax import Encoder

    return Encoder.load()
