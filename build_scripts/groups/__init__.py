"""The chart groups, one folder each, with the same files in every folder:

- ``group.py``: the declaration (``GROUP``: name, data and config files read, extra inputs) and
  ``build(ctx)``, which assembles the group's files from the two modules below;
- ``measure.py``: model runs and arrays to numbers (facts and tidy tables), calling
  :mod:`attn_jax.analysis` for every measure; it never draws;
- ``charts.py``: tidy tables to what the reader sees (Altair charts, Vega specs, widget data); it
  never runs a model and imports no JAX.

A group's expensive results are cached by the code of its ``measure`` module
(:mod:`build_scripts.pipeline.cache`), so a change to ``charts.py`` only redraws. The generated
folder is the group's name, ``docs/generated/<name>/``; :data:`ORDER` is the build order.
"""

from __future__ import annotations

import importlib

ORDER = ("mechanics", "head_view", "qkv_steps", "head_grid", "cost", "learning", "phase_change", "gallery", "evidence", "senses", "live", "decoder_view", "rope", "induction", "kv_cache", "sinks")
FILES = ("group.py", "measure.py", "charts.py")


def groups() -> list:
    """Every group's declaration (:class:`build_scripts.pipeline.registry.Group`), in build order."""
    return [importlib.import_module(f"{__name__}.{name}.group").GROUP for name in ORDER]
