"""The grid's two scores per head, for one sentence: how much attention a head parks on [CLS], and
how focused it is on one word further away. Both are defined in :mod:`attn_jax.analysis` (the
*[CLS] sink* role score and *focus*), the same scores the head view's pattern picks read.
"""

from __future__ import annotations

import numpy as np


def scores(att: np.ndarray, special) -> dict[str, np.ndarray]:
    """Word-level attention ``[L, H, w, w]`` -> ``{"cls": [L, H], "focus": [L, H]}``."""
    from build_scripts.pipeline.payloads import pattern_scores

    s = pattern_scores(att, special)
    return {"cls": s["[CLS] sink"], "focus": s["focused"]}
