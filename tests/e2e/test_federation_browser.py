"""End to end across two nodes in a real browser: XA's and XB's nodes run as `nohaven serve` processes on loopback
(the demo network's layout: own database and key each, one signed network directory), driven by Debian's Chromium
through Playwright.

In one tab XA's officer files a preservation request to XB through the form; in another tab XB's officer finds it
on the desk, acknowledges it, marks it Preserved and attaches the carrier's confirmation; the first tab then shows
the status, the acknowledgement and the file, whose bytes are those XB's officer uploaded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browsertools import chromium, log_in_as_olga, reload_until, two_node_network

from nohaven.demo.network import DemoNode

CONFIRMATION = b'{"carrier": "Examplenet ISP (fictional)", "identifier": "198.51.100.23:51515", "preserved": true}\n'

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture
def network(tmp_path: Path) -> Iterator[list[DemoNode]]:
    """XA's and XB's demo nodes, seeded with the demo users and serving."""
    yield from two_node_network(tmp_path)


def _fill_preservation_form(page: Any, xb: DemoNode) -> None:
    """An urgent outgoing preservation request to XB by the platform, every T-CY field a preservation needs."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    page.select_option("[name=type]", "preservation")
    page.select_option("[name=direction]", "outgoing")
    page.select_option("[name=channel]", "platform")
    page.select_option("[name=priority]", "urgent")
    page.select_option("[name=requesting_state]", "XA")
    page.select_option("[name=requested_state]", "XB")
    page.fill("[name=case_title]", "Ransomware at a hospital (browser test)")
    page.fill("[name=requested_authority]", xb.agency)
    page.fill("[name='requesting_authority.organisation']", "Aldorian National Cybercrime Unit (fictional)")
    page.fill("[name='requesting_authority.officer']", "Olga Varga")
    page.fill("[name='requesting_authority.phones']", "+15555550100")
    page.fill("[name='requesting_authority.email']", "olga@node.xa.example")
    page.fill("[name='requesting_authority.office_hours']", "24/7")
    page.select_option("[name='requesting_authority.time_zone']", "Europe/Paris")
    page.select_option("[name='requesting_authority.preferred_channel']", "platform")
    page.fill("[name=investigating_authority]", "Aldorian National Cybercrime Unit (fictional)")
    page.fill("[name=offence]", "Ransomware attack on a hospital")
    page.fill("[name=summary_of_facts]", "The hospital's servers were encrypted; the intruder came in from an "
                                         "address of a carrier in XB.")
    page.select_option("[name='data_items[0].identifier_type']", "ip_port")
    page.fill("[name='data_items[0].value']", "198.51.100.23:51515")
    page.select_option("[name='data_items[0].data_category']", "traffic")
    page.fill("[name='data_items[0].time_from']", f"{start:%Y-%m-%dT%H:%M:%S}")
    page.fill("[name='data_items[0].time_to']", f"{start + timedelta(minutes=1):%Y-%m-%dT%H:%M:%S}")
    page.select_option("[name='data_items[0].zone']", "UTC")
    page.fill("[name=link_to_offence]", "The intrusion came from this address and port.")
    page.fill("[name=custodian]", "Examplenet ISP (fictional)")
    page.fill("[name=preservation_reason]", "Traffic data is deleted after the carrier's retention period.")
    page.check("[name=mla_to_follow]")


def _create_row(page: Any) -> Any:
    return page.locator("#exchange table.messages tbody tr").filter(has_text="CREATE")


def test_officers_of_two_states_exchange_a_preservation_request(network: list[DemoNode], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    xa, xb = network
    errors: list[str] = []

    def watch(page: Any, tab: str) -> Any:
        """Collect what the browser reports as wrong: console errors, uncaught exceptions, failed responses."""
        def on_console(message: Any) -> None:
            if message.type == "error":
                errors.append(f"{tab}: {message.text} ({message.location.get('url')})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(f"{tab}: {exc}"))
        page.on("response", lambda r: errors.append(f"{tab}: {r.status} {r.url}") if r.status >= 400 else None)
        return page

    with chromium() as browser:
        # Each officer in a browser context of their own: both nodes are on 127.0.0.1, and cookies do not
        # tell ports apart, so tabs sharing one cookie jar would share (and overwrite) one session cookie.
        tab_a = watch(browser.new_context(viewport={"width": 1280, "height": 900},
                                          accept_downloads=True).new_page(), "XA")
        tab_b = watch(browser.new_context(viewport={"width": 1280, "height": 900}).new_page(), "XB")

        # XA's officer files the request.
        log_in_as_olga(tab_a, xa.url)
        tab_a.click("text=New request")
        expect(tab_a.locator("h1")).to_have_text("New cooperation request")
        _fill_preservation_form(tab_a, xb)
        expect(tab_a.locator("#validation-summary")).to_contain_text("Nothing missing so far")
        tab_a.click("text=Log the request")
        expect(tab_a.locator("h1")).to_contain_text("XA-")
        expect(tab_a.locator("h1 .subtitle")).to_have_text("outgoing preservation request")
        reference = tab_a.locator("h1").inner_text().split()[0]
        expect(tab_a.locator("#exchange h2")).to_contain_text("Exchange with XB's node")
        expect(_create_row(tab_a)).to_have_count(1)
        # Outgoing over the federation: XB's node sets the status and XB's officer attaches the data.
        expect(tab_a.locator("form[action$='/acknowledge']")).to_have_count(0)
        expect(tab_a.locator("#attachments form")).to_have_count(0)

        reload_until(tab_a, "the CREATE message received by XB's node", lambda: _create_row(tab_a).locator(
            ".badge.delivery").inner_text() in ("received", "acknowledged"))
        receipt = _create_row(tab_a).inner_text()
        found = re.search(r"as (XB-\d{4}-\d+)", receipt)
        assert found, f"the receipt names no reference at XB: {receipt!r}"
        their_reference = found.group(1)

        # XB's officer finds it on the desk, acknowledges, preserves and attaches the confirmation.
        log_in_as_olga(tab_b, xb.url)
        row = tab_b.locator("#dashboard-rows tr").filter(has_text=their_reference)
        expect(row).to_contain_text("XA")
        expect(row).to_contain_text("AwaitingPreservation")
        row.get_by_role("link", name=their_reference).click()
        expect(tab_b.locator("h1")).to_contain_text(their_reference)
        expect(tab_b.locator("h1 .subtitle")).to_have_text("incoming preservation request")
        expect(tab_b.locator("#exchange")).to_contain_text("Received over the federation from XA/xa-ncu")
        expect(tab_b.locator("dt:text-is('Their reference') + dd")).to_have_text(reference)
        expect(tab_b.locator("main")).to_contain_text("198.51.100.23:51515")
        tab_b.get_by_role("button", name="Acknowledge").click()
        expect(tab_b.get_by_role("button", name="Acknowledge")).to_have_count(0)
        expect(tab_b.locator("dt:text-is('Acknowledged') + dd time")).to_have_count(1)
        tab_b.select_option("#to", "Preserved")
        tab_b.fill("#tr-note", "Examplenet ISP confirmed the preservation")
        tab_b.get_by_role("button", name="Change status").click()
        expect(tab_b.locator(".badge.status")).to_have_text("Preserved")
        expect(tab_b.locator(".timeline")).to_contain_text("Examplenet ISP confirmed the preservation")
        tab_b.set_input_files("#file", files=[{"name": "preservation-confirmation.json",
                                                "mimeType": "application/json", "buffer": CONFIRMATION}])
        tab_b.get_by_role("button", name="Attach", exact=True).click()
        expect(tab_b.locator("#attachments tbody")).to_contain_text("preservation-confirmation.json")

        # XA's officer sees the answer.
        reload_until(tab_a, "Preserved with the confirmation attached", lambda: (
            tab_a.locator(".badge.status").inner_text() == "Preserved"
            and "preservation-confirmation.json" in tab_a.locator("#attachments tbody").inner_text()))
        expect(_create_row(tab_a).locator(".badge.delivery")).to_have_text("acknowledged")
        expect(tab_a.locator("dt:text-is('Acknowledged') + dd time")).to_have_count(1)
        expect(tab_a.locator("dt:text-is('Preserved') + dd time")).to_have_count(1)
        digest = hashlib.sha256(CONFIRMATION).hexdigest()
        attachment = tab_a.locator("#attachments tbody tr").filter(has_text="preservation-confirmation.json")
        expect(attachment).to_contain_text(f"{len(CONFIRMATION)} bytes")
        expect(attachment.locator("code.digest")).to_have_text(digest)
        expect(attachment).to_contain_text("received from")
        with tab_a.expect_download() as download:
            attachment.get_by_role("link", name="preservation-confirmation.json").click()
        assert download.value.suggested_filename == "preservation-confirmation.json"
        assert Path(download.value.path()).read_bytes() == CONFIRMATION
        tab_a.screenshot(path=str(tmp_path / "xa-detail.png"), full_page=True)
        tab_b.screenshot(path=str(tmp_path / "xb-detail.png"), full_page=True)
    assert not errors, "\n".join(errors)
