"""The installed `nohaven` command run as a user would, on one data directory: the helper of the CLI tests.

Imported by basename: tests in tests/cli find it on their own folder's path; tests elsewhere put this folder on
sys.path first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

NOHAVEN = Path(sys.executable).with_name("nohaven")


class Run:
    """Runs `nohaven --data-dir DATA_DIR ...` with no NOHAVEN_* variables of the test process, `columns` wide."""

    def __init__(self, data_dir: Path, *, columns: int = 200) -> None:
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}
        self.env["COLUMNS"] = str(columns)

    def __call__(self, *args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
        """Run the command; it must exit with `expect` and print no traceback."""
        done = subprocess.run([str(NOHAVEN), "--data-dir", str(self.data_dir), *map(str, args)],
                              capture_output=True, text=True, env=self.env, timeout=120, check=False)
        assert done.returncode == expect, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done

    def json(self, *args: str | Path) -> Any:
        """Run the command with --json (it must succeed) and return what it printed, parsed."""
        return json.loads(self(*args, "--json").stdout)
