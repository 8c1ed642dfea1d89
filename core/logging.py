"""Logging configuration, done once by the entry points."""

from __future__ import annotations

import logging


class HideUrlSecrets(logging.Filter):
    """httpx logs every request's full URL at INFO: keep only its scheme, host and port.

    Neither the notification gateway's nor the alert webhook's credentials, path or query may
    reach a log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite URL arguments; never drops a record."""
        if isinstance(record.args, tuple):
            record.args = tuple(_bare(a) for a in record.args)
        return True


def _bare(arg: object) -> object:
    scheme, host, port = (getattr(arg, k, None) for k in ("scheme", "host", "port"))
    if type(arg).__name__ != "URL" or not isinstance(scheme, str) or not isinstance(host, str):
        return arg
    return f"{scheme}://{host}{f':{port}' if port else ''}/…"


def hide_url_secrets() -> None:
    """Put ``HideUrlSecrets`` on the ``httpx`` logger (once)."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, HideUrlSecrets) for f in httpx_log.filters):
        httpx_log.addFilter(HideUrlSecrets())


class OneLineFormatter(logging.Formatter):
    """Log records with an exception as one line (the exception's type and message), no traceback."""

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def]  # noqa: N802 - logging's name
        """The last line of the exception instead of its traceback."""
        exc = ei[1]
        return f"  ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        """No stack dumps either."""
        return ""


def configure(debug: bool = False, tracebacks: bool | None = None, service: bool = False) -> None:
    """Configure the root logger for a command or the server.

    Commands show a failure in one line unless ``--debug``; the server keeps full tracebacks in
    its log (they never reach an HTTP client). A long-running ``service`` (serve, stream) logs
    at INFO, so each batch and job leaves a line.
    """
    full = debug if tracebacks is None else tracebacks
    hide_url_secrets()
    handler = logging.StreamHandler()
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt) if full else OneLineFormatter(fmt))
    # basicConfig does nothing when the root logger already has handlers (e.g. under pytest).
    level = logging.DEBUG if debug else logging.INFO if service else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler])
