"""The few settings of a serialized SentencePiece model that its processor does not expose.

`sentencepiece.SentencePieceProcessor` gives pieces, ids and their types, but not the
model type or the normalizer flags that decoding depends on. Those live in the
`ModelProto` (sentencepiece_model.proto): `trainer_spec` (field 2) `.model_type` (3),
`normalizer_spec` (3) `.add_dummy_prefix` (3) and `.remove_extra_whitespaces` (4), and
`denormalizer_spec` (5) `.precompiled_charsmap` (2); and the number of `pieces` (1).

Example:
>>> read_model_spec(b"")
ModelSpec(pieces=0, model_type='unigram', add_dummy_prefix=True, remove_extra_whitespaces=True, denormalizes=False)
>>> read_model_spec(bytes([0x12, 0x02, 0x18, 0x02, 0x1A, 0x02, 0x18, 0x00])).model_type
'bpe'
"""

from __future__ import annotations

import dataclasses

# TrainerSpec.ModelType enum values (UNIGRAM is the proto's default).
MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """pieces: how many pieces the model has. model_type: "unigram", "bpe", "word" or "char".
    add_dummy_prefix and remove_extra_whitespaces: the normalizer's flags (both default to
    true in the proto). denormalizes: whether the model has a denormalizer (a non-empty charsmap)."""

    pieces: int = 0
    model_type: str = "unigram"
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    denormalizes: bool = False


def read_model_spec(proto: bytes) -> ModelSpec:
    """The settings above from a serialized `ModelProto` (ValueError when it is malformed)."""
    top = _fields(proto)
    trainer = _fields(_last(top, 2, b""))
    normalizer = _fields(_last(top, 3, b""))
    denormalizer = _fields(_last(top, 5, b""))
    model_type = _last(trainer, 3, 1)
    return ModelSpec(
        pieces=sum(1 for number, _ in top if number == 1),
        model_type=MODEL_TYPES.get(model_type, f"unknown ({model_type})"),
        add_dummy_prefix=bool(_last(normalizer, 3, 1)),
        remove_extra_whitespaces=bool(_last(normalizer, 4, 1)),
        denormalizes=bool(_last(denormalizer, 2, b"")),
    )


def _last(fields: list[tuple[int, int | bytes]], number: int, default: int | bytes) -> int | bytes:
    """A singular field's value: protobuf keeps the last occurrence."""
    values = [v for n, v in fields if n == number]
    return values[-1] if values else default


# Hand-written: the protobuf package is not a dependency of the TensorFlow-free core, and
# three scalar fields need only the wire format (varints and length-delimited fields).
def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of each field of a message; length-delimited values as bytes."""
    out, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _BYTES:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError(f"field {number} runs past the end of the message")
            value, pos = data[pos : pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            value, pos = int.from_bytes(data[pos : pos + size], "little"), pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {number})")
        if number == 0 or pos > len(data):
            raise ValueError("truncated or malformed protobuf message")
        out.append((number, value))
    return out


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos
    raise ValueError("truncated or malformed protobuf varint")
