"""The site builds strictly (no broken links or missing pages) and asks no other host for anything."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "site" / "index.html").read_text()
    # no fonts, scripts or styles from any other host
    assert not re.search(r'(src|href)="https?://(?!127\.0\.0\.1)[^"]+\.(js|css|woff2?)', html)
    assert "fonts.googleapis" not in html


def test_site_builds_without_jax(tmp_path):
    # The Pages deploy installs only the site dependencies: the hooks must not import JAX or altair.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nclass Block:\n    def find_spec(self, name, *a):\n"
        "        if name.split('.')[0] in ('jax', 'jaxlib', 'altair', 'vl_convert', 'attn_jax'):\n"
        "            raise ImportError(f'{name} must not be needed to build the site')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "", "PYTHONPATH": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr


def test_pages_workflow_is_pinned_and_least_privilege():
    text = (ROOT / ".github" / "workflows" / "pages.yml").read_text()
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert uses and all(re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert "permissions: {}" in text  # nothing by default; jobs opt in
    assert text.count("pages: write") == 1 and text.count("id-token: write") == 1
    assert "build_scripts.build --check" in text
