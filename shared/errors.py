"""The pipeline's exceptions, and the one place that maps them to HTTP status codes.

    PipelineError                 base; never caught as a whole except at an entry point
    ├── ConfigError               a setting is missing or invalid (names the variable)
    ├── BadRequest          400   the caller's input is wrong (lists every offending field)
    │   ├── Unauthorized    401   missing or wrong credentials
    │   ├── Forbidden       403   right credentials, but not for this
    │   ├── MethodNotAllowed 405  the route does not take this HTTP method
    │   ├── InvalidInput    422   well-formed input whose values are wrong (lists field and row)
    │   └── PayloadTooLarge 413   body or row count over a limit
    ├── UpstreamError       502   a service we call answered nonsense or failed
    └── ServiceUnavailable  503   a service we need is down, or nothing to serve yet
"""

from __future__ import annotations

MAX_DETAILS = 100  # an answer lists the first ones and says how many there were (`detail_count`)


class PipelineError(RuntimeError):
    status = 500

    def __init__(self, message: str, *, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_body(self) -> dict:
        body: dict = {"error": self.message}
        if self.details:
            body["details"] = self.details[:MAX_DETAILS]
            body["detail_count"] = len(self.details)
        return body


class ConfigError(PipelineError):
    status = 500


class BadRequest(PipelineError):
    status = 400


class Unauthorized(BadRequest):
    status = 401


class Forbidden(BadRequest):
    status = 403


class PayloadTooLarge(BadRequest):
    status = 413


class MethodNotAllowed(BadRequest):
    status = 405


class InvalidInput(BadRequest):
    status = 422


class UpstreamError(PipelineError):
    status = 502


class ServiceUnavailable(PipelineError):
    status = 503

