"""Telephony errors: one root, specific errors below it; web maps them to HTTP statuses."""

from __future__ import annotations

from crm_core.errors import CallboardError, NotFound, ServiceUnavailable

__all__ = [
    "AmiActionFailed",
    "AmiLoginFailed",
    "AmiTimeout",
    "ChannelNotFound",
    "PbxUnavailable",
    "TelephonyError",
]


class TelephonyError(CallboardError):
    """Root of every telephony error."""

    code = "telephony_error"


class PbxUnavailable(TelephonyError, ServiceUnavailable):
    """The PBX cannot be reached right now (not connected, connection lost mid-action)."""

    code = "pbx_unavailable"


class AmiLoginFailed(PbxUnavailable):
    """The PBX refused our AMI credentials; retrying will not help until they are fixed."""

    code = "pbx_login_failed"


class AmiTimeout(PbxUnavailable):
    """An AMI action got no complete answer in time."""

    code = "pbx_timeout"


class AmiActionFailed(TelephonyError):
    """Asterisk answered an action with an error; ``message`` is Asterisk's own text."""

    code = "pbx_action_failed"

    def __init__(self, action: str, message: str) -> None:
        super().__init__(message, details={"action": action})
        self.action = action


class ChannelNotFound(AmiActionFailed, NotFound):
    """The channel named in an action does not exist (any more)."""

    code = "channel_not_found"
