"""Caffe's `Datum` record, parsed without Caffe: a small proto2 wire-format decoder of its seven fields.

Caffe's LMDB datasets (written by `convert_imageset`) hold one serialised `Datum` per record, as
declared in caffe/src/caffe/proto/caffe.proto:

    message Datum {
      optional int32 channels = 1;  optional int32 height = 2;  optional int32 width = 3;
      optional bytes data = 4;      // raw uint8 pixels, C x H x W, or an encoded image file
      optional int32 label = 5;
      repeated float float_data = 6;
      optional bool encoded = 7 [default = false];
    }

The wire format (https://protobuf.dev/programming-guides/encoding/): each field is a varint key
(number << 3 | wire type) then its value: varint (0), 64-bit (1), length-delimited (2), 32-bit
(5). proto2 writes `repeated float` unpacked, one 32-bit value per key; a packed writer sends one
length-delimited run of them: both are accepted, as protobuf's own parser does. Unknown fields
are skipped (a newer writer's additions); groups (3, 4) are obsolete and no Datum holds one, so
they, a truncated value or a wrong wire type for a known field mean "not a Datum". Writing the
decoder out (about 60 lines) spares a protobuf dependency and a descriptor built at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
#: Field number -> the wire types it may come in (float_data: unpacked 32-bit, or packed).
_EXPECTED = {
    1: (_VARINT,),
    2: (_VARINT,),
    3: (_VARINT,),
    4: (_BYTES,),
    5: (_VARINT,),
    6: (_FIXED32, _BYTES),
    7: (_VARINT,),
}


class NotADatum(ValueError):
    """The bytes are not a serialised Datum; the message says where they stop being one."""


@dataclass
class Datum:
    channels: int = 0
    height: int = 0
    width: int = 0
    data: bytes = b""
    label: int = 0
    float_data: bytes = b""  # little-endian float32 values, as on the wire
    encoded: bool = False
    seen: set[int] = field(default_factory=set)


def _varint(buffer: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise NotADatum(f"a varint runs past its end at byte {position}")
        byte = buffer[position]
        value |= (byte & 0x7F) << shift
        position += 1
        shift += 7
        if not byte & 0x80:
            return value, position


def _int32(value: int) -> int:
    """An int32 field's varint as the signed value (negatives are sent as 10-byte two's complement)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def parse_datum(buffer: bytes) -> Datum:
    """The Datum in `buffer`, or NotADatum saying why it is not one."""
    datum, position, floats = Datum(), 0, []
    while position < len(buffer):
        key, position = _varint(buffer, position)
        number, wire = key >> 3, key & 7
        if number == 0 or wire in (3, 4) or wire > 5:
            raise NotADatum(f"field {number} of wire type {wire} at byte {position}: not protobuf")
        if number in _EXPECTED and wire not in _EXPECTED[number]:
            raise NotADatum(f"field {number} has wire type {wire}, not a Datum's")
        if wire == _VARINT:
            value, position = _varint(buffer, position)
        elif wire in (_FIXED32, _FIXED64):
            end = position + (4 if wire == _FIXED32 else 8)
            if end > len(buffer):
                raise NotADatum(f"field {number} runs past the end of the record")
            value, position = buffer[position:end], end
        else:
            length, position = _varint(buffer, position)
            if position + length > len(buffer):
                raise NotADatum(f"field {number} declares {length:,} bytes, past the end of the record")
            value, position = buffer[position : position + length], position + length
        datum.seen.add(number)
        if number in (1, 2, 3, 5):
            setattr(datum, ("", "channels", "height", "width", "", "label")[number], _int32(value))
        elif number == 4:
            datum.data = value
        elif number == 6:
            if wire == _BYTES and len(value) % 4:
                raise NotADatum(f"packed float_data of {len(value)} bytes is not whole floats")
            floats.append(value)
        elif number == 7:
            datum.encoded = bool(value)
    datum.float_data = b"".join(floats)
    if not datum.seen & {4, 6}:
        raise NotADatum("no data and no float_data")
    return datum
