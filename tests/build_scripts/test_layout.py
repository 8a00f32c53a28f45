"""The layout keeps its promises (a fitness function): every group folder has the same files, each
file does its one kind of work, deploy-time code needs no JAX, attention maths lives in attn_jax
only, and tests never import each other."""

import ast
from pathlib import Path

import pytest

from build_scripts.groups import FILES, ORDER
from build_scripts.pipeline.artifacts import ROOT
from build_scripts.pipeline.registry import _imported_names, code_files

BUILD = ROOT / "build_scripts"
GROUPS = BUILD / "groups"
# the attention steps and their aliases: defined in attn_jax.attention, and nowhere else
STEP_NAMES = {"attention_scores", "scale_scores", "mask_scores", "softmax", "softmax_weights", "weighted_sum",
              "dot_scores", "dot_product_attention", "multi_head_attention", "scale", "causal_mask"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (inside functions too)."""
    return _imported_names(path, module_name(path), ROOT)


def test_every_group_folder_has_the_same_files():
    folders = sorted(p.name for p in GROUPS.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted(ORDER), "every folder under build_scripts/groups is a group of ORDER, and back"
    for name in folders:
        py = sorted(p.name for p in (GROUPS / name).glob("*.py"))
        assert py == sorted(("__init__.py", *FILES)), f"groups/{name} has {py}"


@pytest.mark.parametrize("group", ORDER)
def test_each_file_does_its_kind_of_work(group):
    folder = GROUPS / group
    charts, measure = imports(folder / "charts.py"), imports(folder / "measure.py")
    # charts.py draws from tables: no model, no JAX, no attn_jax beyond its measures' definitions
    assert not {m for m in charts if m.split(".")[0] in ("jax", "jaxlib")}, f"{group}/charts.py imports JAX"
    assert {m.split(".")[1] for m in charts if m.startswith("attn_jax.")} <= {"analysis"}, f"{group}/charts.py runs a model"
    # measure.py computes numbers: it never draws
    assert "altair" not in measure and "vl_convert" not in measure, f"{group}/measure.py draws"
    # the declaration is importable without JAX (the stale check imports every group.py)
    top = ast.parse((folder / "group.py").read_text())
    top_level = {a.name for n in top.body if isinstance(n, ast.Import) for a in n.names}
    top_level |= {n.module or "" for n in top.body if isinstance(n, ast.ImportFrom)}
    assert not {m for m in top_level if m.split(".")[0] in ("jax", "altair", "vl_convert")}, group


def test_site_code_never_imports_jax_or_the_pipeline():
    for path in (BUILD / "site").glob("*.py"):
        for mod in code_files(module_name(path)):
            names = imports(mod)
            assert not {m for m in names if m.split(".")[0] in ("jax", "jaxlib", "attn_jax")}, f"{mod} (used by {path})"
            assert not {m for m in names if m.startswith(("build_scripts.pipeline", "build_scripts.groups"))}, str(mod)


def test_no_attention_step_outside_attn_jax():
    """Attention maths has one home: attn_jax.attention (tests keep their own NumPy reference)."""
    for path in [*BUILD.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert not defined & STEP_NAMES, f"{path} defines {sorted(defined & STEP_NAMES)}"
        if path.is_relative_to(BUILD):
            calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
            assert "einsum" not in calls, f"{path} computes with einsum: attention maths belongs in attn_jax"


def test_tests_mirror_the_packages_and_never_import_each_other():
    tests = ROOT / "tests"
    for package in ("attn_jax", "build_scripts/pipeline", "build_scripts/site", "build_scripts/groups", "benchmarks"):
        assert list((tests / package).glob("test_*.py")), f"tests/{package} is empty"
    for path in tests.rglob("*.py"):
        for name in imports(path):
            last = name.rsplit(".", 1)[-1]
            assert not (name.startswith("tests.") and last.startswith("test_")), f"{path} imports {name}"
