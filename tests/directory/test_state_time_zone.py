"""A State's time zone: validated on import, kept on export, and used for the node's local times."""

from __future__ import annotations

import copy

import pytest

from conftest import SAMPLE
from nohaven.directory import service as directory
from nohaven.errors import DirectoryFileError
from nohaven.node import Node
from nohaven.web.views import node_zone


def test_sample_states_carry_their_zone_through_export(node: Node) -> None:
    with node.work() as session:
        exported = directory.export_document(session, actor="test")
    zones = {s["code"]: s.get("time_zone") for s in exported["states"]}
    assert zones == {"XA": "Europe/Paris", "XB": "Europe/Berlin", "XC": "Pacific/Auckland", "XD": "America/Chicago"}


def test_unknown_zone_is_refused_by_its_path_and_nothing_changes(node: Node) -> None:
    raw = directory.load_document(SAMPLE).model_dump(mode="json")
    bad = copy.deepcopy(raw)
    bad["states"][1]["time_zone"] = "Europe/Atlantis"
    import yaml

    with pytest.raises(DirectoryFileError) as caught:
        directory.parse_document(yaml.safe_dump(bad), "bad.yaml")
    assert [e["field"] for e in caught.value.errors] == ["states[1].time_zone"]
    with node.work() as session:
        assert directory.get_state(session, "XB").time_zone == "Europe/Berlin"


def test_node_local_zone_follows_its_state(node: Node) -> None:
    with node.work() as session:
        assert node_zone(session).name == "Europe/Paris"
        directory.get_state(session, "XA").time_zone = "Asia/Tokyo"
    with node.work() as session:
        assert node_zone(session).name == "Asia/Tokyo"
