"""A trace in a real browser: XA's and XB's demo nodes run as `nohaven serve` processes on loopback, driven by
Debian's Chromium through Playwright. XA's officer starts a trace from the victim's log line, sees the hop
resolved to XB with XB's point of contact, drafts the requests (the time three ways), files them in one click,
sees them delivered to XB's node, records the answer's two next hops by hand, and sees the graph fan out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from browsertools import chromium, errors_on_console, log_in_as_olga, reload_until, two_node_network

from nohaven.demo.network import DemoNode
from nohaven.timeutil import utcnow

DAY = (utcnow() - timedelta(days=3)).date()

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture
def network(tmp_path: Path) -> Iterator[list[DemoNode]]:
    """XA's and XB's demo nodes (with the demo's fictional IP data), seeded and serving."""
    yield from two_node_network(tmp_path)


def test_officer_traces_an_intrusion_in_the_browser(network: list[DemoNode], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    xa, xb = network
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        console_errors = errors_on_console(page)
        log_in_as_olga(page, xa.url)

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
        reload_until(page, "both requests receipted by XB's node", lambda: page.locator(
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
