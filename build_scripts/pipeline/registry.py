"""Chart groups and their inputs: what a group is, what its build gets, and what makes it stale.

Every generated file belongs to a *group*: files built together from the same inputs. Each group
lives in its own folder ``build_scripts/groups/<name>/`` (see :mod:`build_scripts.groups`), whose
``group.py`` declares it::

    GROUP = Group("cost", module=__name__, files=[RESULTS_CONFIG], build=build)

    def build(ctx: Context) -> dict[str, bytes]:   # {path relative to the group folder: bytes}
        ...

The build function gets a :class:`Context`: ``ctx.log(msg)``, ``ctx.cache_dir`` (this group's
folder under ``.build-cache/``, see :mod:`build_scripts.pipeline.cache`) and ``ctx.shared(key,
fn)`` (one computation shared by every group of a build: the model runs of
:mod:`build_scripts.pipeline.models`).

A group's inputs are (see :func:`group_inputs`):

- ``code``: the sha256 of every project source file its module imports, directly or through other
  project modules, inside functions too, found by reading the import statements
  (:func:`code_files`), never listed by hand; a change to any helper a group uses makes it stale;
- ``files``: the sha256 of the data and config files it declares (paths relative to the root);
- ``extra``: whatever else shapes its output (model checksum, pinned library versions), from a
  cheap function that never runs a model and imports no JAX.

Hashing them needs no JAX and no model: the stale check runs on the standard library.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from .artifacts import ROOT, sha256_bytes

PROJECT_PACKAGES = ("attn_jax", "build_scripts")  # whose source files count as a group's code


@dataclass
class Context:
    """What a group's build gets: a logger, its cache folder, and a memo shared by all groups of one
    build (so several groups that need the same model run load and run the model once)."""

    log: Callable[[str], None]
    cache_dir: Path
    root: Path = ROOT
    memo: dict = field(default_factory=dict)

    def shared(self, key: str, compute: Callable[[], object]):
        """``compute()`` once per build for ``key``; later calls (from any group) reuse it."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


@dataclass(frozen=True)
class Group:
    """A set of generated files built together from the same inputs (see the module docstring)."""

    name: str
    module: str  # the declaring module, e.g. "build_scripts.groups.cost.group": its imports are the code inputs
    build: Callable[[Context], dict[str, bytes]]
    files: tuple[str, ...] = ()  # data/config files read, relative to the root
    extra: Callable[[], dict] | None = None  # cheap: checksums and versions only, never a model run

    def __post_init__(self):
        object.__setattr__(self, "files", tuple(self.files))


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The source file of project module ``name`` under ``root`` (a package's ``__init__.py``),
    or None when ``name`` is not a project module."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=64)
def _lazy_names(init: Path, mtime_ns: int) -> dict[str, str]:
    """A package's names that load on first use: the literal ``_NAMES = {name: module}`` of its
    ``__init__.py`` (see :mod:`attn_jax`), so ``from attn_jax import Encoder`` counts
    ``attn_jax/encoder.py`` as imported."""
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_NAMES" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def _imported_names(path: Path, name: str, root: Path) -> set[str]:
    """Every module name that ``path`` (module ``name``) imports anywhere (inside functions too),
    with relative imports resolved; ``from pkg import x`` yields ``pkg``, ``pkg.x`` and, for a
    name ``pkg`` loads on first use, the module defining it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
            init = module_file(base, root)
            if init is not None and init.name == "__init__.py":
                lazy = _lazy_names(init, init.stat().st_mtime_ns)
                out.update(f"{base}.{lazy[a.name]}" for a in node.names if a.name in lazy)
    # importing a.b.c runs a/__init__.py and a/b/__init__.py first
    for full in list(out):
        parts = full.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return out


def code_files(module: str, root: Path = ROOT) -> list[Path]:
    """The project source files that importing and running ``module`` can execute: the module
    itself and, transitively, every project module it imports. Sorted."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name, root)
        if path is None:
            continue
        seen[name] = path
        todo.extend(_imported_names(path, name, root) - seen.keys())
    return sorted(set(seen.values()))


def code_hashes(module: str, root: Path = ROOT) -> dict[str, str]:
    """``{path relative to root: sha256}`` of :func:`code_files`."""
    return {str(p.relative_to(root)): sha256_bytes(p.read_bytes()) for p in code_files(module, root)}


def file_hashes(files, root: Path = ROOT) -> dict[str, str]:
    """``{path: sha256}`` of data and config files relative to ``root`` (``"missing"`` if absent)."""
    return {rel: sha256_bytes((root / rel).read_bytes()) if (root / rel).is_file() else "missing" for rel in files}


def group_inputs(group: Group, root: Path = ROOT) -> dict:
    """Everything that shapes a group's files, as a JSON-able dict (hashed into the manifest)."""
    return {"code": code_hashes(group.module, root), "files": file_hashes(group.files, root),
            "extra": group.extra() if group.extra else {}}
