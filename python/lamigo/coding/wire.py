"""Byte-level readers and writers for the GO message: fixed-width big-endian integers and
unsigned LEB128 varints. Reading past the end raises MessageError, never IndexError."""

from __future__ import annotations

from lamigo.errors import MessageError

MAX_VARINT_BYTES = 5  # 35 bits: every size in a message fits, and garbage stops early


class Writer:
    def __init__(self) -> None:
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def u8(self, value: int) -> None:
        self._buf += value.to_bytes(1, "big")

    def u16(self, value: int) -> None:
        self._buf += value.to_bytes(2, "big")

    def u32(self, value: int) -> None:
        self._buf += value.to_bytes(4, "big")

    def varint(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"varint must be non-negative, got {value}")
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                self._buf.append(byte | 0x80)
            else:
                self._buf.append(byte)
                return

    def raw(self, data: bytes) -> None:
        self._buf += data

    def blob(self, data: bytes) -> None:
        """Length-prefixed bytes."""
        self.varint(len(data))
        self._buf += data

    def getvalue(self) -> bytes:
        return bytes(self._buf)


class Reader:
    def __init__(self, data: bytes, what: str = "message") -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._what = what

    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def _take(self, n: int, field: str) -> memoryview:
        if n > self.remaining:
            raise MessageError(
                f"{self._what} truncated: {field} needs {n} bytes at offset {self._pos}, "
                f"only {self.remaining} left"
            )
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def u8(self, field: str) -> int:
        return self._take(1, field)[0]

    def u16(self, field: str) -> int:
        return int.from_bytes(self._take(2, field), "big")

    def u32(self, field: str) -> int:
        return int.from_bytes(self._take(4, field), "big")

    def varint(self, field: str) -> int:
        value = 0
        for shift in range(0, 7 * MAX_VARINT_BYTES, 7):
            byte = self.u8(field)
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise MessageError(f"{self._what}: {field} is not a valid varint (too long)")

    def raw(self, n: int, field: str) -> bytes:
        return bytes(self._take(n, field))

    def blob(self, field: str) -> bytes:
        return self.raw(self.varint(f"{field} length"), field)

    def expect_end(self) -> None:
        if self.remaining:
            raise MessageError(f"{self._what}: {self.remaining} unexpected trailing bytes")


# What constriction's decoders raise on data that no encoder produced.
CODER_DATA_ERRORS = (ValueError, RuntimeError, AssertionError)
