"""``make charts``: turn the models' weights into the site's generated files, rebuilding only what changed.

Everything generated lives in ``docs/generated/`` (never edit it by hand), one folder per group
(see :mod:`build_scripts.pipeline.registry` and :mod:`build_scripts.groups`). ``manifest.json`` there records, per group, its inputs (the
sha256 of every source file it imports, of its config and data files, the model checksum and
library versions), their hash, and the sha256 of every file written. A group whose inputs and
files match is skipped without loading the model.

A rebuilt file that differs from the one on disk only in the last written digit of some numbers
(another CPU rounds a few values the other way) is not rewritten: see
:func:`build_scripts.pipeline.artifacts.equivalent`. Staleness is only ever a matter of input hashes.

Before a group is built, the installed versions of the libraries that shape it must be the ones
pinned in pyproject.toml (the manifest records the pins). At the end the build prints how many
times each corpus went through a model: once each, whatever the number of groups using it.

Usage::

    python -m build_scripts [GROUP ...]      # rebuild what is stale (all groups by default)
    python -m build_scripts --force [GROUP]  # rebuild even when fresh
    python -m build_scripts --check          # exit 1 when anything is stale; write nothing (no JAX needed)
    python -m build_scripts --explain GROUP  # list a group's inputs and which ones changed
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from build_scripts.groups import groups

from .artifacts import CACHE_REL, GENERATED_REL, ROOT, dumps, equivalent, installed_mismatches, sha256_bytes, write_atomic
from .registry import Context, Group, group_inputs


class BuildError(Exception):
    """A problem with the build itself (unknown group name, libraries other than the pins); the
    message names the fix."""


def _select(names: list[str] | None) -> list[Group]:
    every = groups()
    if not names:
        return every
    known = {g.name for g in every}
    if unknown := [n for n in names if n not in known]:
        raise BuildError(f"unknown group(s) {unknown}; the groups are {sorted(known)}")
    return [g for g in every if g.name in names]


def load_manifest(generated: Path) -> dict:
    try:
        return json.loads((generated / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def _files_intact(entry: dict, out_dir: Path) -> bool:
    for rel, digest in entry.get("files", {}).items():
        path = out_dir / rel
        if not path.is_file() or sha256_bytes(path.read_bytes()) != digest:
            return False
    return True


def _fresh(entry: dict | None, input_hash: str, out_dir: Path) -> bool:
    return bool(entry) and entry.get("input_hash") == input_hash and _files_intact(entry, out_dir)


def stale_groups(root: Path = ROOT, generated: Path | None = None) -> list[str]:
    """Names of the groups whose files under ``generated`` do not match their current inputs."""
    generated = generated or root / GENERATED_REL
    manifest = load_manifest(generated)
    out = []
    for g in groups():
        input_hash = sha256_bytes(dumps(group_inputs(g, root)).encode())
        if not _fresh(manifest.get(g.name), input_hash, generated / g.name):
            out.append(g.name)
    return out


def explain(name: str, root: Path = ROOT, generated: Path | None = None) -> list[str]:
    """Lines describing group ``name``'s inputs, each marked ``changed``/``new`` against the manifest,
    plus missing or edited output files: what an author asks when ``--check`` fails."""
    generated = generated or root / GENERATED_REL
    [g] = _select([name])
    entry = load_manifest(generated).get(name) or {}
    before = entry.get("inputs", {})
    now = group_inputs(g, root)
    lines = [f"group {name} (declared in {g.module}):"]
    for kind in ("code", "files", "extra"):
        old = before.get(kind, {})
        for key, value in now[kind].items():
            mark = "" if old.get(key) == value else ("  <- changed" if key in old else "  <- new")
            shown = value[:12] if isinstance(value, str) else dumps(value).strip()[:60]
            lines.append(f"  {kind:5} {key}: {shown}{mark}")
        for key in sorted(set(old) - set(now[kind])):
            lines.append(f"  {kind:5} {key}: (no longer an input)  <- removed")
    if not entry:
        lines.append("  no manifest entry: never built here")
    elif not _files_intact(entry, generated / name):
        lines.append("  an output file is missing or was edited by hand")
    changed = any("<-" in line for line in lines) or not entry or not _files_intact(entry, generated / name)
    lines.append("  => stale: run `make charts`" if changed else "  => up to date")
    return lines


def build(force: bool = False, only: list[str] | None = None, log=print, root: Path = ROOT,
          generated: Path | None = None, cache: Path | None = None) -> dict:
    """Rebuild the stale groups (all with ``force``) under ``generated`` (default: the site's
    generated folder) with caches under ``cache`` (default: ``.build-cache/``); return the new manifest.

    The manifest is rewritten after each group, so a failure later on keeps what was done.
    """
    generated = generated or root / GENERATED_REL
    cache = cache or root / CACHE_REL
    manifest = load_manifest(generated)
    memo: dict = {}
    for g in _select(only):
        inputs = group_inputs(g, root)
        input_hash = sha256_bytes(dumps(inputs).encode())
        out_dir = generated / g.name
        if not force and _fresh(manifest.get(g.name), input_hash, out_dir):
            log(f"[{g.name}] up to date")
            continue
        if wrong := installed_mismatches(inputs["extra"].get("versions", {})):
            raise BuildError(f"group {g.name} is shaped by libraries other than the pins of pyproject.toml "
                             f"({'; '.join(wrong)}); run `make install`")
        t0 = time.perf_counter()
        ctx = Context(log=lambda msg, name=g.name: log(f"[{name}] {msg}"),
                      cache_dir=cache / g.name, root=root, memo=memo)
        files = g.build(ctx)
        written, kept = _write_group(out_dir, files)
        manifest[g.name] = {
            "inputs": inputs,
            "input_hash": input_hash,
            "files": {rel: sha256_bytes((out_dir / rel).read_bytes()) for rel in sorted(files)},
        }
        write_atomic(generated / "manifest.json", dumps(manifest).encode())
        note = f" ({kept} kept: equal within the last written digit)" if kept else ""
        log(f"[{g.name}] {len(files)} files, {written} rewritten, in {time.perf_counter() - t0:.1f} s{note}")
    generated.mkdir(parents=True, exist_ok=True)
    write_atomic(generated / "manifest.json", dumps(manifest).encode())
    if runs := memo.get("model runs"):
        log("model runs: " + ", ".join(f"{name} {count}x" for name, count in sorted(runs.items())))
    return manifest


def _write_group(out_dir: Path, files: dict[str, bytes]) -> tuple[int, int]:
    """Write a group's files, keeping any existing file that is equivalent to its rebuild (see the
    module docstring) and removing files the group no longer makes. Returns how many files were
    written and how many kept although their rebuild differs in last digits."""
    written = kept = 0
    for rel, data in files.items():
        path = out_dir / rel
        if path.is_file():
            old = path.read_bytes()
            if old == data or equivalent(old, data):
                kept += old != data
                continue
        write_atomic(path, data)
        written += 1
    if out_dir.exists():
        for old in sorted(out_dir.rglob("*"), reverse=True):
            rel = str(old.relative_to(out_dir))
            if old.is_file() and rel not in files:
                old.unlink()
            elif old.is_dir() and not any(old.iterdir()):
                old.rmdir()
    return written, kept


def main(argv=None) -> int:
    from attn_jax.errors import AttnJaxError

    from .config import ConfigError

    p = argparse.ArgumentParser(prog="python -m build_scripts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if any generated file is stale; write nothing")
    p.add_argument("--force", action="store_true", help="rebuild even what is up to date")
    p.add_argument("--explain", metavar="GROUP", help="list GROUP's inputs and which of them changed")
    p.add_argument("only", nargs="*", help="build only these groups")
    args = p.parse_args(argv)
    try:
        if args.explain:
            print("\n".join(explain(args.explain)))
            return 0
        if args.check:
            stale = stale_groups()
            if stale:
                print(f"error: generated charts are stale: {', '.join(stale)}; run `make charts` and commit "
                      f"docs/generated (`python -m build_scripts --explain {stale[0]}` says why)",
                      file=sys.stderr)
                return 1
            print("generated charts are up to date")
            return 0
        t0 = time.perf_counter()
        build(force=args.force, only=args.only or None, log=lambda m: print(m, flush=True))
        print(f"charts done in {time.perf_counter() - t0:.1f} s")
        return 0
    except (ConfigError, AttnJaxError, BuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
