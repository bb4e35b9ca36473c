"""The API's JSON parsing with a bound on nesting: Python's decoder recurses once per level, so
a body of ten thousand ``[`` would otherwise end in a RecursionError (a 500), and a structure
deeper than any real payload is refused before any code walks it. Text holding a NUL
(``\u0000``) is refused here too: PostgreSQL stores no NUL in text or JSONB, so any such value
that reached a JSON field would come back from the database as a 500."""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32  # a ZTF packet nests 3 deep, an alert filter's conditions about 4


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
