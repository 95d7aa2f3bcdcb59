"""Checked access to untrusted JSON: shapes, integers and short previews for messages.

Any tenant can create pods, so every field is checked before use; a value of the
wrong shape raises ModelError naming the field, never another exception.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Dict, Mapping, Sequence

from scheduler.core.model import INT32_MAX, INT32_MIN, ModelError

if TYPE_CHECKING:  # typing.TypeGuard is Python 3.10+; only the type checker needs it
    from typing_extensions import TypeGuard

EMPTY: Mapping[str, Any] = MappingProxyType({})
MALFORMED = (AttributeError, TypeError, LookupError, ValueError, ArithmeticError, RecursionError)
"""What hostile JSON of the wrong shape can raise while we walk it; all of it becomes ModelError."""


def clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def preview(value: Any, limit: int = 40) -> str:
    """A short repr for messages: hostile values can be huge, and repr() of a huge int raises."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"<{value.bit_length()}-bit integer>"
    if isinstance(value, str):
        return repr(clip(value, limit))
    try:
        return clip(repr(value), limit)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def is_int(value: Any) -> TypeGuard[int]:
    """A JSON integer: bool is an int subclass in Python but not here."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_int32(value: Any) -> TypeGuard[int]:
    return is_int(value) and INT32_MIN <= value <= INT32_MAX


def as_object(value: Any, where: str) -> Mapping[str, Any]:
    """A JSON object field; absent or empty (any falsy value, as `x or {}` did) means empty."""
    if type(value) is dict:
        return value
    if value is None:  # absent: the common case, and cheaper than the Mapping check below
        return EMPTY
    if isinstance(value, Mapping):
        return value
    if not value:
        return EMPTY
    raise ModelError(f"{where} must be an object, got {type(value).__name__}")


def as_array(value: Any, where: str) -> Sequence[Any]:
    """A JSON array field; absent (or empty/falsy) means empty."""
    if type(value) is list or isinstance(value, tuple):
        return value
    if not value:
        return ()
    raise ModelError(f"{where} must be a list, got {type(value).__name__}")


def as_text(value: Any, default: str, where: str) -> str:
    """A JSON string field; absent or empty gives `default`."""
    if type(value) is str or isinstance(value, str):
        return value or default
    if not value:
        return default
    raise ModelError(f"{where} must be a string, got {preview(value)}")


def as_string_map(value: Any, where: str) -> Dict[str, str]:
    """Labels and annotations: map[string]string, as the API defines them."""
    result = dict(as_object(value, where))
    for key, item in result.items():
        if not (isinstance(key, str) and isinstance(item, str)):
            raise ModelError(f"{where} must map strings to strings, got {preview(key)}: {preview(item)}")
    return result
