"""The fast paths of gis.sources give what the plain Python / pyogrio paths they replace give."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gis import sources
from gis.ids import CREDIT_CODE_FORMAT, credit_check_char

ODD_TEXT = [
    "abc", "abc\n", "ab c", "", None, "a" * 28, "a" * 29, "é", "x\ny", float("nan"), 5,
    "３３１０２３０１１００１GB00001", "331023011001GB00001", "331023011001GB00001\n", "331023011001GB00001\n\n",
    "91331023604200214M", "9133102360420021４M", "91331023604200214M\n",
]


@pytest.mark.parametrize("pattern", [sources.CODE_OK, sources.GBT37346, CREDIT_CODE_FORMAT])
@pytest.mark.parametrize("values", [ODD_TEXT, [v for v in ODD_TEXT if isinstance(v, str) or v is None]])
def test_matches_is_python_re(pattern, values):
    values = np.array(values, dtype=object)
    expected = [isinstance(v, str) and pattern.match(v) is not None for v in values]
    assert sources._matches(values, pattern).tolist() == expected


def test_credit_codes_ok_is_credit_code_ok():
    good = [body + credit_check_char(body) for body in ("91331023604200214", "92331023MA2DX1234", "12330000470000000")]
    codes = [*good, *(c[:17] + ("0" if c[17] != "0" else "1") for c in good), good[0] + "\n", "９" + good[0][1:],
             good[0].lower(), "", "abc"]
    expected = [len(c) == 18 and c.isascii() and sources.credit_code_ok(c) for c in codes]
    assert sources._credit_codes_ok(np.array(codes, dtype=object)).tolist() == expected
    assert sources._credit_codes_ok(np.array([], dtype=object)).tolist() == []


def test_strip_arrow_is_str_strip():
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    values = ["a", " a", "a ", " ", "", None, "\u3000中\u3000", "a\u200b", *(w + "z" for w in spaces),
              *("z" + w for w in spaces), *spaces]
    got = sources._strip_arrow(pd.Series(values, dtype=object))
    assert got.tolist() == [v.strip() or None if isinstance(v, str) else None for v in values]


def test_norm_json_keeps_map_semantics():
    s = pd.Series([None, float("nan"), "", " ", '{"a": 1}', "[1, 2]", "not json", {"b": 2}, pd.NaT], dtype=object)
    values, bad = sources._norm_json(s)
    assert values.tolist()[4:8] == [{"a": 1}, [1, 2], None, {"b": 2}]
    assert values.iloc[:4].isna().all() and values.iloc[8] is None
    assert bad.tolist() == [False, False, False, False, False, False, True, False, True]
    numbers, _ = sources._norm_json(pd.Series(["1.5", None, "2"], dtype=object))
    assert numbers.dtype == "float64"  # what Series.map infers


def test_even_sample():
    positions = np.arange(10, 20)
    assert sources._even_sample(positions, 20) is positions
    sample = sources._even_sample(np.arange(100_000), 4_000)
    assert len(sample) == 4_000 and len(np.unique(sample)) == 4_000 and sample[0] == 0 and sample[-1] == 99_999


def test_read_arrow_frame_is_pyogrio(tmp_path):
    path = tmp_path / "p.gpkg"
    frame = gpd.GeoDataFrame(
        {
            "parcel_code": ["A1", None, " B2 "],
            "area": [1.5, np.nan, 3.0],
            "n": [1, 2, 3],
            "flag": [True, False, True],
            "day": [dt.date(2020, 1, 2), None, dt.date(2021, 3, 4)],
        },
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2), None],
        crs="EPSG:4549",
    )
    frame.to_file(path, layer="parcels")
    for kwargs in ({}, {"skip_features": 1, "max_features": 1}):
        expected = pyogrio.read_dataframe(path, layer="parcels", use_arrow=True, **kwargs)
        got = sources._read_arrow_frame(path, "parcels", **kwargs)
        assert got is not None
        pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(expected))
        assert got.crs == expected.crs and got.geometry.name == expected.geometry.name
    assert sources._read_arrow_frame(tmp_path / "missing.gpkg", "parcels") is None
