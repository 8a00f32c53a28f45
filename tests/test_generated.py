"""The chart pipeline: committed files fresh, builds reproducible, the stale check without holes,
config-named sentences, and the registry without import cycles."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from build_scripts import artifacts
from build_scripts.artifacts import ROOT, code_files, equivalent
from build_scripts.build import GROUP_MODULES, build, explain, groups, stale_groups
from build_scripts.config import ConfigError

GENERATED = ROOT / artifacts.GENERATED_REL
MODEL_GROUPS = ["head-view", "qkv-steps", "head-grid", "mechanics"]  # the groups that run the encoder


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_committed_charts_are_fresh():
    assert stale_groups() == [], "run `make charts` and commit docs/generated"


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    """The encoder groups built twice from scratch into two empty folders (one process, as `make charts`)."""
    outs = []
    for i in range(2):
        out = tmp_path_factory.mktemp(f"build{i}")
        build(force=True, only=MODEL_GROUPS, log=lambda m: None, generated=out)
        outs.append(out)
    return outs


def test_two_builds_on_one_machine_are_byte_identical(two_builds):
    a, b = two_builds
    for group in MODEL_GROUPS:
        fa, fb = files_of(a / group), files_of(b / group)
        assert fa.keys() == fb.keys()
        for rel in fa:
            assert fa[rel] == fb[rel], f"{group}/{rel} differs between two builds on this machine"


def test_rebuild_agrees_with_committed_files_within_the_last_digit(two_builds):
    """Across machines, float results differ in their last bits (other CPUs, other SIMD paths), so a
    value written with 3 decimals may round to the neighbouring digit. The committed files (made on
    some machine) and a rebuild here must agree value by value within one unit of the last written
    digit, and exactly in everything else (see artifacts.equivalent)."""
    out = two_builds[0]
    for group in MODEL_GROUPS:
        committed, rebuilt = files_of(GENERATED / group), files_of(out / group)
        assert rebuilt.keys() == committed.keys(), f"{group}: other files"
        for rel in committed:
            assert equivalent(committed[rel], rebuilt[rel]), f"{group}/{rel} differs beyond the last digit"


def test_rebuild_into_committed_copy_rewrites_nothing(tmp_path, two_builds):
    """`make charts` on a machine whose rebuild differs only in last digits must leave git clean."""
    out = tmp_path / "generated"
    shutil.copytree(GENERATED, out)
    before = files_of(out)
    build(force=True, only=MODEL_GROUPS, log=lambda m: None, generated=out)
    assert files_of(out) == {**before, "manifest.json": files_of(out)["manifest.json"]}
    manifest = json.loads((out / "manifest.json").read_text())
    committed = json.loads((GENERATED / "manifest.json").read_text())
    for group in MODEL_GROUPS:
        assert manifest[group] == committed[group]


# --- equivalence: the tolerance itself --------------------------------------------------------


@pytest.mark.parametrize("old,new,same", [
    (b'{"w":[0.123,0.5]}', b'{"w":[0.124,0.5]}', True),      # one unit in the 3rd decimal
    (b'{"w":[0.123,0.5]}', b'{"w":[0.125,0.5]}', False),     # two units
    (b'{"w":0.12}', b'{"w":0.121}', True),                    # 0.120 written as 0.12
    (b'{"w":1.0}', b'{"w":0.999}', True),
    (b'{"w":1.5e-05}', b'{"w":1.6e-05}', True),
    (b'{"w":1.5e-05}', b'{"w":1.7e-05}', False),
    (b'{"layer":5}', b'{"layer":6}', False),                  # integers are indices: exact
    (b'{"word":"cat","w":0.1}', b'{"word":"mat","w":0.1}', False),
    (b'{"w":[0.1,0.2]}', b'{"w":[0.1,0.2,0.3]}', False),
    (b'<path d="M1.5,2"/>', b'<path d="M1.6,2"/>', True),
    (b'fill="rgb(19, 75, 133)"', b'fill="rgb(19, 76, 132)"', True),  # colour channels: rounded values
    (b'fill="rgb(19, 75, 133)"', b'fill="rgb(19, 77, 133)"', False),
    (b'<g id="c19"><rect width="4"/>', b'<g id="c19"><rect width="5"/>', False),
    (b"\xff\x00", b"\xff\x01", False),                       # not text: bytes must match
])
def test_equivalent(old, new, same):
    assert equivalent(old, new) is same
    assert equivalent(new, old) is same


# --- the stale check has no holes ----------------------------------------------------------------


def _loaded_project_modules(module: str) -> set[str]:
    """The project modules actually loaded by importing ``module`` (a fresh interpreter): an
    independent check of the static import walk."""
    code = ("import sys, importlib; importlib.import_module(sys.argv[1]); "
            "print('\\n'.join(m for m in sys.modules if m.split('.')[0] in ('attn_jax', 'build_scripts')))")
    out = subprocess.run([sys.executable, "-c", code, module], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", GROUP_MODULES)
def test_code_inputs_cover_every_loaded_module(module):
    derived = {str(p.relative_to(ROOT)) for p in code_files(module)}
    for name in _loaded_project_modules(module):
        path = artifacts.module_file(name)
        assert str(path.relative_to(ROOT)) in derived, f"{module} loads {name} but its code inputs miss it"


@pytest.fixture()
def project_copy(tmp_path):
    """A copy of the sources, config, results and generated files: edits here touch nothing real."""
    root = tmp_path / "project"
    for rel in ("attn_jax", "build_scripts", "benchmarks/results", "data", "docs/generated"):
        shutil.copytree(ROOT / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    for g in groups():  # data files declared elsewhere (e.g. the vendored runtime the live group measures)
        for rel in g.files:
            if (ROOT / rel).is_file() and not (root / rel).exists():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, root / rel)
    return root


def test_editing_any_helper_makes_its_groups_stale(project_copy):
    assert stale_groups(root=project_copy) == []
    users: dict[str, set[str]] = {}
    for g in groups():
        for name in _loaded_project_modules(g.module):
            users.setdefault(str(artifacts.module_file(name).relative_to(ROOT)), set()).add(g.name)
    assert "build_scripts/artifacts.py" in users and "build_scripts/headview.py" in users
    for rel, names in sorted(users.items()):
        path = project_copy / rel
        original = path.read_bytes()
        path.write_bytes(original + b"\n# an edit\n")
        try:
            stale = set(stale_groups(root=project_copy))
        finally:
            path.write_bytes(original)
        assert names <= stale, f"editing {rel} leaves {sorted(names - stale)} marked fresh"


def test_config_and_results_edits_make_their_groups_stale(project_copy):
    toml = project_copy / "build_scripts/sentences.toml"
    toml.write_text(toml.read_text() + "\n")
    assert set(MODEL_GROUPS) <= set(stale_groups(root=project_copy))
    assert "cost" not in stale_groups(root=project_copy)
    results = project_copy / "benchmarks/results/cpu.json"
    results.write_text(results.read_text() + "\n")
    assert "cost" in stale_groups(root=project_copy)


def test_explain_names_the_changed_input(project_copy):
    assert explain("cost", root=project_copy)[-1].endswith("up to date")
    path = project_copy / "build_scripts/cost.py"
    path.write_text(path.read_text() + "\n")
    lines = explain("cost", root=project_copy)
    assert any("build_scripts/cost.py" in line and "<- changed" in line for line in lines)
    assert not any("build_scripts/headview.py" in line for line in lines)
    assert lines[-1].endswith("stale: run `make charts`")


def test_cli_explain_and_unknown_group():
    ok = subprocess.run([sys.executable, "-m", "build_scripts.build", "--explain", "head-view"], cwd=ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "build_scripts/encoded.py" in ok.stdout and "sentences.toml" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "build_scripts.build", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown group(s) ['nope']" in bad.stderr


# --- the registry: no cycle, no sentence in Python, each module loaded once ------------------------


def _project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            out.add(node.module or "")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("build_scripts"):
            out.add(node.module.split(".", 1)[1])
    return out


def test_no_module_imports_the_build_cli():
    """build.py sits on top: nothing in build_scripts imports it (the old cycle)."""
    for path in (ROOT / "build_scripts").glob("*.py"):
        if path.name != "build.py":
            assert "build" not in _project_imports(path), f"{path.name} imports build.py"


def test_python_names_no_sentence():
    """Sentences are chosen through roles in sentences.toml; no sentence id is written in Python."""
    from build_scripts.config import load_sentences

    ids = {s.id for s in load_sentences()}
    for path in (ROOT / "build_scripts").glob("*.py"):
        text = path.read_text()
        for sid in ids:
            assert f'"{sid}"' not in text and f"'{sid}'" not in text, f"{path.name} names sentence {sid!r}"


def test_build_cli_loads_no_module_twice():
    """`python -m build_scripts.build` runs build.py as __main__; no group may import it again."""
    code = ("import runpy, sys\nsys.argv = ['build', '--check']\n"
            "try:\n    runpy.run_module('build_scripts.build', run_name='__main__', alter_sys=True)\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print(code, 'build_scripts.build' in sys.modules, 'build_scripts.headview_build' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.splitlines()[-1].split() == ["0", "False", "True"], proc.stdout + proc.stderr


# --- config names the sentences --------------------------------------------------------------------


def test_removing_a_sentence_a_role_needs_fails_with_the_fact(tmp_path):
    from build_scripts.config import CONFIG, load_config

    text = CONFIG.read_text()
    start = text.index('[[sentence]]\nid = "bank-money"')
    end = text.index("[[sentence]]", start + 1)
    path = tmp_path / "sentences.toml"
    path.write_text(text[:start] + text[end:])
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "'bank-money'" in msg and "head-view.senses" in msg and "add it back" in msg and "\n" not in msg


def test_another_instruction_set_rewrites_nothing(tmp_path):
    """Another CPU, simulated: XLA limited to SSE4.2 vectorises differently (other summation order,
    no FMA), so some values round to the neighbouring last digit. Forcing a rebuild of the encoder
    groups into a copy of the committed files must leave every file as committed, byte for byte,
    and the manifest too: a contributor on other hardware sees no noise in `git status`."""
    out = tmp_path / "generated"
    shutil.copytree(GENERATED, out)
    before = files_of(out)
    code = ("import sys; from pathlib import Path; from build_scripts.build import build; "
            "build(force=True, only=sys.argv[2:], generated=Path(sys.argv[1]), cache=Path(sys.argv[1]) / 'cache')")
    env = {**os.environ, "XLA_FLAGS": "--xla_cpu_max_isa=SSE4_2"}
    proc = subprocess.run([sys.executable, "-c", code, str(out), *MODEL_GROUPS], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert files_of(out) == before
