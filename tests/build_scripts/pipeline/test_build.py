"""The chart pipeline: committed files fresh, builds reproducible, the stale check without holes,
config-named sentences, and the registry without import cycles."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from build_scripts.groups import groups
from build_scripts.pipeline import artifacts, registry
from build_scripts.pipeline.artifacts import ROOT, equivalent
from build_scripts.pipeline.build import build, explain, stale_groups
from build_scripts.pipeline.config import ConfigError
from build_scripts.pipeline.registry import code_files
from tests.helpers import files_of, without_jax

GENERATED = ROOT / artifacts.GENERATED_REL
MODEL_GROUPS = ["head-view", "qkv-steps", "head-grid", "mechanics"]  # the groups that run the encoder on the config
GROUP_MODULES = [g.module for g in groups()]


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
        path = registry.module_file(name)
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
            users.setdefault(str(registry.module_file(name).relative_to(ROOT)), set()).add(g.name)
    assert "build_scripts/pipeline/artifacts.py" in users and "build_scripts/pipeline/payloads.py" in users
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
    path = project_copy / "build_scripts/groups/cost/charts.py"
    path.write_text(path.read_text() + "\n")
    lines = explain("cost", root=project_copy)
    assert any("build_scripts/groups/cost/charts.py" in line and "<- changed" in line for line in lines)
    assert not any("build_scripts/pipeline/payloads.py" in line for line in lines)
    assert lines[-1].endswith("stale: run `make charts`")


def test_cli_explain_and_unknown_group():
    ok = subprocess.run([sys.executable, "-m", "build_scripts", "--explain", "head-view"], cwd=ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "build_scripts/pipeline/models.py" in ok.stdout and "sentences.toml" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "build_scripts", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown group(s) ['nope']" in bad.stderr


# --- the registry: no cycle, no sentence in Python, no JAX to check ----------------------------------


def test_no_module_imports_the_build_cli():
    """The command line sits on top: only build_scripts/__main__.py imports it."""
    for path in (ROOT / "build_scripts").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        imported = registry._imported_names(path, name, ROOT)
        if path.name != "__main__.py" and path.name != "build.py":
            assert "build_scripts.pipeline.build" not in imported, f"{path} imports the build CLI"


def test_python_names_no_sentence():
    """Sentences are chosen through roles in sentences.toml; no sentence id is written in Python."""
    from build_scripts.pipeline.config import load_sentences

    ids = {s.id for s in load_sentences()}
    for path in (ROOT / "build_scripts").rglob("*.py"):
        text = path.read_text()
        for sid in ids:
            assert f'"{sid}"' not in text and f"'{sid}'" not in text, f"{path} names sentence {sid!r}"


def test_check_and_explain_need_no_jax(tmp_path):
    """The stale check hashes inputs only: it runs with JAX made unimportable (so does the Pages
    workflow's freshness job, which installs nothing but NumPy)."""
    env = without_jax(tmp_path)
    blocked = subprocess.run([sys.executable, "-c", "import jax"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert blocked.returncode != 0 and "blocked" in blocked.stderr  # the block works
    check = subprocess.run([sys.executable, "-m", "build_scripts", "--check"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    explain_ = subprocess.run([sys.executable, "-m", "build_scripts", "--explain", "evidence"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
    assert explain_.returncode == 0 and "up to date" in explain_.stdout, explain_.stderr


def test_lazy_package_names_count_as_imports():
    """``from attn_jax import Encoder`` loads attn_jax/encoder.py on first use: the code walk counts it."""
    code = {p.name for p in code_files("build_scripts.pipeline.models")}
    assert {"encoder.py", "corpus.py", "checkpoints.py"} <= code


def test_build_refuses_libraries_other_than_the_pins(monkeypatch, tmp_path):
    from build_scripts.pipeline import build as build_module

    monkeypatch.setattr(build_module, "installed_mismatches", lambda wanted: ["altair: installed 0.0, pinned 6.3.0"])
    with pytest.raises(build_module.BuildError, match="altair: installed 0.0, pinned 6.3.0.*make install"):
        build(force=True, only=["cost"], log=lambda m: None, generated=tmp_path)


# --- config names the sentences --------------------------------------------------------------------


def test_removing_a_sentence_a_role_needs_fails_with_the_fact(tmp_path):
    from build_scripts.pipeline.config import CONFIG, load_config

    text = CONFIG.read_text()
    start = text.index('[[sentence]]\nid = "bank-money"')
    end = text.index("[[sentence]]", start + 1)
    path = tmp_path / "sentences.toml"
    path.write_text(text[:start] + text[end:])
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "'bank-money'" in msg and "senses.*" in msg and "add it back" in msg and "\n" not in msg


def test_another_instruction_set_rewrites_nothing(tmp_path):
    """Another CPU, simulated: XLA limited to SSE4.2 vectorises differently (other summation order,
    no FMA), so some values round to the neighbouring last digit. Forcing a rebuild of the encoder
    groups into a copy of the committed files must leave every file as committed, byte for byte,
    and the manifest too: a contributor on other hardware sees no noise in `git status`."""
    out = tmp_path / "generated"
    shutil.copytree(GENERATED, out)
    before = files_of(out)
    code = ("import sys; from pathlib import Path; from build_scripts.pipeline.build import build; "
            "build(force=True, only=sys.argv[2:], generated=Path(sys.argv[1]), cache=Path(sys.argv[1]) / 'cache')")
    env = {**os.environ, "XLA_FLAGS": "--xla_cpu_max_isa=SSE4_2"}
    proc = subprocess.run([sys.executable, "-c", code, str(out), *MODEL_GROUPS], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert files_of(out) == before
