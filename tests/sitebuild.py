"""Build the site with either generator into a given folder, the way `make site` and
`make site-zensical` do (used by tests/test_site.py and the browser tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATORS = ("mkdocs", "zensical")


def build_site(generator: str, out: Path, root: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """Build the project at ``root`` into ``out`` (which must not exist yet); returns the process.

    Zensical only writes inside the project, so it builds into a temporary folder there first.
    """
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **(env or {})}
    if generator == "mkdocs":
        cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
        return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    assert generator == "zensical", generator
    inside = Path(tempfile.mkdtemp(prefix=".site-zensical-", dir=root))
    try:
        cmd = [sys.executable, "-m", "build_scripts.site_zensical", "--site-dir", str(inside)]
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode == 0:
            shutil.move(str(inside), str(out))
        return proc
    finally:
        shutil.rmtree(inside, ignore_errors=True)
