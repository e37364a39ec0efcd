"""A trace in a real browser: XA's and XB's demo nodes run as `nohaven serve` processes on loopback, driven by
Debian's Chromium through Playwright. XA's officer starts a trace from the victim's log line, sees the hop
resolved to XB with XB's point of contact, drafts the requests (the time three ways), files them in one click,
sees them delivered to XB's node, records the answer's two next hops by hand, and sees the graph fan out."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from conftest import free_ports
from nohaven.demo.network import DEMO_NODES, DemoNode, prepare, start_nodes, stop_nodes, wait_until_up
from nohaven.demo.seed import DEMO_USERS, seed
from nohaven.node import Node
from nohaven.timeutil import utcnow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FAST = {"NOHAVEN_FEDERATION_POLL_SECONDS": "0.2", "NOHAVEN_FEDERATION_RETRY_BASE_SECONDS": "0.1",
        "NOHAVEN_FEDERATION_RETRY_MAX_SECONDS": "1"}
OLGA = next(u for u in DEMO_USERS if u.username == "olga")
DAY = (utcnow() - timedelta(days=3)).date()

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is required in CI for the browser tests")
    pytest.skip(f"{CHROMIUM} is not installed")


@pytest.fixture
def network(tmp_path: Path) -> Iterator[list[DemoNode]]:
    """XA's and XB's demo nodes (with the demo's fictional IP data), seeded and serving."""
    _need_chromium()
    specs = prepare(tmp_path / "network", first_port=free_ports(2), nodes=DEMO_NODES[:2])
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


def _log_in(page: Any, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/")
    page.fill("#username", OLGA.username)
    page.fill("#password", OLGA.password)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{url}/login/totp")
    page.fill("#code", pyotp.TOTP(OLGA.totp_secret).now())
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{url}/")


def _reload_until(page: Any, what: str, done: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f} s of reloading {page.url}, still not: {what}")
        page.wait_for_timeout(250)
        page.reload()


def test_officer_traces_an_intrusion_in_the_browser(network: list[DemoNode], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    xa, xb = network
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            _log_in(page, xa.url)

            page.click("header nav >> text=Traces")
            expect(page.locator("h1")).to_have_text("Traces")
            page.click("text=Start a trace")
            page.fill("#title", "Intrusion at the Aldor hospital (browser test)")
            page.fill("#offence", "Illegal access (Budapest Art. 2)")
            page.fill("#ip", "198.51.100.23")
            page.fill("#port", "51515")
            page.fill("#protocol", "tcp")
            page.fill("#time_text", f"{DAY} 03:14:07")  # no offset and no zone: refused, naming the field
            page.click("text=Open the trace")
            expect(page.locator("#err-time_text")).to_contain_text("offset")
            expect(page.locator("#ip")).to_have_value("198.51.100.23")  # what was typed is kept
            page.fill("#time_text", f"{DAY} 03:14:07 CET")
            page.fill("#seen_where", "victim web server access log")
            page.click("text=Open the trace")

            expect(page.locator("h1")).to_contain_text("XA-TR-")
            hop = page.locator("#hop-H1")
            expect(hop).to_contain_text("Borvania VPN Services (fictional)")
            expect(hop).to_contain_text(xb.agency)  # XB's point of contact
            expect(hop).to_contain_text("P90D")
            expect(page.locator("#graph svg .hop-box")).to_have_count(1)
            expect(page.locator("#timeline")).to_contain_text(f"{DAY} 02:14:07 UTC")
            expect(page.locator("#timeline")).to_contain_text("Europe/Berlin")

            hop.locator("text=Draft requests").click()
            expect(page.locator("h1")).to_contain_text("Requests for H1")
            expect(page.locator(".time-three")).to_contain_text(f"{DAY}T02:14:07+00:00")
            expect(page.locator(".time-three")).to_contain_text(f"{DAY}T03:14:07+01:00")
            page.click("text=File these requests")

            hop = page.locator("#hop-H1")
            expect(hop.locator("table.hop-requests tbody tr")).to_have_count(2)
            expect(hop).to_contain_text("AwaitingPreservation")
            _reload_until(page, "both requests receipted by XB's node", lambda: page.locator(
                "#hop-H1 .badge.delivery", has_text="received").count()
                + page.locator("#hop-H1 .badge.delivery", has_text="acknowledged").count() == 2)
            expect(page.locator("#graph")).to_contain_text("requested")

            hop = page.locator("#hop-H1")
            hop.locator("textarea[name=next_hops]").fill(f"203.0.113.77:4431@{DAY}T02:14:07Z\n"
                                                         f"[2001:db8:c::7]:443@{DAY}T02:14:09Z")
            hop.locator("input[name=note]").fill("XB's answer by phone: VPN exit, two sessions")
            hop.locator("text=Record answer").click()
            expect(page.locator("#graph svg .hop-box")).to_have_count(3)
            expect(page.locator("#graph svg path.edge")).to_have_count(2)
            expect(page.locator("#hop-H2")).to_contain_text("Celestia Mobile CGNAT (fictional)")
            expect(page.locator("#graph")).to_contain_text("XC · Celestia Mobile CGNAT")
            page.locator("#graph").screenshot(path=str(tmp_path / "trace-graph.png"))
            page.screenshot(path=str(tmp_path / "trace.png"), full_page=True)
            assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
        finally:
            browser.close()
