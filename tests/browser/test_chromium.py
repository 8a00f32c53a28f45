"""How `make test` finds its browser: $CHROMIUM, then Debian's, then apt-get, then Playwright's
own, else one line naming the fix. The installers are replaced by stand-ins that record the order."""

import sys

import pytest

from . import chromium


@pytest.fixture()
def calls(monkeypatch, tmp_path):
    """No $CHROMIUM, no Debian chromium; apt-get and Playwright fail, recording that they were tried."""
    tried = []
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setattr(chromium, "DEBIAN", str(tmp_path / "no-chromium"))
    monkeypatch.setattr(chromium, "_apt_install", lambda: tried.append("apt-get") or False)
    monkeypatch.setattr(chromium, "_playwright_install", lambda: tried.append("playwright") or None)
    return tried


def test_chromium_from_the_environment_wins(calls, monkeypatch):
    monkeypatch.setenv("CHROMIUM", sys.executable)  # any executable file
    assert chromium.find() == sys.executable and calls == []


def test_a_wrong_chromium_path_is_named(calls, monkeypatch):
    monkeypatch.setenv("CHROMIUM", "/no/such/chromium")
    with pytest.raises(SystemExit, match=r"^CHROMIUM=/no/such/chromium is not an executable file"):
        chromium.find()


def test_debian_package_is_installed_before_playwright(calls, monkeypatch, tmp_path):
    installed = tmp_path / "chromium"

    def apt():
        calls.append("apt-get")
        installed.write_text("#!/bin/sh\n")
        installed.chmod(0o755)
        return True

    monkeypatch.setattr(chromium, "DEBIAN", str(installed))
    monkeypatch.setattr(chromium, "_apt_install", apt)
    assert chromium.find() == str(installed) and calls == ["apt-get"]


def test_nothing_works_stops_with_the_fix(calls):
    with pytest.raises(SystemExit) as e:
        chromium.find()
    assert calls == ["apt-get", "playwright"]
    assert str(e.value) == chromium.FIX and "\n" not in chromium.FIX and "apt-get install chromium" in chromium.FIX
