"""A headless Chromium (Debian's `chromium`) driven by Playwright, for the console's tests.

Playwright's own browser download is never used: the browser is the system's,
by its executable path. As root, Chromium refuses to start with its sandbox on
(it needs an unprivileged user for its setuid/namespace sandbox), so the tests
pass `--no-sandbox` then, and only then: it is the test's browser, loading only
the test server's pages. Screenshots go to `test-artifacts/console/` in the
checkout (or `$LAMBDAD_TEST_ARTIFACTS`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM_NAMES = ("chromium", "chromium-browser")
ARTIFACTS = Path(
    os.environ.get("LAMBDAD_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)
# Bounds every wait of a console test: a busy two-core machine cold-starts slowly.
WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)  # Playwright's own default is 5 s


def chromium_path() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("Debian's chromium is missing: scripts/setup.sh --test installs it")


@contextmanager
def headless_chromium(host_rules: str = "") -> Iterator[Browser]:
    """One browser for a test session; closed (its processes ended) afterwards.
    `host_rules` maps test host names to loopback (Chromium's --host-resolver-rules)."""
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    if host_rules:
        args.append(f"--host-resolver-rules={host_rules}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=args, timeout=WAIT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Saves what the page shows now as `<artifacts>/console/<name>.png`."""
    folder = ARTIFACTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
