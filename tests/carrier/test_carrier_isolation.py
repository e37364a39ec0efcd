"""The carrier toolkit runs at an ISP without a node: importing it (and its CLI group) loads nothing of the node."""

from __future__ import annotations

import subprocess
import sys

NODE_PACKAGES = ("nohaven.db", "nohaven.api", "nohaven.web", "nohaven.node", "nohaven.requests", "nohaven.auth",
                 "nohaven.audit", "nohaven.federation", "sqlalchemy", "fastapi")


def test_carrier_imports_nothing_of_the_node() -> None:
    code = (
        "import sys, nohaven.carrier, nohaven.carrier.ingest, nohaven.carrier.lookup, nohaven.carrier.preserve\n"
        f"bad = sorted(m for m in sys.modules if m.startswith({NODE_PACKAGES!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
