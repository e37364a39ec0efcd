"""`python -m nohaven.evidence verify BUNDLE --trust KEY...`: the verifier without the node's command line.

This entry point needs only the standard library, `cryptography` and `rfc8785`, so a court can install
nohaven with `--no-deps` next to those two and verify a bundle.
"""

from __future__ import annotations

import sys

from nohaven.evidence.verifier_cli import main

if __name__ == "__main__":
    sys.exit(main())
