"""JSON as the runtime writes its records and JSON outputs: keys sorted, on one line.

The encoders are made once: `json.dumps` given any option makes a new encoder on every
call, a cost each message paid four times.

>>> dumps_sorted({"b": 1, "a": [1.5, None]})
'{"a": [1.5, null], "b": 1}'
>>> dumps_sorted({"x": float("nan")}, strict=True)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: Out of range float values are not JSON compliant...
"""

from __future__ import annotations

import json

_SORTED = json.JSONEncoder(sort_keys=True)
_SORTED_STRICT = json.JSONEncoder(sort_keys=True, allow_nan=False)


def dumps_sorted(value, *, strict: bool = False) -> str:
    """`json.dumps(value, sort_keys=True)`; `strict` refuses NaN and infinities (as
    `allow_nan=False`: readers of strict JSON would refuse them)."""
    return (_SORTED_STRICT if strict else _SORTED).encode(value)
