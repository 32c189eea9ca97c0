"""Entropy coding: codeword indices, captions and masks."""

from lamigo.coding.index import DEFAULT_INDEX_CODER, INDEX_CODERS, IndexCoder, get_index_coder
from lamigo.coding.mask import decode_mask, encode_mask
from lamigo.coding.prior import IndexPrior
from lamigo.coding.text import DEFAULT_TEXT_CODER, TEXT_CODERS, TextCoder, get_text_coder

__all__ = [
    "DEFAULT_INDEX_CODER",
    "DEFAULT_TEXT_CODER",
    "INDEX_CODERS",
    "TEXT_CODERS",
    "IndexCoder",
    "IndexPrior",
    "TextCoder",
    "decode_mask",
    "encode_mask",
    "get_index_coder",
    "get_text_coder",
]
