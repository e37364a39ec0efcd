"""End to end in a real browser: a node started with the CLI, driven by Debian's Chromium through Playwright.

An officer logs in with password and TOTP, logs a preservation request received by phone through the form,
sees its written-confirmation clock on the detail page and finds it on the dashboard.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
from browsertools import chromium, errors_on_console, log_in, need_chromium

NOHAVEN = Path(sys.executable).with_name("nohaven")
PASSWORD = "correct horse battery"

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(data_dir: Path, *args: str) -> None:
    done = subprocess.run([str(NOHAVEN), "--data-dir", str(data_dir), *args], capture_output=True, text=True,
                          timeout=120, env=_env(), check=False)
    assert done.returncode == 0, f"nohaven {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}
    env["NOHAVEN_COOKIE_SECURE"] = "false"
    return env


def _enrol(data_dir: Path, username: str) -> pyotp.TOTP:
    """Activate a TOTP secret for the user directly in the node's database, as if they had enrolled."""
    from conftest import enrol
    from nohaven.config import Settings
    from nohaven.node import Node

    node = Node(Settings(data_dir=data_dir))
    try:
        return enrol(node, username)
    finally:
        node.close()


@dataclass(frozen=True)
class RunningNode:
    url: str
    totp: pyotp.TOTP
    log: Path


@pytest.fixture
def running_node(tmp_path: Path) -> Iterator[RunningNode]:
    """A node for State XA on SQLite, served by `nohaven serve` in a child process."""
    need_chromium()
    data_dir = tmp_path / "node"
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    _cli(data_dir, "init", "--state", "XA", "--agency", "Aldorian National Cybercrime Unit",
         "--admin-user", "ada", "--admin-password-file", str(password_file))
    _cli(data_dir, "user", "add", "olga", "--role", "officer", "--password-file", str(password_file))
    generator = _enrol(data_dir, "olga")
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([str(NOHAVEN), "--data-dir", str(data_dir), "serve", "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, env=_env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the node did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield RunningNode(url, generator, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_officer_logs_a_phoned_in_preservation_request(running_node: RunningNode, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url = running_node.url
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)  # as a +01:00 wall time
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console_errors = errors_on_console(page)

        log_in(page, url, "olga", PASSWORD, running_node.totp)

        page.click("text=New request")
        expect(page.locator("h1")).to_have_text("New cooperation request")
        page.select_option("[name=type]", "preservation")
        page.select_option("[name=channel]", "voice")
        page.select_option("[name=priority]", "urgent")
        page.select_option("[name=requesting_state]", "XB")
        page.fill("[name=their_reference]", "XB-247-0042")
        page.fill("[name=requested_authority]", "Aldorian National Cybercrime Unit")
        page.fill("[name='requesting_authority.organisation']", "Borvanian Federal Police")
        page.fill("[name='requesting_authority.officer']", "Insp. K. Adler")
        page.fill("[name='requesting_authority.phones']", "+15555550200")
        page.fill("[name='requesting_authority.email']", "adler@police.xb.example")
        page.select_option("[name='requesting_authority.time_zone']", "Europe/Berlin")
        page.fill("[name=investigating_authority]", "Borvanian Federal Police")
        page.fill("[name=offence]", "Ransomware attack on a hospital")
        page.fill("[name=summary_of_facts]", "Hospital systems encrypted; the ransom note names a mailbox.")
        page.select_option("[name='data_items[0].identifier_type']", "ip_port")
        page.fill("[name='data_items[0].value']", "198.51.100.23:51515")
        page.fill("[name='data_items[0].time_from']", f"{start:%Y-%m-%dT%H:%M}")
        page.fill("[name='data_items[0].time_to']", f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M}")
        # the inline check says the zone is missing before anything is submitted
        expect(page.locator("#err-data_items-0-zone")).to_contain_text("never assumes")
        page.select_option("[name='data_items[0].zone']", "+01:00")
        expect(page.locator("#validation-summary")).to_contain_text(
            f"{start - timedelta(hours=1):%Y-%m-%d %H:%M} UTC")
        page.fill("[name=link_to_offence]", "The attacker connected from this address.")
        page.fill("[name=custodian]", "Examplenet ISP")
        page.fill("[name=preservation_reason]", "Traffic data is deleted after 180 days.")
        page.check("[name=mla_to_follow]")
        expect(page.locator("#validation-summary")).to_contain_text("Nothing missing so far")
        page.emulate_media(color_scheme="dark")  # the night shift's view
        page.screenshot(path=str(tmp_path / "form-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")
        page.click("text=Log the request")

        expect(page.locator("h1")).to_contain_text("XA-")
        expect(page.locator("table.clocks")).to_contain_text("written confirmation due")
        reference = page.locator("h1").inner_text().split()[0]
        page.screenshot(path=str(tmp_path / "detail.png"), full_page=True)

        page.click("header nav >> text=Open requests")
        expect(page.locator("#dashboard-rows")).to_contain_text(reference)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
