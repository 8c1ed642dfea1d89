"""One domain error hierarchy, with its HTTP status and CLI exit code in one place."""

from __future__ import annotations


class GridwatchError(Exception):
    """Base of every error a user may see; ``code`` is a stable machine-readable name."""

    code = "error"
    http_status = 500
    exit_code = 1

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UsageError(GridwatchError):
    """The request or command was malformed."""

    code = "bad_request"
    http_status = 400
    exit_code = 2


class InputError(GridwatchError):
    """An input file or body cannot be read at all."""

    code = "invalid_input"
    http_status = 422
    exit_code = 1


class TooManyRejects(InputError):
    """An input had more rejected rows than a batch may keep; the whole input was refused."""

    code = "too_many_rejects"


class NotFound(GridwatchError):
    """The thing asked for does not exist."""

    code = "not_found"
    http_status = 404
    exit_code = 1


class Conflict(GridwatchError):
    """The action is refused by a business rule (e.g. a sign-off that fails a condition)."""

    code = "conflict"
    http_status = 409
    exit_code = 1


class Unauthorized(GridwatchError):
    """No key, or an unknown key."""

    code = "unauthorized"
    http_status = 401
    exit_code = 1


class Forbidden(GridwatchError):
    """The key's role does not allow this."""

    code = "forbidden"
    http_status = 403
    exit_code = 1


class PayloadTooLarge(GridwatchError):
    """The body is over the configured limit."""

    code = "payload_too_large"
    http_status = 413
    exit_code = 1


class DatabaseError(GridwatchError):
    """The database cannot be reached or set up."""

    code = "database_unavailable"
    http_status = 503
    exit_code = 1


class BrokerError(GridwatchError):
    """The MQTT broker cannot be reached, started or set up."""

    code = "broker_unavailable"
    http_status = 503
    exit_code = 1
