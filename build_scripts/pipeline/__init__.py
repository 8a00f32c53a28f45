"""Build time: the chart pipeline that turns model runs into ``docs/generated/``.

- :mod:`.artifacts` - paths, canonical JSON, the one rounding rule, atomic writes, pinned versions,
  the last-digit tolerance between CPUs (standard library only);
- :mod:`.registry` - what a group is, its inputs (code found by reading imports, files, extra);
- :mod:`.build` - the command line (``python -m build_scripts``): rebuild what is stale, check, explain;
- :mod:`.cache` - the one cache of expensive results, keyed by the code that computes them;
- :mod:`.models` - the model runs the groups share, once per build (the encoder, the config's
  sentences, the Winograd collection);
- :mod:`.config` - ``sentences.toml`` and its roles; :mod:`.winograd` - the Winograd collection;
- :mod:`.payloads` - the head view's payload format (the head view, the gallery, the export);
- :mod:`.render` - charts to compiled Vega, static SVG and the phone layout.
"""
