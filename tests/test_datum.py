"""load.datum: Caffe Datum records parsed without Caffe, from bytes encoded here (caffe.proto)."""

from __future__ import annotations

import struct

import pytest

from sanitize.load.datum import NotADatum, parse_datum
from tests.container_helpers import encode_datum

FLOATS = (1.0, -2.5, 3.0, 0.0)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (encode_datum(3, 2, 2, bytes(range(12)), 4), dict(channels=3, height=2, width=2, label=4, float_data=b"")),
        (encode_datum(1, 2, 2, floats=FLOATS), dict(channels=1, float_data=struct.pack("<4f", *FLOATS), encoded=False)),
        (encode_datum(1, 2, 2, floats=FLOATS, packed=True), dict(channels=1, float_data=struct.pack("<4f", *FLOATS))),
        (encode_datum(3, 8, 8, b"\xff\xd8\xff", 1, encoded=True), dict(encoded=True, data=b"\xff\xd8\xff")),
        (encode_datum(3, 2, 2, bytes(12), -1), dict(label=-1)),  # int32 negative: a 10-byte varint
        (encode_datum(3, 2, 2, bytes(12)) + b"\x48\x05", dict(channels=3)),  # unknown field 9 skipped
    ],
)
def test_parses_datums(record: bytes, expected: dict) -> None:
    datum = parse_datum(record)
    for name, value in expected.items():
        assert getattr(datum, name) == value, name


def test_unpacked_and_packed_float_data_are_the_same_values() -> None:
    unpacked = parse_datum(encode_datum(1, 2, 2, floats=FLOATS)).float_data
    assert unpacked == parse_datum(encode_datum(1, 2, 2, floats=FLOATS, packed=True)).float_data
    assert struct.unpack("<4f", unpacked) == FLOATS


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (b'{"label": 1}', "wire type 3"),  # JSON: '{' is field 15, a group
        (b"\x08", "varint runs past"),  # truncated inside a value
        (b"\x22\x40abc", "past the end"),  # data declares 64 bytes, has 3
        (b"\x08\x03\x10\x02", "no data and no float_data"),  # a header only
        (b"\x20\x01", "wire type 0, not a Datum's"),  # data (4) as a varint
        (b"\x32\x03abc", "not whole floats"),  # packed float_data of 3 bytes
        (b"\x00\x01", "field 0"),
    ],
)
def test_refuses_what_is_not_a_datum(record: bytes, why: str) -> None:
    with pytest.raises(NotADatum, match=why):
        parse_datum(record)
