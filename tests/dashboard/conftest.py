"""Browser fixtures: one chromium per module (Debian's, driven by Playwright),
a fresh context per test, a screenshot of every page of a failed test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("KUMO_TEST_SCREENSHOTS", "/tmp/kumo-dashboard-screenshots"))


def browser_available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return shutil.which(CHROMIUM) is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A new browser profile (cookie jar); its pages are photographed on failure."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        if request.node.stash.get(FAILED, False):
            SHOTS.mkdir(parents=True, exist_ok=True)
            for i, page in enumerate(ctx.pages):
                path = SHOTS / f"{request.node.name}-{i}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"screenshot: {path}")
        ctx.close()
