"""``parcels.row_hash``: one digest per parcel row over everything the register holds about it.

A re-import skips rows whose digest equals the current version's, so the digest must cover the
parcel's attributes, its unmapped source fields (``extra``), its geometry and its buildings and
support land, and must come out the same whenever the same source is read again.

Two versions exist:

* **v2** (16 hex characters, 64 bits): column by column with numpy, ~5× faster than v1. A false
  "unchanged" needs the old and the new version of the same parcel to collide: 2⁻⁶⁴. Each column
  becomes 64-bit values (SipHash of canonical text or bytes, or the bits of a canonical number),
  each value is mixed with a key derived from its column's name (so swapping two columns' values
  changes the digest) and the row's terms are summed; null contributes nothing, so NaN, None and
  NaT are one value. Buildings and support land add up per parcel code (order-independent, and
  block by block while they are read), keyed by their layer's name.
* **v1** (32 hex characters): pandas' row hashes of canonical text, kept bit for bit so that a
  register imported before v2 still reads as unchanged when the same file comes again
  (:func:`is_legacy` tells which version a stored digest is).
"""

from __future__ import annotations

import binascii
import struct
from functools import cache

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from gis.attributes import BUILDING_ATTRS, PARCEL_ATTRS, SUPPORT_ATTRS, Attr
from gis.sources import SourceData

__all__ = [
    "EWKB",
    "HASHED_PARCEL_COLS",
    "ChildDigests",
    "ewkb_layers",
    "finish",
    "is_legacy",
    "legacy_row_hashes",
    "own_hashes",
    "row_hashes",
]

HASHED_PARCEL_COLS = [a.name for a in PARCEL_ATTRS if a.name not in ("retired_on",)]


class EWKB:
    """The geometries of one layer as 2D little-endian WKB bytes, turned into hex EWKB block by block.

    Hex EWKB with the SRID is what PostGIS reads from COPY and what the row hash covers; as one
    array it would hold 600,000 strings of ~200 characters (~160 MB) for the whole import, so only
    the compact WKB is kept and each block of hex is made when it is hashed or sent, then dropped.
    Splicing the SRID into plain WKB is ~4× faster than shapely's hex EWKB of SRID-tagged copies and
    gives the same text (checked by tests/test_import.py).
    """

    def __init__(self, wkb: np.ndarray, srid: int):
        self.wkb = wkb
        self.srid = srid
        self.srid_hex = struct.pack("<I", srid).hex().upper()

    @classmethod
    def of(cls, geoms: np.ndarray, srid: int) -> EWKB:
        return cls(shapely.to_wkb(geoms, byte_order=1, output_dimension=2), srid)

    def __len__(self) -> int:
        return len(self.wkb)

    def __getitem__(self, mask) -> EWKB:
        return EWKB(self.wkb[mask], self.srid)

    def arrow(self, where: slice | np.ndarray = slice(None)) -> pa.StringArray:
        """Hex EWKB of the rows ``where`` (lower case) as an Arrow string array, for COPY.

        Built in numpy over one buffer (the SRID spliced in by ``np.insert``, one ``hexlify``) instead
        of a Python string per row: 400,000 buildings ~0.05 s instead of ~0.4 s, which the import's
        writer thread would spend holding the GIL while the reader needs it.
        """
        wkb = self.wkb[where]
        n = len(wkb)
        if n == 0:
            return pa.array([], type=pa.string())
        lengths = np.fromiter(map(len, wkb), dtype=np.int64, count=n)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        srid = np.frombuffer(bytes.fromhex(self.srid_hex), dtype=np.uint8)
        raw = np.frombuffer(b"".join(wkb), dtype=np.uint8)
        out = np.insert(raw, np.repeat(starts + 5, 4), np.tile(srid, n))  # after byte order and type
        out[starts + 4 * np.arange(n) + 4] |= 0x20  # the type's high byte takes the SRID flag
        offsets = np.concatenate(([0], np.cumsum((lengths + 4) * 2))).astype(np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(binascii.hexlify(out.tobytes())))

    def hex(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Upper-case hex EWKB of rows ``start:stop`` as Python strings (what v1 digests hash)."""
        return pc.ascii_upper(self.arrow(slice(start, stop))).to_numpy(zero_copy_only=False).astype(object)


def ewkb_layers(src: SourceData, srid: int) -> dict[str, EWKB]:
    """The geometries of a source read with ``compact=True`` (a ``wkb`` column per spatial layer)."""
    return {name: EWKB(getattr(src, name)["wkb"].to_numpy(), srid) for name in ("parcels", "buildings", "support_land")}


# --- v2 ------------------------------------------------------------------------------------------

_KEY = "landgis-rowhash2"  # SipHash key (16 bytes); changing it changes every v2 digest
_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_JSON_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_EXTRA = Attr("extra", "其他字段", "json", "")
_OWN_ATTRS: tuple[Attr, ...] = (*(a for a in PARCEL_ATTRS if a.name in HASHED_PARCEL_COLS), _EXTRA)
_CHILD_ATTRS: dict[str, tuple[Attr, ...]] = {
    # the parcel code is where a feature's hash is summed, so it needs no term of its own
    "buildings": tuple(a for a in BUILDING_ATTRS if a.name != "parcel_code"),
    "support_land": tuple(a for a in SUPPORT_ATTRS if a.name != "parcel_code"),
}


def _mix(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place: a bijection, so distinct inputs stay distinct."""
    x ^= x >> np.uint64(33)
    x *= _M1
    x ^= x >> np.uint64(33)
    x *= _M2
    x ^= x >> np.uint64(33)
    return x


def _siphash(values: np.ndarray) -> np.ndarray:
    return pd.util.hash_array(values, hash_key=_KEY, categorize=False)


@cache
def _name_key(name: str) -> np.uint64:
    """A column's (or a kind of row's) key: its terms differ from another column's with the same value."""
    return _siphash(np.array([name], dtype=object))[0]


def _repetitive(a: np.ndarray) -> bool:
    """Whether a column repeats enough that hashing its distinct values once pays for factorising it."""
    sample = a[:: max(1, len(a) // 1000)]
    return len(pd.unique(sample)) * 4 <= len(sample)


@cache
def _null_hashes() -> np.ndarray:
    """What SipHash gives the nulls pandas hashes as their text ("None", "nan", ...): the only rows to test."""
    return np.array([_siphash(np.array([v], dtype=object))[0] for v in (None, np.nan, pd.NaT, pd.NA)])


def _text(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None] | None:
    """SipHash of str or bytes values (both paths give the same values); ``None`` if all are null."""
    if _repetitive(a):
        codes, uniques = pd.factorize(a)
        if len(uniques) == 0:
            return None
        null = codes < 0
        return _siphash(np.asarray(uniques, dtype=object))[codes], (null if null.any() else None)
    h = _siphash(a)
    maybe = np.flatnonzero(np.isin(h, _null_hashes()))
    if len(maybe) == 0:
        return h, None
    null = np.zeros(len(a), dtype=bool)
    null[maybe] = pd.isna(a[maybe])
    if null.all():
        return None
    return h, (null if null.any() else None)


def _number(s: pd.Series) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The float64 bits of each value: 1 and 1.0 are one value, -0.0 is 0.0."""
    x = s.to_numpy(dtype="float64", na_value=np.nan) if s.dtype != object else pd.to_numeric(s, errors="coerce")
    x = np.asarray(x, dtype="float64") + 0.0
    null = np.isnan(x)
    if null.all():
        return None
    return x.view("uint64"), (null if null.any() else None)


def _date(s: pd.Series) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Days since 1970: a date read as a date or as midnight of a datetime is one value."""
    if not pd.api.types.is_datetime64_dtype(s.dtype):
        s = pd.to_datetime(s, errors="coerce")
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
    d = np.asarray(s.to_numpy()).astype("datetime64[D]")
    null = np.isnat(d)
    if null.all():
        return None
    return d.view("int64").astype("uint64"), (null if null.any() else None)


def _bool(s: pd.Series) -> tuple[np.ndarray, np.ndarray | None] | None:
    """True → 2, False → 1, compared once per distinct value rather than once per row."""
    codes, uniques = pd.factorize(s.to_numpy(dtype=object))
    if len(uniques) == 0:
        return None
    truth = np.array([2 if u == True else 1 for u in uniques], dtype="uint64")  # noqa: E712
    null = codes < 0
    return truth[codes], (null if null.any() else None)


def _json_default(v):
    return v.tolist() if isinstance(v, np.ndarray) else str(v)


def _dumped(s: pd.Series) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Lists and JSON values as canonical JSON text (keys sorted, items in order); ``None`` is null.

    One ``orjson.dumps`` of the whole column is ~20× faster than one per row. Indented, every
    top-level item starts on a line indented by exactly two spaces (deeper lines by more, and
    strings never hold a raw newline), so the items are the text between those lines; a trailing
    ``null`` gives the last item the same ``,`` as the others. Arrow finds the distinct items
    without making a Python object per row, and only those are hashed.
    """
    text = orjson.dumps([*s.tolist(), None], default=_json_default, option=_JSON_OPTS | orjson.OPT_INDENT_2)
    b = np.frombuffer(text, dtype=np.uint8)
    nl = np.flatnonzero(b[:-3] == ord("\n"))
    first = b[nl + 3]
    starts = nl[(b[nl + 1] == ord(" ")) & (b[nl + 2] == ord(" ")) & (first != ord(" ")) & (first != ord("}"))
                & (first != ord("]"))]
    if len(starts) != len(s) + 1:
        raise AssertionError(f"{len(starts) - 1} JSON items found for {len(s)} values")
    buffers = [None, pa.py_buffer(starts), pa.py_buffer(text)]
    encoded = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(s), buffers).dictionary_encode()
    codes = encoded.indices.to_numpy()
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
    null_code = np.flatnonzero(distinct == b"\n  null,")  # None and NaN, which orjson writes as null
    null = codes == null_code[0] if len(null_code) else None
    if null is not None and null.all():
        return None
    return _siphash(distinct)[codes], (null if null is not None and null.any() else None)


_KINDS = {"str": lambda s: _text(s.to_numpy(dtype=object)), "float": _number, "int": _number, "date": _date,
          "bool": _bool, "list": _dumped, "json": _dumped}


def _add_term(acc: np.ndarray, column: tuple[np.ndarray, np.ndarray | None] | None, name: str) -> None:
    if column is None:
        return
    values, null = column
    term = _mix(values + _name_key(name))
    if null is not None:
        term[null] = 0
    acc += term


def _row_terms(frame: pd.DataFrame, attrs: tuple[Attr, ...], wkb: np.ndarray, kind: str) -> np.ndarray:
    """The v2 hash of each row: the sum of its columns' keyed terms, mixed with what kind of row it is."""
    acc = np.zeros(len(frame), dtype="uint64")
    for attr in attrs:
        if attr.name in frame.columns:
            _add_term(acc, _KINDS[attr.kind](frame[attr.name]), attr.name)
    _add_term(acc, _text(np.asarray(wkb, dtype=object)), "geometry")
    acc += _name_key(f"row:{kind}")
    return _mix(acc)


def own_hashes(parcels: pd.DataFrame, wkb: np.ndarray) -> np.ndarray:
    """The v2 hash of each parcel row's attributes, ``extra`` and geometry (2D little-endian WKB)."""
    return _row_terms(parcels, _OWN_ATTRS, wkb, "parcels")


class ChildDigests:
    """Per parcel code, the sum of its buildings' and support land's hashes, fed block by block.

    Sums wrap modulo 2⁶⁴ and do not depend on the order of features or how they are split into
    blocks. Features whose code names no parcel row are ignored.
    """

    def __init__(self, parcel_codes: np.ndarray):
        self._row, uniques = pd.factorize(np.asarray(parcel_codes, dtype=object))
        self._codes = pd.Index(uniques)
        self._sums: dict[str, np.ndarray] = {}

    def add(self, layer: str, frame: pd.DataFrame, wkb: np.ndarray) -> None:
        h = _row_terms(frame, _CHILD_ATTRS[layer], wkb, layer)
        at = self._codes.get_indexer(frame["parcel_code"].to_numpy(dtype=object))
        known = at >= 0
        sums = self._sums.setdefault(layer, np.zeros(len(self._codes), dtype="uint64"))
        np.add.at(sums, at[known], h[known])

    def digests(self) -> dict[str, np.ndarray]:
        """Per layer fed so far, the digest of each parcel row's features of that layer (0: none)."""
        found = self._row >= 0
        out = {}
        for layer, sums in self._sums.items():
            d = np.zeros(len(self._row), dtype="uint64")
            d[found] = sums[self._row[found]]
            out[layer] = d
        return out


def finish(own: np.ndarray, children: ChildDigests) -> np.ndarray:
    """Each parcel row's v2 digest as 16 lowercase hex characters.

    An empty layer adds 0, so a layer that was never fed and one without features give the same digest.
    """
    total = np.zeros(len(own), dtype="uint64")
    for d in children.digests().values():
        total += d
    h = _mix(np.asarray(own, dtype="uint64") + _mix(total + _name_key("children")))
    text = np.frombuffer(h.astype(">u8").tobytes().hex().encode("ascii"), dtype="S16")
    return text.astype("U16").astype(object)


def row_hashes(src: SourceData, geoms: dict[str, EWKB]) -> np.ndarray:
    """The v2 digest of every parcel row of a source read whole (the importer feeds blocks itself)."""
    children = ChildDigests(src.parcels["parcel_code"].to_numpy())
    for layer in _CHILD_ATTRS:
        frame = getattr(src, layer)
        if len(frame):
            children.add(layer, frame, geoms[layer].wkb)
    return finish(own_hashes(src.parcels, geoms["parcels"].wkb), children)


def is_legacy(h: str | None) -> bool:
    """Whether a stored digest is v1 (32 hex characters) rather than v2 (16)."""
    return isinstance(h, str) and len(h) == 32


# --- v1 ------------------------------------------------------------------------------------------

_HASH_KEYS = ("landgis-parcel-1", "landgis-parcel-2")  # two 64-bit hashes → one 128-bit digest


def _hashable(df: pd.DataFrame, attrs, wkb: np.ndarray) -> pd.DataFrame:
    """Columns pandas can hash: dates as datetime64, lists and JSON as canonical text, geometry as WKB."""
    out = pd.DataFrame(index=df.index)
    kinds = {a.name: a.kind for a in attrs}
    for col in (c for c in df.columns if c in kinds and c != "retired_on"):
        kind, s = kinds[col], df[col]
        if kind == "date":
            out[col] = pd.to_datetime(s, errors="coerce")
        elif kind in ("list", "json"):
            out[col] = s.map(_canon)
        elif kind == "bool":
            out[col] = s.map({True: 1, False: 0}).astype("float64")
        else:
            out[col] = s
    out["_wkb"] = wkb
    return out


HASH_BLOCK = 50_000


def _hash_rows(df: pd.DataFrame, attrs, geoms: EWKB) -> tuple[np.ndarray, ...]:
    """pandas' SipHash of each row (under each of the two keys), block by block."""
    out = tuple(np.empty(len(df), dtype="uint64") for _ in _HASH_KEYS)
    for start in range(0, len(df), HASH_BLOCK):
        stop = min(start + HASH_BLOCK, len(df))
        block = _hashable(df.iloc[start:stop], attrs, geoms.hex(start, stop))
        for arr, key in zip(out, _HASH_KEYS, strict=True):
            arr[start:stop] = pd.util.hash_pandas_object(block, index=False, hash_key=key).to_numpy()
    return out


def _per_code(codes: np.ndarray, h: np.ndarray) -> pd.Series:
    """An order-independent 64-bit digest of the features of each parcel code (sum of row hashes)."""
    if len(codes) == 0:
        return pd.Series(dtype="uint64")
    order = np.argsort(codes, kind="stable")
    sorted_codes, values = codes[order], h[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    with np.errstate(over="ignore"):
        sums = np.add.reduceat(values, starts)
    return pd.Series(sums, index=sorted_codes[starts])


def legacy_row_hashes(src: SourceData, geoms: dict[str, EWKB]) -> list[str]:
    """A 128-bit digest per parcel row over everything the register stores about it (v1).

    Vectorised (pandas' SipHash of each row), so 200,000 rows hash in well under a second.
    """
    p = src.parcels
    codes = p["parcel_code"].to_numpy()
    own = _hash_rows(p[HASHED_PARCEL_COLS], PARCEL_ATTRS, geoms["parcels"])
    children = {name: (getattr(src, name)["parcel_code"].to_numpy(), _hash_rows(getattr(src, name), attrs, geoms[name]))
                for name, attrs in (("buildings", BUILDING_ATTRS), ("support_land", SUPPORT_ATTRS))}
    digests = []
    for k, key in enumerate(_HASH_KEYS):
        parts = {"parcel": own[k]}
        for name, (child_codes, h) in children.items():
            parts[name] = _per_code(child_codes, h[k]).reindex(codes).fillna(0).to_numpy(dtype="uint64")
        digests.append(pd.util.hash_pandas_object(pd.DataFrame(parts), index=False, hash_key=key).to_numpy())
    return [f"{a:016x}{b:016x}" for a, b in zip(digests[0], digests[1], strict=True)]


def _canon(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, dict):
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(v, list | tuple | np.ndarray):
        return ",".join(map(str, v))
    return str(v)
