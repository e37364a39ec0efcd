"""The compiled NAT table build (see nohaven.carrier.natbuild)."""

_Column = tuple[object, object, int]  # (validity buffer or None, data buffer, offset)
_Batches = tuple[tuple[int, tuple[_Column, ...]], ...]

def nat_start(batches: _Batches, coverage: tuple[int, _Column, _Column] | None, order: int = 0, parts: int = 0,
              /) -> object: ...
def nat_next(state: object, max_rows: int, stored: bool,
             /) -> tuple[int, int, tuple[tuple[bytes | None, bytes, bytes | None], ...]] | None: ...
def key_set(batches: _Batches, /) -> object: ...
def keys_in(key_set: object, batches: _Batches, /) -> tuple[bytes, ...]: ...
def range_split(cuts: bytes, batches: _Batches, outputs: tuple[tuple[object | None, object] | None, ...],
                /) -> bytes: ...

DAY_MS: int
FLAG_START_UNKNOWN: int
FLAG_END_OPEN: int
