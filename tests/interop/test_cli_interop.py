"""`nohaven request export` and `nohaven request import` in-process, on both databases: what a user sees, what
is created and audited, and clear refusals (exit 2) without a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from interoptools import DATA, EXAMPLES, SCHEMA_DIR, bodies, create
from sqlalchemy import func, select

from conftest import make_user
from nohaven.audit.models import AuditEntry
from nohaven.cli.main import main as cli_main
from nohaven.interop import load_schema_set, parse_xml
from nohaven.node import Node
from nohaven.requests.models import CooperationRequest

DEFAULTS = str(DATA / "etsi_example_defaults.yaml")
STATES = ["--set", "requesting_state=XB", "--set", "requested_state=XA"]


class Cli:
    def __init__(self, node: Node, capsys: Any) -> None:
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
def cli(node: Node, capsys: Any) -> Cli:
    make_user(node, "olga", "officer")
    make_user(node, "otto", "officer")
    return Cli(node, capsys)


def _count(node: Node) -> int:
    with node.work() as session:
        return int(session.execute(select(func.count()).select_from(CooperationRequest)).scalar_one())


def _audit(node: Node, action: str) -> list[AuditEntry]:
    with node.work() as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def _olga(node: Node) -> Any:
    from nohaven.auth import service as users
    from nohaven.auth.service import subject_of

    with node.work() as session:
        return subject_of(users.get_user(session, "olga"))


def test_export_xml_to_standard_output_is_valid_and_audited(cli: Cli, node: Node) -> None:
    view = create(node, _olga(node), bodies()["preservation"])
    code, out, err = cli("request", "export", str(view["id"]), "--format", "ts103120-xml", "--schema-dir",
                         str(SCHEMA_DIR), "--as", "olga")
    assert code == 0, err
    assert load_schema_set(SCHEMA_DIR).validate(parse_xml(out.encode())) == []
    transaction = parse_xml(out.encode()).root.findtext(
        "{http://uri.etsi.org/03120/common/2019/10/Core}Header/{http://uri.etsi.org/03120/common/2019/10/Core}"
        "TransactionIdentifier")
    [entry] = _audit(node, "request.export")
    assert (entry.actor, entry.object_id) == ("olga", str(view["id"]))
    assert entry.detail == {"format": "ts103120-xml", "transaction": transaction, "out": "stdout"}


def test_export_json_to_a_file(cli: Cli, node: Node, tmp_path: Path) -> None:
    view = create(node, _olga(node), bodies()["emergency"])
    target = tmp_path / "request.json"
    code, out, err = cli("request", "export", str(view["id"]), "--format", "ts103120-json", "--out", str(target),
                         "--sender", "XB:xb-bfp", "--receiver", "XA", "--node-id", "xa-ncu", "--schema-dir",
                         str(SCHEMA_DIR), "--as", "olga", "--json")
    assert code == 0, err
    summary = json.loads(out)
    document = json.loads(target.read_text())
    assert summary["transaction"] == document["Header"]["TransactionIdentifier"]
    assert document["Header"]["SenderIdentifier"] == {"CountryCode": "XB", "UniqueIdentifier": "xb-bfp"}
    assert document["Header"]["ReceiverIdentifier"] == {"CountryCode": "XA", "UniqueIdentifier": "xa-ncu"}
    assert _audit(node, "request.export")[0].detail["out"] == str(target)


def test_export_refusals(cli: Cli, node: Node, tmp_path: Path) -> None:
    view = create(node, _olga(node), bodies()["mla"])
    rid = str(view["id"])
    code, _, err = cli("request", "export", rid, "--format", "pdf", "--as", "olga")
    assert code == 2 and "--format" in err and "ts103120-xml" in err
    code, _, err = cli("request", "export", rid, "--format", "ts103120-xml", "--sender", "xb", "--as", "olga")
    assert code == 2 and "--sender" in err
    code, _, err = cli("request", "export", rid, "--format", "ts103120-xml", "--schema-dir", str(tmp_path),
                       "--as", "olga")
    assert code == 2 and "ts103120-xml" not in err and "ts_103120_Core.xsd" in err and str(tmp_path) in err
    target = tmp_path / "out.xml"
    code, _, err = cli("request", "export", rid, "--format", "ts103120-xml", "--out", str(target),
                       "--schema-dir", str(SCHEMA_DIR), "--as", "otto")  # otto is in no case: not found
    assert code == 1 and "not found" in err and not target.exists()
    assert _audit(node, "request.export") == []


def test_import_of_an_export_creates_the_incoming_request(cli: Cli, node: Node, tmp_path: Path) -> None:
    original = create(node, _olga(node), bodies()["traffic_disclosure"])
    source = tmp_path / "message.xml"
    code, _, err = cli("request", "export", str(original["id"]), "--format", "ts103120-xml", "--out", str(source),
                       "--schema-dir", str(SCHEMA_DIR), "--as", "olga")
    assert code == 0, err
    code, out, err = cli("request", "import", str(source), "--schema-dir", str(SCHEMA_DIR), "--as", "olga",
                         "--json")
    assert code == 0, err
    imported = json.loads(out)
    assert imported["unmapped"] == [] and imported["assumed"] == []
    created = imported["request"]
    assert created["id"] != original["id"]
    assert created["direction"] == "incoming" and created["status"] == "AwaitingApproval"
    assert {k: created[k] for k in ("type", "their_reference", "data_items", "template")} == {
        k: original[k] for k in ("type", "their_reference", "data_items", "template")}
    [entry] = _audit(node, "request.import")
    assert entry.detail["transaction"] == imported["source"]["transaction_id"]
    assert entry.detail["unmapped"] == 0


def test_import_an_etsi_example_with_defaults_and_settings(cli: Cli, node: Node) -> None:
    code, out, err = cli("request", "import", str(EXAMPLES / "request8_LPTaskObject.xml"), "--defaults", DEFAULTS,
                         *STATES, "--set", "their_reference=XB-ETSI-8", "--schema-dir", str(SCHEMA_DIR),
                         "--as", "olga")
    assert code == 0, err
    assert "AwaitingPreservation" in out
    assert "task:DesiredPreservationExpiration" in out and "2023-06-30T12:00:00Z" in out
    assert "assumed: data_items[0].data_category" in out
    with node.work() as session:
        req = session.execute(select(CooperationRequest)).scalar_one()
        assert (req.type, req.direction, req.requesting_state, req.their_reference) == (
            "preservation", "incoming", "XB", "XB-ETSI-8")
        assert [(d.identifier_type, d.value) for d in req.data_items] == [("phone", "+442079460223")]
        assert req.template["offence"] == "Fraud by telephone"


def test_import_names_what_is_missing_and_creates_nothing(cli: Cli, node: Node) -> None:
    example = str(EXAMPLES / "request4-Preservation-Link.xml")
    code, _, err = cli("request", "import", example, "--defaults", DEFAULTS, *STATES, "--schema-dir",
                       str(SCHEMA_DIR), "--as", "olga")
    assert code == 2
    assert "type: an LDTaskObject without a request Type" in err and "--set FIELD=VALUE" in err
    assert "task:NatureOfReference" in err  # what was not mapped is shown before the refusal
    assert _count(node) == 0
    code, out, err = cli("request", "import", example, "--defaults", DEFAULTS, *STATES, "--set",
                         "type=traffic_disclosure", "--schema-dir", str(SCHEMA_DIR), "--as", "olga", "--json")
    assert code == 0, err
    created = json.loads(out)["request"]
    assert created["type"] == "traffic_disclosure" and created["template"]["previous_reference"] == (
        "ExternalReferenceValue")


def test_dry_run_reports_without_creating(cli: Cli, node: Node) -> None:
    example = str(EXAMPLES / "request8_LPTaskObject.xml")
    code, out, _ = cli("request", "import", example, "--dry-run", "--schema-dir", str(SCHEMA_DIR), "--json")
    report = json.loads(out)
    assert code == 2
    assert report["request"]["type"] == "preservation"
    assert [m["field"] for m in report["missing"]][:3] == ["channel", "priority", "requested_authority"]
    assert report["unmapped"][0]["element"] == "task:DesiredPreservationExpiration"
    code, out, _ = cli("request", "import", example, "--dry-run", "--defaults", DEFAULTS, *STATES,
                       "--schema-dir", str(SCHEMA_DIR), "--json")
    assert code == 0 and json.loads(out)["missing"] == []
    assert _count(node) == 0


@pytest.mark.parametrize(("args", "expected"), [
    (["--set", "colour=red"], "'colour' is not a request field"),
    (["--set", "channel"], "is not FIELD=VALUE"),
    (["--format", "pdf"], "--format"),
])
def test_import_refuses_bad_options(cli: Cli, node: Node, args: list[str], expected: str) -> None:
    code, _, err = cli("request", "import", str(EXAMPLES / "request4.xml"), *args, "--schema-dir", str(SCHEMA_DIR),
                       "--as", "olga")
    assert code == 2 and expected in err
    assert _count(node) == 0


@pytest.mark.parametrize(("name", "expected"), [
    ("xxe_file_entity.xml", "DOCTYPE"),
    ("not_well_formed.xml", "line 5, column 5"),
    ("absent.xml", "cannot read"),
])
def test_import_refuses_bad_files(cli: Cli, node: Node, name: str, expected: str) -> None:
    code, _, err = cli("request", "import", str(DATA / name), "--schema-dir", str(SCHEMA_DIR), "--as", "olga")
    assert code == 2 and expected in err
    assert "root:" not in err
    assert _count(node) == 0
