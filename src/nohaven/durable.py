"""Writes that survive a power loss: a file's bytes reach the disk before a name that points at them does.

A commit point is a rename (the carrier store's manifests, day indexes, BUILD.json and tables/; the custody
log's checkpoints; a sealed bundle). It is preceded by an fsync of what it commits (the file, and the folders
that list what it names) and followed by an fsync of the folder holding the renamed name, so after a crash a
commit point either names complete files or is not there. A folder is made durable in its parent when it is
created (`mkdir`). Standard library only: the node-free packages (carrier, evidence) use it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["mkdir", "replace", "sync_dir", "sync_file", "write_bytes", "write_file"]


def sync_file(path: Path | str) -> None:
    """Flush a written file's bytes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(path: Path | str) -> None:
    """Flush a folder's entries (names created, renamed into it) to the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mkdir(path: Path) -> None:
    """Create a folder and any missing parents, each made durable in its parent (a commit inside a new folder
    must not outlive the folder's own name)."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        sync_dir(folder.parent)


def write_bytes(path: Path, data: bytes) -> None:
    """Write a new file (a name not yet committed to) and flush it; the caller renames it or syncs its folder."""
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def replace(tmp: Path, path: Path) -> None:
    """Commit a written and flushed file under its name: rename, then flush the folder that now lists it."""
    os.replace(tmp, path)
    sync_dir(path.parent)


def write_file(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably, through a hidden temporary name beside it that is
    this writer's own (two processes writing the same file do not share one)."""
    mkdir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex}.tmp")
    try:
        write_bytes(tmp, data)
        replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
