"""An answer written as TS 103 120 through the real command: the LD task marked Disclosed and a delivery of the
disclosed data, valid against the ETSI XSDs (checked with nohaven.interop), carrying exactly the JSON answer."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nohaven.carrier.ingest import ingest
from nohaven.carrier.store import Store
from nohaven.interop import load_schema_set, parse_xml

DATA = Path(__file__).resolve().parent / "_data"
XSD = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "etsi-ts-103120" / "schema" / "xsd"
CLI = [sys.executable, "-m", "nohaven.cli.main", "carrier"]
CORE = "{http://uri.etsi.org/03120/common/2019/10/Core}"
DELIVERY = "{http://uri.etsi.org/03120/common/2019/10/Delivery}"
TASK = "{http://uri.etsi.org/03120/common/2020/09/Task}"
QUERY = ["--ip", "203.0.113.9", "--port", "40001", "--at", "2026-11-27T03:14:30+01:00"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ts103120") / "store"
    ingest(Store(root), [str(DATA / "a10.log"), str(DATA / "juniper-rtflow.log")])
    return root


def carrier(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], capture_output=True, timeout=300)


def test_lookup_as_ldtask_delivery_validates_and_carries_the_answer(store: Path, tmp_path: Path) -> None:
    task_id = "2b36a78b-b628-416d-bd22-404e68a0cd36"
    target = tmp_path / "answer.xml"
    r = carrier("lookup", "--store", str(store), *QUERY, "--format", "ts103120-xml", "--ldid", "FR-pj-2026-41",
                "--sender", "DE:isp-1", "--receiver", "FR:pj", "--task-id", task_id, "--out", str(target))
    # 203.0.113.9:40001 was held by two private addresses in this window (a10 and Junos samples): exit 3
    assert r.returncode == 3, r.stderr
    data = target.read_bytes()
    resource = parse_xml(data)
    assert load_schema_set(XSD).validate(resource) == []
    root = resource.root
    update, deliver = root.iter(f"{CORE}ActionRequest")
    task = update.find(f"{CORE}UPDATE/{CORE}HI1Object")
    assert task is not None and task.findtext(f"{CORE}ObjectIdentifier") == task_id
    assert task.findtext(f"{TASK}Reference") == "FR-pj-2026-41"
    assert [e.text for e in task.find(f"{TASK}Status") or []] == ["ETSI", "LDTaskStatus", "Disclosed"]
    obj = deliver.find(f"{CORE}DELIVER/{CORE}HI1Object")
    assert obj is not None
    assert obj.findtext(f"{CORE}AssociatedObjects/{CORE}AssociatedObject") == task_id
    assert obj.findtext(f"{DELIVERY}Reference/{DELIVERY}LDID") == "FR-pj-2026-41"
    binary = obj.find(f"{DELIVERY}Delivery/{DELIVERY}BinaryData")
    assert binary is not None
    payload = base64.b64decode(binary.findtext(f"{DELIVERY}Data") or "")
    assert binary.findtext(f"{DELIVERY}Checksum") == hashlib.sha256(payload).hexdigest()
    answer = json.loads(payload)
    plain = carrier("lookup", "--store", str(store), *QUERY, "--json")
    assert answer == json.loads(plain.stdout)
    assert answer["ambiguous"] is True and len(answer["candidates"]) == 2
    assert {c["source"]["sha256"] for c in answer["candidates"]} == {
        hashlib.sha256((DATA / n).read_bytes()).hexdigest() for n in ("a10.log", "juniper-rtflow.log")}


@pytest.mark.parametrize(("option", "value", "reason"), [
    ("--ldid", "not-an-ldid!", "--ldid must be an LDID"),
    ("--sender", "isp-1", "sender must be COUNTRY:IDENTIFIER"),
])
def test_bad_delivery_options_are_refused_before_any_lookup(store: Path, option: str, value: str, reason: str) -> None:
    args = {"--ldid": "FR-pj-2026-41", "--sender": "DE:isp-1", "--receiver": "FR:pj", option: value}
    r = carrier("lookup", "--store", str(store), *QUERY, "--format", "ts103120-xml",
                *[x for pair in args.items() for x in pair])
    assert r.returncode == 2
    assert reason in r.stderr.decode() and b"Traceback" not in r.stderr


def test_preserve_freezes_the_ldtask_delivery_beside_the_json_answer(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.zip"
    r = carrier("preserve", "--store", str(store), "--ip", "203.0.113.9", "--port", "40001", "--from",
                "2026-11-27T03:14:00+01:00", "--to", "2026-11-27T03:16:00+01:00", "--out", str(out),
                "--ldid", "FR-pj-2026-41", "--sender", "DE:isp-1", "--receiver", "FR:pj", "--json")
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout)
    assert done["case"] == "FR-pj-2026-41"  # the LD task names the case when no --case is given
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        listed = {item["name"]: item for item in manifest["items"]}
        message = zf.read(listed["answer.ts103120.xml"]["path"])
        answer = zf.read(listed["answer.json"]["path"])
    assert listed["answer.ts103120.xml"]["sha256"] == hashlib.sha256(message).hexdigest()
    assert {i["acquisition"]["authority"] for i in manifest["items"]} == {"LD task FR-pj-2026-41"}
    resource = parse_xml(message)
    assert load_schema_set(XSD).validate(resource) == []
    data = resource.root.find(f".//{DELIVERY}BinaryData/{DELIVERY}Data")
    assert data is not None and base64.b64decode(data.text or "") == answer  # the frozen answer, byte for byte
