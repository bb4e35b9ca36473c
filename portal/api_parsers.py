"""The API's JSON parsing with a bound on nesting: Python's decoder recurses once per level, so
a body of ten thousand ``[`` would otherwise end in a RecursionError (a 500), and a structure
deeper than any real payload is refused before any code walks it."""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32  # a ZTF packet nests 3 deep, an alert filter's conditions about 4


def loads_bounded(text):
    """``json.loads(text)``, or ParseError when it is not strict JSON (NaN and Infinity are not
    JSON) or nests deeper than MAX_JSON_DEPTH."""
    too_deep = f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ParseError(too_deep) from None
    except ValueError as error:
        raise ParseError(f"the body is not JSON: {error}") from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise ParseError(too_deep)
    return value


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON value")


def _deeper_than(value, limit):
    """Whether ``value`` has arrays or objects nested more than ``limit`` deep (walked without recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser (Django's body limit applies) with nesting bounded."""

    def parse(self, stream, media_type=None, parser_context=None):
        return loads_bounded(stream.read())
