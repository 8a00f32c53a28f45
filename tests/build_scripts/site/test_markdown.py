"""The site builds strictly with MkDocs and with Zensical, gives the same article with both, asks no
other host for anything, and stops with one line naming the page and the fix on a broken shortcode."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from build_scripts.site.markdown import PageContext, SiteError, expand_shortcodes, render_math
from tests.helpers import GENERATORS, ROOT, build_site, without_jax

PAGES = ["index.html", "rnns-lstms/index.html", "attention/index.html", "glossary/index.html", "model/index.html"]


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    out = {}
    for generator in GENERATORS:
        out[generator] = tmp_path_factory.mktemp("site") / generator
        proc = build_site(generator, out[generator])
        assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("generator", GENERATORS)
def test_build_is_strict_and_offline(sites, generator):
    html = (sites[generator] / "index.html").read_text()
    # no fonts, scripts or styles from any other host
    assert not re.search(r'(src|href)="https?://(?!127\.0\.0\.1)[^"]+\.(js|css|woff2?)', html)
    assert "fonts.googleapis" not in html
    assert generator in re.search(r'<meta name="generator" content="([^"]+)"', html).group(1)


def article(html: str) -> str:
    """The page's article, without the skip-link target Zensical adds at its top."""
    body = re.search(r'<article class="md-content__inner md-typeset">(.*?)</article>', html, re.S).group(1)
    body = body.replace('<a id="__skip" tabindex="-1"></a>', "")
    return "\n".join(line for line in body.splitlines() if line.strip())


@pytest.mark.parametrize("page", PAGES)
def test_both_generators_give_the_same_article(sites, page):
    mkdocs, zensical = (article((sites[g] / page).read_text()) for g in GENERATORS)
    assert "{{" not in mkdocs
    assert mkdocs == zensical


@pytest.mark.parametrize("generator", GENERATORS)
def test_every_widget_and_formula_is_rendered(sites, generator):
    for page in PAGES:
        source = (ROOT / "docs" / (page.replace("/index.html", ".md") if "/" in page else "index.md")).read_text()
        html = (sites[generator] / page).read_text()
        expected = []  # a widget shortcode names its kind; a chart's kind is what its spec declares
        for widget, chart in re.findall(r"\{\{\s*(?:widget\s+([\w-]+)|chart\s+([\w/-]+))", source):
            spec = json.loads((ROOT / "docs/generated" / chart / "spec.json").read_text()) if chart else {}
            expected.append(widget or spec.get("usermeta", {}).get("widget", "chart"))
        assert re.findall(r'data-attn-widget="([\w-]+)"', html) == expected, page
        assert "training" in expected or page != "attention/index.html"  # the training chart declares its widget
        assert "arithmatex" not in html, page
    assert (sites[generator] / "attention" / "index.html").read_text().count('<math alttext="') >= 2


@pytest.mark.parametrize("generator", GENERATORS)
def test_site_builds_without_jax(tmp_path, generator):
    # The Pages deploy installs only the site dependencies: the extension must not import JAX or altair.
    env = without_jax(tmp_path, also=("altair", "vl_convert", "attn_jax", "numpy"))
    proc = build_site(generator, tmp_path / "site", env=env)
    assert proc.returncode == 0, proc.stderr


# --- the extension on its own ---------------------------------------------------------------------


CTX = PageContext("attention.md", "attention/", ROOT / "docs")
GENERATED = ROOT / "docs" / "generated"


def test_shortcodes_render_widgets_with_text_alternatives():
    out = expand_shortcodes("{{ widget qkv-steps }}\n\n{{ widget head-grid }}", CTX)
    facts = json.loads((GENERATED / "qkv-steps" / "facts.json").read_text())
    assert 'data-attn-widget="qkv-steps"' in out and 'data-attn-widget="head-grid"' in out
    assert 'data-src="../generated/qkv-steps/"' in out and "<noscript><img " in out
    assert facts["default_readout"].replace("'", "&#x27;") in out
    assert out.count("<tr><th scope=\"row\">") == facts["default"]["tokens"]
    assert "<li>layer 6: largest [CLS] share head" in out
    with pytest.raises(SiteError, match="unknown widget .nope.; known: head-view, decoder-view, qkv-steps, head-grid"):
        expand_shortcodes("{{ widget nope }}", CTX)


def test_fact_formats_and_paths_are_relative_to_the_page():
    weight = json.loads((GENERATED / "head-view" / "facts.json").read_text())["featured"]["weight"]
    assert expand_shortcodes("w = {{ fact head-view.featured.weight :.3f }}", CTX) == f"w = {weight:.3f}"
    home = PageContext("index.md", "", ROOT / "docs")
    assert 'data-src="generated/head-view/"' in expand_shortcodes("{{ widget head-view }}", home)


def test_formula_becomes_mathml_with_its_latex():
    out = render_math('<p><span class="arithmatex">\\(d_k &lt; 2\\)</span></p>', CTX)
    assert out.startswith('<p><math alttext="d_k &lt; 2" ') and "<msub>" in out


# --- loud failures under both generators ------------------------------------------------------------


def project_copy(tmp_path: Path) -> Path:
    """The parts of the project a site build reads, in a temporary folder."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "docs", root / "docs")
    shutil.copytree(ROOT / "overrides", root / "overrides")
    shutil.copy(ROOT / "mkdocs.yml", root)
    (root / "build_scripts").mkdir()
    shutil.copy(ROOT / "build_scripts" / "__init__.py", root / "build_scripts")
    shutil.copytree(ROOT / "build_scripts" / "site", root / "build_scripts" / "site")  # all the site runs
    return root


BROKEN = {
    "{{ fact head-view.nope }}":
        "broken.md: fact 'head-view.nope' not found in generated/head-view/facts.json; "
        "fix the name or rebuild the charts (`make charts`)",
    "{{ widget nope }}": "broken.md: unknown widget 'nope'; known: head-view, decoder-view, qkv-steps, head-grid",
    '{{ chart nope "A caption." }}': "broken.md: needs generated/nope/default.svg, which does not exist; run `make charts`",
    "{{ figure x }}": "broken.md: unknown shortcode {{ figure ... }}; use widget, chart, fact or verdict",
    "Heads:\n{{ fact head-view.featured.head_1based }}. more": "broken.md: {{ fact head-view.featured.head_1based }} "
        "starts a line and is followed by '.', so its number would become a list item; reflow the line",
    "A formula $x^$ here.": "broken.md: cannot render formula 'x^' (MissingSuperScriptOrSubscriptError); fix the LaTeX",
}


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("text", BROKEN, ids=range(len(BROKEN)))
def test_broken_page_stops_the_build_with_one_line(tmp_path, generator, text):
    root = project_copy(tmp_path)
    (root / "docs" / "broken.md").write_text(f"# Broken\n\n{text}\n")
    proc = build_site(generator, tmp_path / "site", root=root)
    assert proc.returncode != 0
    assert BROKEN[text] in proc.stderr
    assert "Traceback" not in proc.stderr
    prefix = {"mkdocs": "ERROR   -  ", "zensical": "error: "}[generator]
    assert prefix + BROKEN[text] in proc.stderr.splitlines()


@pytest.mark.parametrize("generator", GENERATORS)
def test_broken_link_fails_the_strict_build(tmp_path, generator):
    root = project_copy(tmp_path)
    (root / "docs" / "broken.md").write_text("# Broken\n\nSee [the missing page](missing.md).\n")
    proc = build_site(generator, tmp_path / "site", root=root)
    stderr = re.sub(r"\x1b\[[0-9;]*m", "", proc.stderr)  # Zensical colours its diagnostics
    assert proc.returncode != 0 and "missing.md" in stderr and "Traceback" not in stderr


def test_zensical_rebuild_picks_up_changed_generated_data(tmp_path):
    # Zensical caches rendered pages by their Markdown; the watch: list adds the generated data.
    root = project_copy(tmp_path)
    (root / "docs" / "probe.md").write_text("# Probe\n\nweight {{ fact head-view.featured.weight :.4f }}\n")
    build = [sys.executable, "-m", "build_scripts.site.zensical", "--site-dir", "out"]  # same folder twice
    subprocess.run(build, cwd=root, check=True, capture_output=True)
    facts_file = root / "docs" / "generated" / "head-view" / "facts.json"
    facts = json.loads(facts_file.read_text())
    facts["featured"]["weight"] = 0.1234
    facts_file.write_text(json.dumps(facts))
    later = facts_file.stat().st_mtime + 2  # Zensical compares whole seconds
    os.utime(facts_file, (later, later))
    subprocess.run(build, cwd=root, check=True, capture_output=True)
    assert "weight 0.1234" in (root / "out" / "probe" / "index.html").read_text()


# --- the Pages workflow -------------------------------------------------------------------------------


def test_pages_workflow_is_pinned_and_least_privilege():
    text = (ROOT / ".github" / "workflows" / "pages.yml").read_text()
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert uses and all(re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert "permissions: {}" in text  # nothing by default; jobs opt in
    assert text.count("pages: write") == 1 and text.count("id-token: write") == 1
    assert "python -m build_scripts --check" in text
    # either generator, MkDocs by default
    assert re.search(r"generator:\s*\n\s+description: .*\n\s+type: choice\n\s+options: \[mkdocs, zensical\]\n"
                     r"\s+default: mkdocs", text)
    assert "python -m mkdocs build --strict" in text and "python -m build_scripts.site.zensical" in text
