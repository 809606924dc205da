"""Compact storage of order JSON in the journal: zlib with a preset dictionary.

An order is ~6 KB of JSON, nearly all of it the same keys and structure as
every other order. zlib's preset dictionary (`zdict`) lets each order refer
back to a sample order instead of spelling its keys out again: with the
run's first stored orders as the dictionary, an order takes ~0.4 KB instead
of 1.4 KB (plain zlib) or 5-6 KB (text). Each order stays separately
readable, so resume, rebuild and undo read exactly the text the API sent.

Refetched orders and before-images go through the same codec.

    codec = OrderCodec(dictionary=None)
    codec.choose_dictionary(first_texts)   # or: the first text packed becomes it
    blob = codec.pack(text)
    assert codec.unpack(blob) == text
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

# The first byte says how a body is stored, so older journals (plain text) stay readable.
PLAIN = 0x00
ZLIB_DICT = 0x01
LEVEL = 6
MAX_DICTIONARY_BYTES = 32 * 1024  # zlib's window: the most of a dictionary it can use
DICTIONARY_ORDERS = 4  # four sample orders pack the rest ~20% smaller than one


class OrderCodec:
    """Packs order JSON text into bytes and back; holds the journal's dictionary."""

    def __init__(self, dictionary: bytes | None) -> None:
        self.dictionary = dictionary
        self._primed: zlib._Compress | None = None  # a compressor that has read the dictionary

    def choose_dictionary(self, texts: Sequence[str]) -> bytes:
        """Take the first orders stored (up to DICTIONARY_ORDERS) as the dictionary;
        return it, to be kept with the orders."""
        joined = "\n".join(texts[:DICTIONARY_ORDERS]).encode()
        self.dictionary = joined[-MAX_DICTIONARY_BYTES:]
        self._primed = None
        return self.dictionary

    def pack(self, text: str) -> bytes:
        if self.dictionary is None:
            self.choose_dictionary([text])
        assert self.dictionary is not None
        if self._primed is None:
            self._primed = zlib.compressobj(LEVEL, zdict=self.dictionary)
        packer = self._primed.copy()  # the same bytes, without reading 32 KB of dictionary again
        return bytes([ZLIB_DICT]) + packer.compress(text.encode()) + packer.flush()

    def unpack(self, body: bytes | str) -> str:
        if isinstance(body, str):
            return body  # a journal written before orders were compressed
        if body[0] == PLAIN:
            return body[1:].decode()
        if body[0] != ZLIB_DICT or self.dictionary is None:
            raise ValueError("an order in the journal is stored in an unknown way")
        unpacker = zlib.decompressobj(zdict=self.dictionary)
        return (unpacker.decompress(body[1:]) + unpacker.flush()).decode()
