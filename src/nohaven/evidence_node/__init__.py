"""Evidence in a node: items in the node's blob store, the custody log in its database, sealing, checkpoints and
proofs, and receiving (verifying and cosigning) another State's bundle; every step through the policy, audited.

The offline core (`nohaven.evidence`) does the hashing, Merkle proofs, bundles and verification; this package only
gives it the node's storage (`ledger.DatabaseCustodyLog`, `storage.NodeBlobs`) and the node's rules.
"""

from __future__ import annotations
