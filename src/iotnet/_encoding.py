"""Node's encoding names for write(str, encoding) and setEncoding(), on Python's codecs."""
import base64
import binascii
import codecs

# Node's names that Python spells differently (or not at all, for hex and base64).
_NODE_NAMES = {
    "utf8": "utf-8", "utf-8": "utf-8",
    "ascii": "ascii",
    "latin1": "latin-1", "binary": "latin-1",
    "ucs2": "utf-16-le", "ucs-2": "utf-16-le", "utf16le": "utf-16-le", "utf-16le": "utf-16-le",
    "hex": "hex", "base64": "base64", "base64url": "base64url",
}


def normalize(encoding):
    """The codec name for a Node or Python encoding name; TypeError/ValueError when it is none."""
    if not isinstance(encoding, str):
        raise TypeError(f"the encoding must be a str, not {type(encoding).__name__}")
    name = _NODE_NAMES.get(encoding.lower())
    if name is not None:
        return name
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise _unknown_encoding(encoding) from None
    if not getattr(info, "_is_text_encoding", True):
        raise _unknown_encoding(encoding)
    return info.name


def _unknown_encoding(encoding):
    """A ValueError with Node's code ERR_UNKNOWN_ENCODING."""
    err = ValueError(f"unknown encoding: {encoding!r}")
    err.code = "ERR_UNKNOWN_ENCODING"
    return err


def encode(text, codec):
    """str -> bytes in a normalized codec."""
    if codec == "hex":
        # Node stops at the first pair that is not hex; Python would raise.
        end = 0
        while end + 1 < len(text) and all(c in "0123456789abcdefABCDEF" for c in text[end:end + 2]):
            end += 2
        return bytes.fromhex(text[:end])
    if codec in ("base64", "base64url"):
        data = text.replace("-", "+").replace("_", "/")
        data = "".join(c for c in data if c.isalnum() or c in "+/")
        return base64.b64decode(data + "=" * (-len(data) % 4))
    return text.encode(codec)


class _HexDecoder:
    def decode(self, data, final=False):
        return binascii.hexlify(data).decode("ascii")


class _Base64Decoder:
    """Keeps the 0–2 bytes that do not fill a 3-byte group for the next chunk."""

    def __init__(self, url):
        self.rest = b""
        self.url = url

    def decode(self, data, final=False):
        data = self.rest + data
        whole = len(data) if final else len(data) - len(data) % 3
        self.rest = data[whole:]
        out = base64.b64encode(data[:whole]).decode("ascii")
        return out.replace("+", "-").replace("/", "_").rstrip("=") if self.url else out


def decoder(codec):
    """An object whose decode(bytes, final=False) -> str keeps characters split across chunks
    whole; decode(b'', True) gives what is left at the end of the stream."""
    if codec == "hex":
        return _HexDecoder()
    if codec in ("base64", "base64url"):
        return _Base64Decoder(codec == "base64url")
    # Invalid bytes become U+FFFD, as Node's string decoder does.
    return codecs.getincrementaldecoder(codec)(errors="replace")
