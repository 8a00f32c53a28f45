"""The site's build scripts, laid out by when they run:

- :mod:`build_scripts.site` - deploy time: the Markdown extension and widget HTML that MkDocs and
  Zensical run on the committed generated files; never imports JAX;
- :mod:`build_scripts.pipeline` - build time: the chart pipeline (``python -m build_scripts``,
  ``make charts``), its shared model runs, payload formats and caches;
- :mod:`build_scripts.groups` - one folder per chart group, the same files in each
  (``group.py``, ``measure.py``, ``charts.py``);
- :mod:`build_scripts.view` - a user command: the head view of your own sentences as one HTML file
  (``python -m build_scripts.view``).

Imports run one way: ``view`` and ``groups`` use ``pipeline`` and ``site``; ``pipeline`` uses
``attn_jax``'s public modules; ``site`` uses neither.
"""
