"""The API's JSON parsing with a bound on nesting: Python's decoder recurses once per level, so
a body of ten thousand ``[`` would otherwise end in a RecursionError (a 500), and a structure
deeper than any real payload is refused before any code walks it. Text holding a NUL
(``\u0000``) is refused here too: PostgreSQL stores no NUL in text or JSONB, so any such value
that reached a JSON field would come back from the database as a 500."""

import codecs
import json
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32  # a ZTF packet nests 3 deep, an alert filter's conditions about 4
READ_BYTES = 2**20


def loads_bounded(text, refuse_nul=True):
    """``json.loads(text)``, or ParseError when it is not strict JSON (NaN and Infinity are not
    JSON), nests deeper than MAX_JSON_DEPTH or, with ``refuse_nul``, holds a NUL in text (a
    list of alert packets keeps it: each packet is judged, and refused, on its own)."""
    too_deep = f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ParseError(too_deep) from None
    except ValueError as error:
        raise ParseError(f"the body is not JSON: {error}") from None
    problem = _walk(value, MAX_JSON_DEPTH, refuse_nul)
    if problem:
        raise ParseError(problem if problem != "deep" else too_deep)
    return value


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON value")


def _walk(value, limit, refuse_nul):
    """ "deep" when arrays or objects nest more than ``limit`` deep, a sentence naming the place
    of the first text holding a NUL, or None; walked without recursion. Places are kept as
    (parent, key) links and spelled out only for a refusal: a batch of alerts has a million."""
    stack = [(value, 1, None)]
    while stack:
        node, depth, place = stack.pop()
        if isinstance(node, str):
            if refuse_nul and "\x00" in node:
                return f"{_spell(place)}: a NUL character (\\u0000) is not allowed in text"
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > limit:
            return "deep"
        if isinstance(node, dict):
            for key, child in node.items():
                if refuse_nul and "\x00" in key:
                    return f"{_spell(place)}: a key holds a NUL character (\\u0000)"
                stack.append((child, depth + 1, (place, key)))
        else:
            stack.extend((child, depth + 1, (place, index)) for index, child in enumerate(node))
    return None


def _spell(place):
    """``(((None, "conditions"), "bands"), 0)`` as ``conditions.bands[0]``."""
    parts = []
    while place is not None:
        place, key = place
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "".join(reversed(parts)).lstrip(".") or "the body"


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser (Django's body limit applies) with nesting bounded."""

    def parse(self, stream, media_type=None, parser_context=None):
        return loads_bounded(stream.read())


def json_items(stream, *, item_bytes, item_values):
    """The items of a JSON array read from ``stream`` (or the one value, when the body is not an
    array), each decoded as the reading reaches it, so that memory holds one item, not the body.

    A whole body decoded at once costs many times its size when it is many small values
    (``[[],[],…]`` takes about 30 bytes of memory a byte); here an item is refused, with
    ParseError naming it, when its text passes ``item_bytes`` or holds more than
    ``item_values`` values (counted on its text, over-counting commas inside strings). Depth,
    NaN and Infinity are refused as ``loads_bounded`` does; a NUL in text is left to the
    caller's judgement of each item. A body that is not JSON, or is cut short, raises ParseError
    when the reading reaches the fault: callers store what they are given in one transaction."""
    reader = _JSONText(stream)
    decoder = json.JSONDecoder(parse_constant=_refuse_constant)
    if reader.next_char() != "[":
        if reader.next_char() is None:
            raise ParseError("the body is empty")
        yield _item(reader, decoder, "the body", item_bytes, item_values, MAX_JSON_DEPTH)
    else:
        reader.position += 1
        index = 0
        while reader.next_char() != "]" or index:
            yield _item(reader, decoder, f"item {index}", item_bytes, item_values, MAX_JSON_DEPTH - 1)
            index += 1
            separator = reader.next_char()
            if separator == "]":
                break
            if separator is None:
                raise ParseError("the body is cut short: it ends before the list's closing ']'")
            if separator != ",":
                raise ParseError(f"the body is not JSON: expected ',' or ']' after item {index - 1}")
            reader.position += 1
        reader.position += 1
    if reader.next_char() is not None:
        raise ParseError("the body is not JSON: there is more after its value")


def _item(reader, decoder, name, item_bytes, item_values, depth):
    """Decode the value at the reader's position, reading on until it is complete; ``depth`` is
    what the body's nesting limit leaves it (one level less inside the list)."""
    while True:
        if len(reader.text) - reader.position > READ_BYTES:  # a long item: count before decoding it
            _check_values(reader.text, reader.position, len(reader.text), name, item_values)
        try:
            value, end = decoder.raw_decode(reader.text, reader.position)
        except RecursionError:
            raise ParseError(f"{name} nests JSON deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError as error:
            # Most likely the value goes on past what has been read: read more and try again.
            # Only at the end of the body, or past the item's limit, is it the body's fault.
            if reader.read_more(item_bytes):
                continue
            if len(reader.text) - reader.position > item_bytes:
                raise ParseError(f"{name} is longer than {item_bytes:,} bytes") from None
            if getattr(error, "pos", 0) >= len(reader.text) or str(error).startswith("Unterminated"):
                raise ParseError(f"the body is cut short: it ends inside {name}") from None
            raise ParseError(f"the body is not JSON: {name}: {getattr(error, 'msg', error)}") from None
        if end - reader.position > item_bytes:
            raise ParseError(f"{name} is longer than {item_bytes:,} bytes")
        _check_values(reader.text, reader.position, end, name, item_values)
        if _walk(value, depth, refuse_nul=False):
            raise ParseError(f"{name} nests JSON deeper than {MAX_JSON_DEPTH} levels")
        reader.position = end
        return value


def _check_values(text, start, end, name, most):
    if sum(text.count(mark, start, end) for mark in ",[{") > most:
        raise ParseError(f"{name} holds more than {most:,} values")


class _JSONText:
    """The body's text, read a megabyte at a time, with what has been decoded let go."""

    SPACE = re.compile(r"[ \t\n\r]*")

    def __init__(self, stream):
        self.stream, self.text, self.position, self.ended = stream, "", 0, False
        self.decode = codecs.getincrementaldecoder("utf-8")().decode

    def read_more(self, item_bytes):
        """Read another megabyte: False at the end of the body, or when what is being decoded
        is already past ``item_bytes``."""
        if self.ended or len(self.text) - self.position > item_bytes:
            return False
        chunk = self.stream.read(READ_BYTES)
        try:
            more = self.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            raise ParseError(f"the body is not UTF-8 text: {error}") from None
        self.ended = not chunk
        self.text, self.position = self.text[self.position :] + more, 0
        return True

    def next_char(self):
        """The next character that is not white space, not consumed; None at the end of the body."""
        while True:
            self.position = self.SPACE.match(self.text, self.position).end()
            if self.position < len(self.text):
                return self.text[self.position]
            if not self.read_more(0):
                return None
