"""``make charts``: turn the encoder's weights into the site's generated files, rebuilding only what changed.

Everything generated lives in ``docs/generated/`` (never edit it by hand). ``manifest.json`` there
records, per artifact group, the hash of its inputs (config file, model sha256, code version,
library versions) and the sha256 of every file written. A group whose input hash and files
match is skipped without loading the model; ``--check`` only compares and exits 1 when anything
is stale (CI and the deploy workflow run it).

Usage: ``python -m build_scripts.build [--check] [--force]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "docs" / "generated"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(obj) -> str:
    """Canonical JSON (sorted keys, no spaces) so identical data gives identical bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def code_version(paths: list[Path]) -> str:
    """sha256 over the given source files (relative path + contents), in sorted order."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def versions(*packages: str) -> dict[str, str]:
    return {p: metadata.version(p) for p in packages}


@dataclass
class Group:
    """A set of generated files that is built together from the same inputs."""

    name: str
    inputs: Callable[[], dict]  # cheap: hashes and versions only, never runs a model
    build: Callable[[Path, Callable[[str], None]], dict[str, bytes]]  # -> {relative path: bytes}


def _groups() -> list[Group]:
    from . import cost_build, headview_build, learning_build, qkv_build

    return [
        Group("head-view", headview_build.inputs, headview_build.build),
        Group("qkv-steps", qkv_build.qkv_inputs, qkv_build.qkv_build),
        Group("head-grid", qkv_build.grid_inputs, qkv_build.grid_build),
        Group("cost", cost_build.inputs, cost_build.build),
        Group("learning", learning_build.inputs, learning_build.build),
    ]


def _load_manifest(generated: Path = GENERATED) -> dict:
    try:
        return json.loads((generated / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def _fresh(entry: dict | None, input_hash: str, out_dir: Path) -> bool:
    if not entry or entry.get("input_hash") != input_hash:
        return False
    for rel, digest in entry.get("files", {}).items():
        path = out_dir / rel
        if not path.is_file() or sha256_bytes(path.read_bytes()) != digest:
            return False
    return True


def stale_groups(generated: Path = GENERATED) -> list[str]:
    """Names of the groups whose committed files do not match their current inputs."""
    manifest = _load_manifest(generated)
    out = []
    for g in _groups():
        inputs = g.inputs()
        if not _fresh(manifest.get(g.name), sha256_bytes(dumps(inputs).encode()), generated / g.name):
            out.append(g.name)
    return out


def build(force: bool = False, only: list[str] | None = None, log=print, generated: Path = GENERATED) -> dict:
    """Rebuild the stale groups (all with ``force``) under ``generated``; return the new manifest."""
    manifest = _load_manifest(generated)
    for g in _groups():
        if only and g.name not in only:
            continue
        inputs = g.inputs()
        input_hash = sha256_bytes(dumps(inputs).encode())
        out_dir = generated / g.name
        if not force and _fresh(manifest.get(g.name), input_hash, out_dir):
            log(f"[{g.name}] up to date")
            continue
        t0 = time.perf_counter()
        files = g.build(out_dir, lambda msg, name=g.name: log(f"[{name}] {msg}"))
        if out_dir.exists():
            for old in out_dir.rglob("*"):
                if old.is_file() and str(old.relative_to(out_dir)) not in files:
                    old.unlink()
        for rel, data in files.items():
            path = out_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        manifest[g.name] = {
            "inputs": inputs,
            "input_hash": input_hash,
            "files": {rel: sha256_bytes(data) for rel, data in sorted(files.items())},
        }
        log(f"[{g.name}] wrote {len(files)} files in {time.perf_counter() - t0:.1f} s")
    generated.mkdir(parents=True, exist_ok=True)
    (generated / "manifest.json").write_text(dumps(manifest))
    return manifest


def main(argv=None) -> int:
    from attn_jax.errors import AttnJaxError

    from .config import ConfigError

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if any generated file is stale; write nothing")
    p.add_argument("--force", action="store_true", help="rebuild everything")
    p.add_argument("only", nargs="*", help="build only these groups")
    args = p.parse_args(argv)
    try:
        if args.check:
            stale = stale_groups()
            if stale:
                print(f"error: generated charts are stale: {', '.join(stale)}; run `make charts` and commit docs/generated",
                      file=sys.stderr)
                return 1
            print("generated charts are up to date")
            return 0
        t0 = time.perf_counter()
        build(force=args.force, only=args.only or None, log=lambda m: print(m, flush=True))
        print(f"charts done in {time.perf_counter() - t0:.1f} s")
        return 0
    except (ConfigError, AttnJaxError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
