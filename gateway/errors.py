"""Error tree of the gateway package.

Bad configuration and bad payloads are `proximity.errors.InputError` (file or topic, line,
field). Problems with the machine a user can fix (no adapter, adapter off, no permission) are
`ScannerError` with an actionable message.
"""

from __future__ import annotations

from proximity.errors import InputError, ProximityError


class GatewayError(ProximityError):
    """Root of errors raised by the gateway package."""


class ScannerError(GatewayError):
    """The Bluetooth scanner cannot run; the message says what to do about it."""


class ParentGoneError(GatewayError):
    """The process that started this one (``PARENT_ENV``) has gone: stop as on Ctrl-C."""


class PayloadError(InputError):
    """A message on a subscribed topic that cannot be accepted (it goes to the dead letter)."""

    def __init__(self, topic: str, field: str | None, message: str) -> None:
        super().__init__(f"mqtt:{topic}", None, field, message)
        self.topic = topic


__all__ = ["GatewayError", "InputError", "ParentGoneError", "PayloadError", "ScannerError"]
