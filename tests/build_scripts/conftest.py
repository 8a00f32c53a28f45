"""Fixtures of the build-script tests: two real sentences' encoder results and head-view payloads."""

import pytest

from build_scripts.pipeline import payloads as pl
from build_scripts.pipeline.config import Sentence


@pytest.fixture(scope="session")
def payloads(encoder):
    """``([cat, animal] payloads, [their encoder results])`` for "The cat sat on the mat because it
    was tired." and "The animal didn't cross the street because it was too wide."."""
    sentences = [
        Sentence("cat", "The cat sat on the mat because it was tired.", "cat", "it"),
        Sentence("animal", "The animal didn't cross the street because it was too wide.", "animal", "it"),
    ]
    results = encoder.run([s.text for s in sentences])
    return [pl.sentence_payload(s, r) for s, r in zip(sentences, results)], results
