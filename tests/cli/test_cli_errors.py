"""The CLI in-process, on both databases: bad arguments and files exit 2 with a clear message and no
traceback; refused status changes exit 1 listing the allowed ones; directory import and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from conftest import PASSWORD, request_body
from nohaven.cli.main import main as cli_main
from nohaven.directory import service as directory
from nohaven.requests import service as requests
from nohaven.requests.models import CooperationRequest

DATA = Path(__file__).resolve().parent.parent / "_data"


class Cli:
    def __init__(self, node: Any, capsys: Any) -> None:
        self.node = node
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli_main(["--data-dir", str(self.node.settings.data_dir), "--database-url", self.node.db.url, *args])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err and "Traceback" not in out
        assert "internal error" not in err
        return code, out, " ".join(err.split())


@pytest.fixture
def cli(node: Any, capsys: Any) -> Cli:
    return Cli(node, capsys)


def _count(node: Any) -> int:
    with node.work() as session:
        return int(session.execute(select(func.count()).select_from(CooperationRequest)).scalar_one())


def _password_file(tmp_path: Path, text: str = PASSWORD) -> str:
    path = tmp_path / "pw.txt"
    path.write_text(text + "\n")
    return str(path)


# --- requests ------------------------------------------------------------------------------------------------

def test_request_create_from_a_yaml_file(cli: Cli, node: Any, people: Any) -> None:
    code, out, err = cli("request", "create", "--file", str(DATA / "requests" / "preservation_by_phone.yaml"),
                         "--as", "olga", "--json")
    assert code == 0, err
    view = json.loads(out)
    assert view["status"] == "AwaitingPreservation"
    assert view["data_items"][0]["time_from"] == "2026-11-25T03:14:07+01:00"  # kept as written, with its offset
    assert view["data_items"][0]["time_from_utc"].startswith("2026-11-25T02:14:07")


@pytest.mark.parametrize(("name", "expected"), [
    ("missing.yaml", "cannot read"),
    ("not_yaml.yaml", "not valid YAML"),
])
def test_request_create_with_an_unreadable_file_exits_2(cli: Cli, node: Any, people: Any, name: str,
                                                         expected: str) -> None:
    code, _, err = cli("request", "create", "--file", str(DATA / "requests" / name), "--as", "olga")
    assert code == 2
    assert "--file" in err and expected in err
    assert _count(node) == 0


def test_request_create_with_a_list_instead_of_a_mapping_exits_2(cli: Cli, node: Any, people: Any,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    code, _, err = cli("request", "create", "--file", str(path), "--as", "olga")
    assert code == 2
    assert "mapping" in err


def test_request_create_names_every_bad_field_and_stores_nothing(cli: Cli, node: Any, people: Any) -> None:
    code, _, err = cli("request", "create", "--file", str(DATA / "requests" / "bad_fields.yaml"), "--as", "olga")
    assert code == 2
    for field in ("channel", "requesting_authority.phones[0]", "data_items[0].time_from", "offence"):
        assert field in err, field
    assert _count(node) == 0


def test_a_command_acting_as_nobody_exits_2(cli: Cli, node: Any, people: Any) -> None:
    code, _, err = cli("request", "list")
    assert code == 2
    assert "--as" in err


def test_acting_as_an_unknown_user_is_refused(cli: Cli, node: Any, people: Any) -> None:
    code, _, err = cli("request", "list", "--as", "nobody")
    assert code == 1
    assert "nobody" in err


@pytest.mark.parametrize("args", [
    ("request", "show", "abc", "--as", "olga"),
    ("request", "frobnicate"),
    ("request", "list", "--as", "olga", "--colour"),
    ("no-such-command",),
    ("serve", "--port", "99999"),
])
def test_bad_arguments_exit_2_with_a_usage_message(cli: Cli, node: Any, people: Any, args: tuple[str, ...]) -> None:
    code, _, err = cli(*args)
    assert code == 2
    assert "error" in err.lower()


def _created(node: Any, people: Any, **overrides: Any) -> int:
    with node.work() as session:
        return requests.create_request(session, people["olga"], request_body(**overrides)).id


def test_illegal_transition_exits_1_listing_the_allowed_statuses(cli: Cli, node: Any, people: Any) -> None:
    rid = _created(node, people)
    code, _, err = cli("request", "transition", str(rid), "Expired", "--as", "olga")
    assert code == 1
    assert "AwaitingPreservation" in err
    for allowed in ("Preserved", "PreservationNotAvailable", "Rejected", "Cancelled", "Error", "Invalid"):
        assert allowed in err
    code, out, err = cli("request", "show", str(rid), "--as", "olga", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "AwaitingPreservation"


def test_unknown_status_exits_2_naming_to(cli: Cli, node: Any, people: Any) -> None:
    rid = _created(node, people)
    code, _, err = cli("request", "transition", str(rid), "Frozen", "--as", "olga")
    assert code == 2
    assert "to" in err and "Frozen" in err


def test_transition_acknowledge_confirm_with_json(cli: Cli, node: Any, people: Any) -> None:
    rid = _created(node, people)
    code, out, err = cli("request", "acknowledge", str(rid), "--as", "olga", "--json")
    assert code == 0, err
    assert json.loads(out)["clocks"]["acknowledge_by"]["state"] == "satisfied"
    code, out, err = cli("request", "confirm", str(rid), "--note", "fax received", "--as", "olga", "--json")
    assert code == 0, err
    assert json.loads(out)["clocks"]["written_confirmation_due"]["state"] == "satisfied"
    code, out, err = cli("request", "transition", str(rid), "Preserved", "--as", "olga", "--json")
    assert code == 0, err
    assert "preservation_expires_at" in json.loads(out)["clocks"]
    code, _, err = cli("request", "acknowledge", str(rid), "--as", "olga")
    assert code == 1
    assert "acknowledged already" in err


def test_an_outsider_cannot_see_a_request_from_the_cli_either(cli: Cli, node: Any, people: Any) -> None:
    rid = _created(node, people)
    code, _, err = cli("request", "show", str(rid), "--as", "otto")
    assert code == 1
    assert "not found" in err
    code, out, _ = cli("request", "list", "--as", "otto", "--json")
    assert code == 0 and json.loads(out) == []


# --- users ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "password", "named"), [
    (("user", "add", "bob", "--role", "wizard"), PASSWORD, "role"),
    (("user", "add", "Bob Smith", "--role", "officer"), PASSWORD, "username"),
    (("user", "add", "bob", "--role", "officer"), "short", "password"),
])
def test_user_add_with_bad_values_exits_2(cli: Cli, node: Any, tmp_path: Path, args: tuple[str, ...],
                                          password: str, named: str) -> None:
    code, _, err = cli(*args, "--password-file", _password_file(tmp_path, password))
    assert code == 2
    assert named in err


def test_user_add_with_a_missing_password_file_exits_2(cli: Cli, node: Any, tmp_path: Path) -> None:
    code, _, err = cli("user", "add", "bob", "--role", "officer", "--password-file", str(tmp_path / "nope"))
    assert code == 2
    assert "--password-file" in err


def test_user_add_twice_is_refused(cli: Cli, node: Any, tmp_path: Path) -> None:
    pw = _password_file(tmp_path)
    assert cli("user", "add", "bob", "--role", "officer", "--password-file", pw)[0] == 0
    code, _, err = cli("user", "add", "bob", "--role", "officer", "--password-file", pw)
    assert code == 1
    assert "exists" in err


def test_token_for_an_unknown_user_is_refused(cli: Cli, node: Any) -> None:
    code, _, err = cli("token", "create", "nobody", "--json")
    assert code == 1
    assert "nobody" in err


# --- directory -----------------------------------------------------------------------------------------------

def _export(node: Any) -> dict[str, Any]:
    with node.work() as session:
        return directory.export_document(session, actor="test")


def test_directory_import_of_invalid_yaml_exits_2_and_changes_nothing(cli: Cli, node: Any) -> None:
    before = _export(node)
    code, _, err = cli("directory", "import", str(DATA / "directory" / "not_yaml.yaml"))
    assert code == 2
    assert "not_yaml.yaml" in err and "line" in err
    assert _export(node) == before


def test_directory_import_names_every_bad_field_and_changes_nothing(cli: Cli, node: Any) -> None:
    before = _export(node)
    code, _, err = cli("directory", "import", str(DATA / "directory" / "bad_fields.yaml"))
    assert code == 2
    for path in ("states[0].legal_profile.preservation_period", "states[0].legal_profile.acknowledgement.urgent",
                 "states[0].agencies[0].contacts[0].phones[0]",
                 "states[0].agencies[0].contacts[0].office_hours.time_zone", "states[1].code",
                 "states[1].legal_profile.channels[0]"):
        assert path in err, path
    assert _export(node) == before


def test_directory_import_of_a_missing_file_exits_2(cli: Cli, node: Any, tmp_path: Path) -> None:
    code, _, err = cli("directory", "import", str(tmp_path / "absent.yaml"))
    assert code == 2
    assert "absent.yaml" in err


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_directory_export_import_round_trip(cli: Cli, node: Any, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"directory.{fmt}"
    assert cli("directory", "export", "--format", fmt, "--out", str(out))[0] == 0
    first = out.read_text()
    code, _, err = cli("directory", "import", str(out))
    assert code == 0, err
    again = tmp_path / f"again.{fmt}"
    assert cli("directory", "export", "--format", fmt, "--out", str(again))[0] == 0
    assert again.read_text() == first
    document = yaml.safe_load(first)
    assert len(document["states"]) >= 4


def test_directory_round_trip_keeps_the_rota(cli: Cli, node: Any, tmp_path: Path) -> None:
    assert cli("directory", "import", str(DATA / "directory" / "xa_with_rota.yaml"))[0] == 0
    out = tmp_path / "d.yaml"
    assert cli("directory", "export", "--out", str(out))[0] == 0
    xa = next(s for s in yaml.safe_load(out.read_text())["states"] if s["code"] == "XA")
    assert [s["contact"] for s in xa["on_call"]] == ["xa-sup-okafor", "xa-sup-lind"]
    assert cli("directory", "import", str(out))[0] == 0
    again = tmp_path / "again.yaml"
    assert cli("directory", "export", "--out", str(again))[0] == 0
    assert again.read_text() == out.read_text()


def test_directory_export_with_an_unknown_format_exits_2(cli: Cli, node: Any) -> None:
    code, _, err = cli("directory", "export", "--format", "xml")
    assert code == 2
    assert "--format" in err


def test_a_bad_database_url_exits_2_with_a_clear_message(node: Any, capsys: Any) -> None:
    code = cli_main(["--data-dir", str(node.settings.data_dir), "--database-url", "mysql://db/x", "audit", "verify"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "NOHAVEN_DATABASE_URL" in err and "Traceback" not in err
