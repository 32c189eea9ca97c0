"""Caption coding with a static English character model shared by both ends.

Symbols 0..94 are the printable ASCII characters; symbols 95..350 are raw bytes, through which
any other character travels as its UTF-8 bytes (rare, so they get long codes but never fail).
Decoders take the number of characters, which the message header carries."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

import constriction
import numpy as np
from bitarray import bitarray
from bitarray.util import canonical_decode, canonical_huffman

from lamigo.registry import WireRegistry
from lamigo.coding.wire import CODER_DATA_ERRORS
from lamigo.errors import MessageError

N_PRINTABLE = 95  # chr(32) .. chr(126)
N_SYMBOLS = N_PRINTABLE + 256

# Letter frequencies of English text in percent (Lewand, "Cryptological Mathematics", 2000).
_LETTER_PERCENT = dict(zip(
    "abcdefghijklmnopqrstuvwxyz",
    [8.167, 1.492, 2.782, 4.253, 12.702, 2.228, 2.015, 6.094, 6.966, 0.153, 0.772, 4.025, 2.406,
     6.749, 7.507, 1.929, 0.095, 5.987, 6.327, 9.056, 2.758, 0.978, 2.360, 0.150, 1.974, 0.074],
))
# Captions are mostly lower-case words and spaces; the rest is weighted by how often it shows
# up in caption-style English.
_OTHER_WEIGHTS = {" ": 180_000, ",": 8_000, ".": 6_000, "'": 1_500, "-": 1_500, '"': 500}


def english_weights() -> np.ndarray:
    """Integer weight of each of the N_SYMBOLS symbols."""
    weights = np.full(N_SYMBOLS, 2, dtype=np.int64)  # raw bytes: rare
    weights[:N_PRINTABLE] = 100  # any printable character
    for letter, percent in _LETTER_PERCENT.items():
        weights[ord(letter) - 32] = round(percent * 7_600)
        weights[ord(letter.upper()) - 32] = round(percent * 150)
    for digit in "0123456789":
        weights[ord(digit) - 32] = 1_000
    for char, weight in _OTHER_WEIGHTS.items():
        weights[ord(char) - 32] = weight
    return weights


def text_to_symbols(text: str) -> list[int]:
    symbols: list[int] = []
    for char in text:
        code = ord(char)
        if 32 <= code <= 126:
            symbols.append(code - 32)
        else:
            symbols.extend(N_PRINTABLE + b for b in char.encode("utf-8", errors="surrogatepass"))
    return symbols


def _utf8_length(lead: int) -> int:
    """Bytes in the UTF-8 sequence that starts with `lead`."""
    for length, (low, high) in enumerate(((0x00, 0x80), (0xC0, 0xE0), (0xE0, 0xF0), (0xF0, 0xF8)), 1):
        if low <= lead < high:
            return length
    raise MessageError(f"caption: byte 0x{lead:02x} cannot start a UTF-8 character")


def symbols_to_text(symbols: Iterator[int], n_chars: int) -> str:
    """Rebuild `n_chars` characters from a symbol stream; raises MessageError on bad input."""
    chars = []
    try:
        for _ in range(n_chars):
            symbol = next(symbols)
            if symbol < N_PRINTABLE:
                chars.append(chr(symbol + 32))
                continue
            lead = symbol - N_PRINTABLE
            length = _utf8_length(lead)
            raw = bytes([lead] + [next(symbols) - N_PRINTABLE for _ in range(length - 1)])
            if any(not 0 <= b < 256 for b in raw):
                raise MessageError("caption: a UTF-8 continuation is not a byte symbol")
            chars.append(raw.decode("utf-8"))
    except StopIteration:
        raise MessageError(f"caption truncated: fewer than {n_chars} characters coded") from None
    except UnicodeDecodeError as err:
        raise MessageError(f"caption is not valid UTF-8: {err}") from None
    except ValueError as err:  # bitarray: bits that form no code word
        raise MessageError(f"caption truncated or corrupted: {err}") from None
    return "".join(chars)


# The message's control block names the caption coder in 4 bits.
TEXT_CODERS: WireRegistry[type["TextCoder"]] = WireRegistry("text coder", max_wire_id=0x0F)
DEFAULT_TEXT_CODER = "huffman"


class TextCoder(ABC):
    name: ClassVar[str]
    wire_id: ClassVar[int]

    @abstractmethod
    def encode(self, text: str) -> bytes: ...

    @abstractmethod
    def decode(self, data: bytes, n_chars: int) -> str: ...


@TEXT_CODERS.register
class Utf8TextCoder(TextCoder):
    """Plain UTF-8 bytes: a baseline for the bandwidth report, not a default."""

    name = "utf8"
    wire_id = 0

    def encode(self, text: str) -> bytes:
        return text.encode("utf-8")

    def decode(self, data: bytes, n_chars: int) -> str:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise MessageError(f"caption is not valid UTF-8: {err}") from None
        if len(text) != n_chars:
            raise MessageError(f"caption has {len(text)} characters, header says {n_chars}")
        return text


@TEXT_CODERS.register
class HuffmanTextCoder(TextCoder):
    name = "huffman"
    wire_id = 1

    def __init__(self) -> None:
        self._code, self._length_counts, self._symbols = canonical_huffman(
            dict(enumerate(english_weights().tolist()))
        )

    def encode(self, text: str) -> bytes:
        bits = bitarray(endian="big")
        bits.encode(self._code, text_to_symbols(text))
        return bits.tobytes()

    def decode(self, data: bytes, n_chars: int) -> str:
        bits = bitarray(endian="big")
        bits.frombytes(data)
        return symbols_to_text(canonical_decode(bits, self._length_counts, self._symbols), n_chars)


@TEXT_CODERS.register
class RangeTextCoder(TextCoder):
    name = "range"
    wire_id = 2

    def __init__(self) -> None:
        weights = english_weights()
        self._model = constriction.stream.model.Categorical(weights / weights.sum(), perfect=False)

    def encode(self, text: str) -> bytes:
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(np.array(text_to_symbols(text), dtype=np.int32), self._model)
        return encoder.get_compressed().astype("<u4").tobytes()

    def decode(self, data: bytes, n_chars: int) -> str:
        if len(data) % 4:
            raise MessageError(f"range-coded caption: length {len(data)} is not a multiple of 4")
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))

        def symbols() -> Iterator[int]:
            while True:
                try:
                    yield int(decoder.decode(self._model))
                except CODER_DATA_ERRORS as err:
                    raise MessageError(f"range-coded caption cannot be decoded: {err}") from err

        return symbols_to_text(symbols(), n_chars)


_instances: dict[str, TextCoder] = {}


def get_text_coder(name: str) -> TextCoder:
    if name not in _instances:
        _instances[name] = TEXT_CODERS.lookup(name)()
    return _instances[name]
