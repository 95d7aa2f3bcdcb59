"""Headless Chromium for tests of HTML output: find it (skip, or fail when CI=true), dump a page's DOM, screenshot it.

    browser = require_chromium()               # skip (or fail when CI=true) without a Chromium binary
    dom = dump_dom(browser, path)              # the DOM after the page loaded, serialised
    png = screenshot(browser, path, out_png)   # bytes of the PNG
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "chromium not installed: apt-get install chromium (Debian) to test the HTML report in a browser"
FLAGS = ("--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def require_chromium() -> str:
    """Path of a Chromium binary; pytest.fail on CI (CI=true), pytest.skip elsewhere."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(INSTALL_HINT + " -- required on CI")
    pytest.skip(INSTALL_HINT)
    raise AssertionError("unreachable")  # pragma: no cover


def _run(browser: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        env = {**os.environ, "HOME": profile}  # no writes to the real home, no shared profile lock
        result = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                                text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return result


def dump_dom(browser: str, page: Path) -> str:
    return _run(browser, "--dump-dom", page.resolve().as_uri()).stdout


def screenshot(browser: str, page: Path, out: Path, size: str = "1280,2000") -> bytes:
    _run(browser, f"--screenshot={out}", f"--window-size={size}", page.resolve().as_uri())
    return out.read_bytes()
