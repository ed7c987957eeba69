"""botocore's data files parsed a few members at a time, so that the event loop runs meanwhile.

botocore parses a data file with one ``json.loads`` call, a C call that holds the GIL throughout:
SageMaker's 2.5 MB service model and the 1.2 MB endpoints file each stall every other thread of the
process for some 50 to 100 ms, however the parse is moved off the event loop. Parsed here, the
members of the outer containers are decoded one by one (each a short C call), and the interpreter
hands the GIL to a waiting thread between two of them.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import OrderedDict
from typing import Any

from botocore.loaders import JSONFileLoader

# Containers this deep are decoded member by member; below, whole. Four reach single services of
# the endpoints file (partitions, a partition, its services) and single shapes of a service model.
STEPPED_DEPTH = 4

_DECODER = json.JSONDecoder(object_pairs_hook=OrderedDict)
# JSON's four whitespace characters (RFC 8259)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def loads_in_steps(text: str) -> Any:
    """``json.loads(text, object_pairs_hook=OrderedDict)``, as botocore parses its data files, with
    the GIL free between the members of containers down to :data:`STEPPED_DEPTH`."""
    value, end = _decode(text, _skip(text, 0), STEPPED_DEPTH)
    end = _skip(text, end)
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _skip(text: str, index: int) -> int:
    match = _WHITESPACE.match(text, index)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _decode(text: str, index: int, depth: int) -> tuple[Any, int]:
    opening = text[index : index + 1]
    if depth == 0 or opening not in ("{", "["):
        return _DECODER.raw_decode(text, index)
    closing = "}" if opening == "{" else "]"
    index = _skip(text, index + 1)
    # an object's (key, value) pairs, or an array's items
    members: list[Any] = []
    while text[index : index + 1] != closing or members:
        if opening == "{":
            key, index = _DECODER.raw_decode(text, index)
            if not isinstance(key, str):
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, index)
            index = _skip(text, index)
            if text[index : index + 1] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, index)
            value, index = _decode(text, _skip(text, index + 1), depth - 1)
            members.append((key, value))
        else:
            value, index = _decode(text, index, depth - 1)
            members.append(value)
        index = _skip(text, index)
        separator = text[index : index + 1]
        if separator == closing:
            break
        if separator != ",":
            raise json.JSONDecodeError(f"Expecting ',' delimiter or '{closing}'", text, index)
        index = _skip(text, index + 1)
    return (OrderedDict(members) if opening == "{" else members), index + 1


class SteppedJSONFileLoader(JSONFileLoader):
    """botocore's file loader, the same data, parsed by :func:`loads_in_steps`."""

    def load_file(self, file_path: str) -> Any:
        # botocore's own order: a plain file wins over a compressed one
        if os.path.isfile(file_path + ".json"):
            with open(file_path + ".json", "rb") as plain:
                return loads_in_steps(plain.read().decode("utf-8"))
        if os.path.isfile(file_path + ".json.gz"):
            with gzip.open(file_path + ".json.gz", "rb") as compressed:
                return loads_in_steps(compressed.read().decode("utf-8"))
        return None
