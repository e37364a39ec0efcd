"""The compiled NAT table build (see nohaven.carrier.natbuild)."""

_Column = tuple[object, object, int]  # (validity buffer or None, data buffer, offset)

def nat_rows(batches: tuple[tuple[int, tuple[_Column, ...]], ...], coverage: tuple[int, _Column, _Column] | None,
             order: int = 0, /) -> tuple[int, tuple[tuple[bytes | None, bytes, bytes | None], ...]]: ...

DAY_MS: int
FLAG_START_UNKNOWN: int
FLAG_END_OPEN: int
