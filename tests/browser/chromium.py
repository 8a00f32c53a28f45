"""Find or install the Chromium the browser tests drive; print its path (``make test`` runs this).

In order: ``$CHROMIUM``; Debian's ``/usr/bin/chromium``; when missing and running as root with
apt-get, install Debian's package; else Playwright's own browser (``playwright install chromium``).
If none works, one line on stderr names the fix and the exit status is 1. Progress goes to stderr,
so ``CHROMIUM="$(python tests/browser/chromium.py)"`` captures only the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DEBIAN = "/usr/bin/chromium"
FIX = ("no Chromium for the browser tests: install Debian's (`sudo apt-get install chromium`) "
       "or set CHROMIUM=/path/to/chromium")


def _usable(path: str | None) -> bool:
    return bool(path) and Path(path).is_file() and os.access(path, os.X_OK)


def _say(message: str) -> None:
    print(f"chromium: {message}", file=sys.stderr, flush=True)


def _apt_install() -> bool:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    _say("not found; installing Debian's chromium with apt-get (a few minutes, once)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            _say(f"`{' '.join(cmd)}` failed")
            return False
    return _usable(DEBIAN)


def _playwright_install() -> str | None:
    _say("trying Playwright's own browser (`playwright install chromium`)")
    proc = subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        _say(f"`playwright install chromium` failed: {lines[0] if lines else proc.returncode}")
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        path = p.chromium.executable_path
    return path if _usable(path) else None


def find() -> str:
    """The path of a usable Chromium, installing one if needed; SystemExit(1) with one line if none."""
    given = os.environ.get("CHROMIUM")
    if given:
        if _usable(given):
            return given
        raise SystemExit(f"CHROMIUM={given} is not an executable file; point it at Chromium or unset it")
    if _usable(DEBIAN) or _apt_install():
        return DEBIAN
    path = _playwright_install()
    if path:
        return path
    raise SystemExit(FIX)


if __name__ == "__main__":
    print(find())
