"""The one cache of expensive results (a model run over a corpus, a training run), in ``.build-cache/``.

A result is keyed by what *computes* it: the source of the group's ``measure`` module and every
project module it imports (:func:`build_scripts.pipeline.registry.code_files`), the data and config
files it reads, and the extra inputs (model checksum, pinned versions). The code that draws charts
is not part of the key, so restyling a chart redraws it from the cache without running a model.

Results are plain JSON (rounded before they are written, see
:func:`build_scripts.pipeline.artifacts.rounded`) and always read back from the file, so a build that
computes a result and one that finds it cached produce the same bytes.
"""

from __future__ import annotations

import json
from typing import Callable

from .artifacts import dumps, sha256_bytes, write_atomic
from .registry import Context, code_hashes, file_hashes


def cache_key(ctx: Context, module: str, files=(), extra: dict | None = None) -> str:
    """sha256 of the code of ``module`` (transitively), the ``files`` and ``extra``."""
    inputs = {"code": code_hashes(module, ctx.root), "files": file_hashes(files, ctx.root), "extra": extra or {}}
    return sha256_bytes(dumps(inputs).encode())


def cached(ctx: Context, name: str, compute: Callable[[], dict], *, module: str, files=(),
           extra: dict | None = None) -> dict:
    """``compute()`` (a JSON-able dict), or its result from ``ctx.cache_dir/<name>-<key>.json``
    when the key (:func:`cache_key`) matches. Older results of ``name`` are removed."""
    key = cache_key(ctx, module, files, extra)[:16]
    path = ctx.cache_dir / f"{name}-{key}.json"
    if path.is_file():
        ctx.log(f"{name}: from the cache ({path.name})")
    else:
        write_atomic(path, dumps(compute()).encode())
        for old in ctx.cache_dir.glob(f"{name}-*.json"):
            if old != path:
                old.unlink()
    return json.loads(path.read_text(encoding="utf-8"))
