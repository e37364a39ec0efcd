"""`nohaven federation ...` in-process: keygen, directory-sign, -verify (exit 1 naming what failed), -install."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from fedtools import Network, make_network

from nohaven.cli.main import main as cli_main
from nohaven.node import Node


class Cli:
    def __init__(self, capsys: Any, *prefix: str) -> None:
        self.capsys = capsys
        self.prefix = list(prefix)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli_main([*self.prefix, *args])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err and "internal error" not in err
        return code, out, " ".join(err.split())


@pytest.fixture
def cli(capsys: Any, tmp_path: Path) -> Cli:
    return Cli(capsys, "--data-dir", str(tmp_path / "data"))


@pytest.fixture
def keys(cli: Cli, tmp_path: Path) -> dict[str, Any]:
    out = {}
    for name in ("authority", "other"):
        code, text, _ = cli("federation", "keygen", "--out", str(tmp_path / "keys"), "--name", name, "--json")
        assert code == 0
        out[name] = json.loads(text)
    return out


def write_directory(path: Path, net: Network, serial: int = 1) -> Path:
    path.write_text(json.dumps(net.directory(serial).model_dump(mode="json"), indent=2))
    return path


def test_keygen_writes_a_0600_private_key_and_reports_its_id(cli: Cli, keys: dict[str, Any], tmp_path: Path) -> None:
    authority = keys["authority"]
    assert len(authority["key_id"]) == 16 and authority["algorithm"] == "Ed25519"
    assert stat.S_IMODE(Path(authority["private_key_file"]).stat().st_mode) == 0o600
    code, _, err = cli("federation", "keygen", "--out", str(tmp_path / "keys"), "--name", "authority")
    assert code == 1 and "refusing to overwrite" in err
    code, _, err = cli("federation", "keygen", "--out", str(tmp_path / "keys"), "--name", "../escape")
    assert code == 2 and "--name" in err


def test_sign_then_verify(cli: Cli, keys: dict[str, Any], tmp_path: Path) -> None:
    source = write_directory(tmp_path / "directory.json", make_network(), serial=4)
    signed = tmp_path / "signed.json"
    code, out, _ = cli("federation", "directory-sign", str(source), "--key", keys["authority"]["private_key_file"],
                       "--out", str(signed), "--json")
    assert code == 0 and json.loads(out)["serial"] == 4
    code, out, _ = cli("federation", "directory-verify", str(signed), "--authority-key",
                       keys["authority"]["public_key_file"], "--json")
    summary = json.loads(out)
    assert code == 0 and summary["ok"] is True and summary["serial"] == 4
    assert summary["authority_key_id"] == keys["authority"]["key_id"]
    assert [n["node_id"] for n in summary["nodes"]] == ["xa-ncu", "xb-bfp"]
    code, out, _ = cli("federation", "directory-verify", str(signed), "--authority-key",
                       keys["authority"]["public_key_file"])
    assert code == 0 and "ok: serial 4" in out


def test_verify_exits_1_naming_what_failed(cli: Cli, keys: dict[str, Any], tmp_path: Path) -> None:
    source = write_directory(tmp_path / "directory.json", make_network())
    signed = tmp_path / "signed.json"
    cli("federation", "directory-sign", str(source), "--key", keys["authority"]["private_key_file"], "--out",
        str(signed))
    pub = keys["authority"]["public_key_file"]
    tampered = tmp_path / "tampered.json"
    tampered.write_text(signed.read_text().replace("xb-bfp", "xb-evil"))
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"directory": {}}')
    for path, key, expected in [(tampered, pub, "error: signature:"),
                                (signed, keys["other"]["public_key_file"], "error: unknown_authority_key:"),
                                (malformed, pub, "error: malformed:")]:
        code, _, err = cli("federation", "directory-verify", str(path), "--authority-key", key)
        assert code == 1, err
        assert err.startswith(expected), err


def test_sign_refuses_bad_input_with_exit_2(cli: Cli, keys: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "directory.yaml"
    bad.write_text("format: nohaven-network-directory/1\nserial: 0\nissued_at: 2026-11-28T10:00:00\nnodes: []\n")
    code, _, err = cli("federation", "directory-sign", str(bad), "--key", keys["authority"]["private_key_file"],
                       "--out", str(tmp_path / "x.json"))
    assert code == 2 and "serial" in err and "issued_at" in err
    assert not (tmp_path / "x.json").exists()
    code, _, err = cli("federation", "directory-sign", str(bad), "--key", keys["authority"]["public_key_file"],
                       "--out", str(tmp_path / "x.json"))
    assert code == 2


def test_install_and_show_on_the_node(node: Node, capsys: Any, tmp_path: Path) -> None:
    cli = Cli(capsys, "--data-dir", str(node.settings.data_dir), "--database-url", node.db.url)
    net = make_network()
    pub = tmp_path / "authority.pub"
    pub.write_bytes(net.authority.public.pem())
    for serial in (2, 3):
        (tmp_path / f"s{serial}.json").write_bytes(net.signed(serial=serial))
    assert cli("federation", "directory-install", str(tmp_path / "s3.json"), "--authority-key", str(pub))[0] == 0
    code, _, err = cli("federation", "directory-install", str(tmp_path / "s2.json"), "--authority-key", str(pub))
    assert code == 1 and "rollback" in err and "serial 2 is older" in err
    code, out, _ = cli("federation", "directory-show", "--authority-key", str(pub), "--json")
    assert code == 0 and json.loads(out)["serial"] == 3
