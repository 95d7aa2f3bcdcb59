"""API errors as the real server words them: every failure is a ``Status`` object.

Clients (the kubernetes package, our KubeApi) branch on ``code`` and
``reason``, so these must match kube-apiserver's, message shapes included.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Tuple

from scheduler.testing.apiserver.objects import JSON

if TYPE_CHECKING:
    from scheduler.testing.apiserver.resources import Resource

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


def status_object(code: int, message: str, reason: Optional[str] = None,
                  details: Optional[JSON] = None) -> JSON:
    st: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Success" if code < 400 else "Failure",
                "message": message, "reason": reason or REASONS.get(code, "Unknown"),
                "code": code}
    if code < 400:
        st.pop("message")
        st.pop("reason")
    if details:
        st["details"] = details
    return st


class ApiError(Exception):
    """An API error answered as a Status object."""

    def __init__(self, code: int, message: str, reason: Optional[str] = None,
                 details: Optional[JSON] = None, retry_after: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        if retry_after is not None:
            details = dict(details or {}, retryAfterSeconds=retry_after)
        self.status = status_object(code, message, reason, details)


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, f'{res.qualified} "{name}" not found', "NotFound",
                    {"name": name, "group": res.group, "kind": res.plural})


def conflict(res: Resource, name: str, why: str) -> ApiError:
    return ApiError(409, f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
                    "Conflict", {"name": name, "group": res.group, "kind": res.plural})


def invalid(res: Resource, name: str, causes: List[Tuple[str, str]]) -> ApiError:
    msg = "; ".join(f"{f}: {m}" for f, m in causes)
    return ApiError(422, f'{res.kind} "{name}" is invalid: {msg}', "Invalid",
                    {"name": name, "group": res.group, "kind": res.kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f}
                                for f, m in causes]})


def no_such_resource() -> ApiError:
    """The answer for a URL that names no served resource (and for podgroups without the CRD)."""
    return ApiError(404, "the server could not find the requested resource", "NotFound")
