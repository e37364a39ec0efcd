"""Durability: every file a commit point names is flushed to the disk before that commit point is written, and
the commit point (a renamed name) is flushed after it, so that a power loss leaves either complete files under
a commit or no commit (nohaven.carrier.durable). The flushes are observed by recording the inode each fsync
reaches, in order: an inode survives the rename from a temporary name to the final one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nohaven.carrier import store as store_module
from nohaven.carrier.ingest import ingest
from nohaven.carrier.store import INDEX, Store

DATA = Path(__file__).resolve().parent / "_data"


def _ingest_recording(store: Store, files: list[str], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    synced: list[int] = []
    real = os.fsync

    def record(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    ingest(store, files)
    monkeypatch.setattr(os, "fsync", real)
    return synced


def _first(synced: list[int], path: Path) -> int:
    inode = path.stat().st_ino
    assert inode in synced, f"{path.relative_to(path.parents[3])} was never flushed to the disk"
    return synced.index(inode)


def _synced_between(synced: list[int], path: Path, after: int, before: int) -> bool:
    inode = path.stat().st_ino
    return inode in synced[after + 1:before]


def _last(synced: list[int], path: Path) -> int:
    inode = path.stat().st_ino
    assert inode in synced, f"{path} was never flushed to the disk"
    return len(synced) - 1 - synced[::-1].index(inode)


@pytest.mark.parametrize("incremental", [False, True], ids=["full-build", "incremental-build"])
def test_every_stored_file_reaches_the_disk_before_the_commit_that_names_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, incremental: bool) -> None:
    monkeypatch.setattr(store_module, "FILE_ROWS", 4)  # several files a day
    store = Store(tmp_path / "s")
    logs = [str(DATA / name) for name in ("a10.log", "juniper-pba.log", "freeradius-detail.log")]
    if incremental:
        ingest(store, logs[:1])
        synced = _ingest_recording(store, logs[1:], monkeypatch)
        new = [s for s, m in store.sources().items() if m["name"] != logs[0]]
    else:
        synced = _ingest_recording(store, logs, monkeypatch)
        new = list(store.sources())
    assert len(new) == len(logs) - incremental

    for sha in new:  # a source's files, then its folders' entries, then its manifest, then the manifest's folder
        manifest = _first(synced, store.marker(sha))
        for path in (store.raw_path(sha), store.events_path(sha), store.rejects_path(sha)):
            flushed = _first(synced, path)
            assert flushed < manifest and _synced_between(synced, path.parent, flushed, manifest), path
        assert manifest < _last(synced, store.marker(sha).parent)

    build = _first(synced, store.tables_dir / "BUILD.json")
    tables = 0
    for index in sorted(store.tables_dir.glob(f"*/day=*/{INDEX}")):
        if incremental and index.parent.parent.name == "nat":
            continue  # the first ingest's days, which the new sources do not touch, were not written again
        parts = sorted(index.parent.glob("part-*.parquet"))
        assert len(parts) >= 1
        flushed = _first(synced, index)
        for part in parts:  # each file, then the folder listing it, before the index that lists it
            assert _first(synced, part) < flushed
        assert _synced_between(synced, index.parent, max(_first(synced, p) for p in parts), flushed)
        assert flushed < _last(synced, index.parent)  # the index's own name
        # a day's folder made durable in its table's folder before anything inside it
        assert index.parent.parent.stat().st_ino in synced[:min(_first(synced, p) for p in parts)]
        assert flushed < build
        tables += 1
    assert tables >= 2  # blocks and identity, and for the full build the NAT days too
    created = [store.tables_dir / name for name in ("blocks", "identity")] + (
        [] if incremental else [store.tables_dir / "nat"])  # the table folders this ingest created
    for folder in created:  # each one's name in tables/ flushed before anything inside it
        assert store.tables_dir.stat().st_ino in synced[:_first(synced, folder)], folder
    if not incremental:  # a new store: its folders' names in it flushed before the first manifest
        assert store.root.stat().st_ino in synced[:min(_first(synced, store.marker(sha)) for sha in new)]
    assert build < _last(synced, store.tables_dir)  # BUILD.json's name
    if not incremental:  # tables.new/ renamed to tables/: the store's folder flushed after that
        assert _last(synced, store.root) > _last(synced, store.tables_dir)
