"""`nohaven trace email`, run as the installed command a user types; no node is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EMAIL = Path(__file__).resolve().parent.parent / "_data" / "tracing" / "email"
NOHAVEN = Path(sys.executable).with_name("nohaven")


def nohaven(*args: str, expect: int = 0, tmp_path: Path, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}
    env.update(COLUMNS="240", NOHAVEN_DATA_DIR=str(tmp_path / "no-node-here"))
    done = subprocess.run([str(NOHAVEN), "trace", "email", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False, input=stdin)
    assert done.returncode == expect, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def test_the_table_shows_each_hop_its_times_delays_and_flags(tmp_path: Path) -> None:
    done = nohaven(str(EMAIL / "forged-lower-hops.eml"), "--trusted", "mx.b.example", tmp_path=tmp_path)
    out = done.stdout
    for text in ("from-host", "HELO", "from-IP", "by-host", "protocol", "time as written", "UTC", "delay",
                 "203.0.113.77", "2026-12-01 08:20:41Z", "-39 min 24 s", "could be forged", "trusted"):
        assert text in out, text
    assert "Hops 1 and 2 were written before it and could be forged" in out
    assert not (tmp_path / "no-node-here").exists()  # read-only: no node, no database, nothing stored


def test_without_trusted_servers_the_output_says_nothing_is_verified(tmp_path: Path) -> None:
    out = nohaven(str(EMAIL / "unknown-zones.eml"), tmp_path=tmp_path).stdout
    assert "No server is marked trusted" in out
    assert "offset unknown" in out
    assert "Offset unknown for hop 1, 2, 3, 5" in out
    assert "2026-11-30 18:14:07Z .." in out and "2026-12-01 20:14:07Z" in out  # hop 2's window, UTC+14..UTC-12
    assert "never assumed UTC" in out


def test_json_for_machines(tmp_path: Path) -> None:
    data = json.loads(nohaven(str(EMAIL / "clean-4-hop.eml"), "--trusted", "mx.b.example", "--trusted",
                              "store.b.example", "--json", tmp_path=tmp_path).stdout)
    assert data["trusted"] == ["mx.b.example", "store.b.example"]
    assert [h["trust"] for h in data["hops"]] == ["could-be-forged", "could-be-forged", "trusted", "trusted"]
    assert [h["delay_seconds"] for h in data["hops"]] == [None, 1.0, 2.0, 1.0]
    assert data["hops"][0]["observation"]["ip"] == "203.0.113.77"
    assert data["hops"][0]["observation"]["time_text"] == "Tue, 1 Dec 2026 09:14:07 +0100"


@pytest.mark.parametrize(("name", "message"), [
    ("not-a-message.eml", "not-a-message.eml: line 1 is not a header field"),
    ("no-received.eml", "no Received header"),
    ("missing.eml", "cannot read"),
])
def test_a_file_without_a_chain_exits_2_naming_the_reason(name: str, message: str, tmp_path: Path) -> None:
    done = nohaven(str(EMAIL / name), expect=2, tmp_path=tmp_path)
    assert message in " ".join(done.stderr.split())
    assert done.stdout == ""


def test_an_empty_trusted_name_exits_2(tmp_path: Path) -> None:
    done = nohaven(str(EMAIL / "gmail.eml"), "--trusted", " ", expect=2, tmp_path=tmp_path)
    assert "--trusted" in done.stderr


def test_garbage_headers_are_shown_not_crashed_on(tmp_path: Path) -> None:
    out = nohaven(str(EMAIL / "garbage.eml"), tmp_path=tmp_path).stdout
    for word in ("truncated", "unbalanced", "999.1.2.3", "192.0.2.201", "UTF-8"):
        assert word in out, word


def test_the_message_can_come_on_standard_input(tmp_path: Path) -> None:
    message = (EMAIL / "gmail.eml").read_text(encoding="utf-8")
    data = json.loads(nohaven("-", "--json", tmp_path=tmp_path, stdin=message).stdout)
    assert [h["from_ip"] for h in data["hops"]] == ["192.0.2.10", None]
