"""The demo network's nodes get the fictional IP data, and the package ships it."""

from __future__ import annotations

import fnmatch
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from conftest import ROOT, free_ports
from nohaven.demo import network
from nohaven.demo.ipdata import SAMPLE_FILES, sample_path
from nohaven.tracing.ipdata import IpDataStore


def test_prepare_loads_both_sample_snapshots_into_every_node(tmp_path: Path) -> None:
    nodes = network.prepare(tmp_path / "demo", first_port=free_ports(3))
    for node in nodes:
        store = IpDataStore(node.settings().ipdata_dir)
        assert store.directory == node.data_dir / "ipdata"
        assert len(store.snapshots()) == len(SAMPLE_FILES)
        now = store.lookup("198.51.100.23", datetime(2026, 11, 27, 2, 14, 7, tzinfo=UTC))
        then = store.lookup("198.51.100.23", datetime(2026, 3, 1, tzinfo=UTC))
        assert now is not None and (now.country, now.asn) == ("XB", 64510)
        assert then is not None and (then.country, then.asn) == ("XA", 64500)
    again = network.prepare(tmp_path / "demo", first_port=nodes[0].port)  # a second start replaces, not adds
    assert len(IpDataStore(again[0].settings().ipdata_dir).snapshots()) == len(SAMPLE_FILES)


def test_sample_is_fictional_documentation_space_and_in_the_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["nohaven"]
    for name, _ in SAMPLE_FILES:
        assert any(fnmatch.fnmatch(f"demo/ipdata/{name}", p) for p in patterns), name
        text = sample_path(name).read_text()
        assert "FICTIONAL" in text.splitlines()[0]
    store_dir = ROOT / "src" / "nohaven" / "demo" / "ipdata"
    shipped = {p.name for p in store_dir.iterdir() if p.is_file() and p.suffix != ".py"}
    assert shipped == {name for name, _ in SAMPLE_FILES}
