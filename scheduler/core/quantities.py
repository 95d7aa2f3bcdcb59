"""Kubernetes quantities ("500m", "1Gi") -> the core's bounded integer amounts.

The parser itself is injected -- a `Quantities` is built with it, and handed to
the parse functions -- so the core stays pure while the adapters give it
`kubernetes.utils.parse_quantity` (see `scheduler.quantity`).  Every amount
comes out in 0..INT64_MAX (the cache keeps them in int64 columns) or raises
ModelError, never another exception, whatever the JSON holds.
"""
from __future__ import annotations

import math
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from functools import lru_cache
from typing import Any, Callable, Mapping, Optional

from scheduler.core.model import CPU, INT64_MAX, ModelError, Resources
from scheduler.core.untrusted import MALFORMED, clip, preview

MAX_QUANTITY_LENGTH = 64
"""Longest quantity string parsed: real ones are a few characters; this bounds the parser's work."""
AMOUNT_CACHE_SIZE = 4096
"""Distinct quantity strings a Quantities remembers (bounded, so unique junk cannot grow memory)."""
_MAX_CORES = Decimal(INT64_MAX) / 1000
_MAX_UNITS = Decimal(INT64_MAX)
_EXACT = Context(prec=2 * MAX_QUANTITY_LENGTH, Emin=MIN_EMIN, Emax=MAX_EMAX)
_EXPECTED_QUANTITY = "expected a finite, non-negative Kubernetes quantity such as 500m or 1Gi"

QuantityParser = Callable[[Any], Decimal]
"""Text or number -> Decimal; raises on what is not a quantity (kubernetes.utils.parse_quantity does both)."""


def _bad_quantity(resource: str, value: Any, problem: str) -> ModelError:
    return ModelError(f"invalid quantity {preview(value)} for {resource}: {problem}; {_EXPECTED_QUANTITY}")


class Quantities:
    """Reads quantities with the parser it is given, bounds them, and remembers the strings it has read.

    The core never picks a parser itself: whoever parses objects (the daemon, the
    simulator, `plan`, `bench`, tests) builds one of these and passes it in.
    """

    def __init__(self, parser: QuantityParser, cache_size: int = AMOUNT_CACHE_SIZE) -> None:
        self.parser = parser
        # quantity strings repeat (every replica of a workload has the same ones): parse each once
        self._text_amount = lru_cache(maxsize=cache_size)(self._scaled_amount)

    def amount(self, resource: str, value: Any) -> int:
        """Parse one quantity to the core's integer unit (millicores for cpu), rounded up.

        The result is in 0..INT64_MAX; NaN, infinities, negative and too large values
        raise ModelError (the bound is checked before scaling, so "1e999999999" is cheap).
        """
        if type(value) is str:
            return self._text_amount(resource, value)
        return self._scaled_amount(resource, value)

    def resources(self, raw: Optional[Mapping[str, Any]]) -> Resources:
        """Parse a ResourceList (`{"cpu": "500m", "memory": "1Gi"}`)."""
        if not raw:
            return {}
        if type(raw) is not dict and not isinstance(raw, Mapping):  # JSON objects are dicts: skip the ABC check
            raise ModelError(f"resource list must be a mapping, got {type(raw).__name__}")
        result: Resources = {}
        for name, value in raw.items():
            if not isinstance(name, str):
                raise ModelError(f"resource name {preview(name)} must be a string")
            result[name] = self.amount(name, value)
        return result

    def _decimal(self, resource: str, value: Any) -> Decimal:
        """Run the parser; whatever it raises or returns for garbage becomes ModelError."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise _bad_quantity(resource, value, f"a {type(value).__name__}, not a string or number")
        if isinstance(value, str) and len(value) > MAX_QUANTITY_LENGTH:
            raise _bad_quantity(resource, value, f"longer than {MAX_QUANTITY_LENGTH} characters")
        try:
            quantity = self.parser(value)
            return quantity if isinstance(quantity, Decimal) else Decimal(quantity)
        except MALFORMED as exc:
            raise _bad_quantity(resource, value, clip(str(exc), 80)) from None

    def _scaled_amount(self, resource: str, value: Any) -> int:
        quantity = self._decimal(resource, value)
        if not quantity.is_finite():
            raise _bad_quantity(resource, value, "not a finite number")
        if quantity < 0:
            raise _bad_quantity(resource, value, "must not be negative")
        if resource == CPU:
            if quantity > _MAX_CORES:
                raise _bad_quantity(resource, value, f"more than {INT64_MAX} millicores")
            return int(math.ceil(quantity.scaleb(3, _EXACT)))  # exact: `* 1000` would round to 28 digits or underflow
        if quantity > _MAX_UNITS:
            raise _bad_quantity(resource, value, f"more than {INT64_MAX}")
        return int(math.ceil(quantity))
