"""What the browser tests and the multi-node tests share: Debian's Chromium as Playwright drives it, an officer's
log-in with password and TOTP, waiting for the other State by reloading, and the demo network's nodes (XA, XB,
XC: own database and key each, one signed network directory) prepared, migrated, seeded and serving on loopback.

Imported by basename: tests in tests/e2e find it on their own folder's path; tests elsewhere put this folder on
sys.path first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyotp
import pytest

from conftest import free_ports
from nohaven.demo.network import DEMO_NODES, DemoNode, prepare, start_nodes, stop_nodes, wait_until_up
from nohaven.demo.seed import DEMO_USERS, seed
from nohaven.node import Node

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Deliveries are polled every 200 ms instead of every 2 s, so each hop takes well under a second.
FAST = {"NOHAVEN_FEDERATION_POLL_SECONDS": "0.2", "NOHAVEN_FEDERATION_RETRY_BASE_SECONDS": "0.1",
        "NOHAVEN_FEDERATION_RETRY_MAX_SECONDS": "1"}
OLGA = next(u for u in DEMO_USERS if u.username == "olga")


def need_chromium() -> None:
    """Skip the test when Chromium is not installed; fail it instead in CI, where it must be."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is required in CI for the browser tests")
    pytest.skip(f"{CHROMIUM} is not installed")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright; closed on leaving."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def errors_on_console(page: Any) -> list[str]:
    """The errors the page's console reports from now on: the list fills as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


@contextmanager
def serving_demo_network(root: Path, count: int) -> Iterator[list[DemoNode]]:
    """The first `count` demo nodes under `root`, migrated, seeded with the demo users and serving on free
    loopback ports (deliveries polled fast); stopped on leaving, their serve.log then printed (pytest shows it
    only when the test failed)."""
    specs = prepare(root, first_port=free_ports(count), nodes=DEMO_NODES[:count])
    for spec in specs:
        node = Node(spec.settings())
        try:
            node.migrate()
            seed(node, spec.state)
        finally:
            node.close()
    processes = start_nodes(specs, extra_env=FAST)
    try:
        wait_until_up(specs, processes, timeout=60)
        yield specs
    finally:
        stop_nodes(processes)
        for spec in specs:
            print(f"--- serve.log of {spec.state}\n{(spec.data_dir / 'serve.log').read_text(errors='replace')}")


def two_node_network(tmp_path: Path) -> Iterator[list[DemoNode]]:
    """XA's and XB's demo nodes serving for a browser test (skipped without Chromium): a fixture's `yield from`."""
    need_chromium()
    with serving_demo_network(tmp_path / "network", 2) as specs:
        yield specs


def log_in(page: Any, url: str, username: str, password: str, totp: pyotp.TOTP) -> None:
    """Log in at the node's front page with password then TOTP code, and land on the open requests."""
    from playwright.sync_api import expect

    page.goto(f"{url}/")
    expect(page).to_have_url(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{url}/login/totp")
    page.fill("#code", totp.now())
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{url}/")
    expect(page.locator("h1")).to_have_text("Open requests")


def log_in_as_olga(page: Any, url: str) -> None:
    """Log in as the demo's officer Olga (on any demo node: each has her, with the same TOTP secret)."""
    log_in(page, url, OLGA.username, OLGA.password, pyotp.TOTP(OLGA.totp_secret))


def reload_until(page: Any, what: str, done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Reload the page until `done()` holds: what an officer waiting for the other State does."""
    deadline = time.monotonic() + timeout
    while True:
        page.reload()
        if done():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f} s of reloading {page.url}, still not: {what}")
        page.wait_for_timeout(250)
