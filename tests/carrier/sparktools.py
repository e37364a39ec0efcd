"""What the Spark tests need before they start: PySpark and Java; missing under CI=true is a failure, not a skip."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_spark(what: str) -> None:
    """Fail (in CI) or skip (elsewhere) when PySpark or Java is missing; `what` names the test for the message."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("pyspark not installed (pip install -e '.[test]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if IN_CI:
            pytest.fail(f"Java is needed for {what} and is missing")
        pytest.skip("no Java for Spark")
