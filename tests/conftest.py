"""Shared test set-up: strict dtype promotion (a silent float64/bfloat16 mix-up fails) and the
pretrained encoder and decoder, each loaded once. Helper functions are in tests/helpers.py."""

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(scope="session")
def encoder():
    """The real pretrained encoder (sha256-verified), loaded once per test session."""
    from attn_jax import Encoder

    return Encoder.load()


@pytest.fixture(scope="session")
def decoder():
    """The real SmolLM2-135M decoder (sha256-verified), loaded once per test session."""
    from attn_jax import Decoder

    return Decoder.load()
