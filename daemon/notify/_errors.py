"""What can go wrong when a customer message leaves the truck, in the terms the Sender acts on.

The Sender only needs three answers from an error: may the same request be tried again
(`permanent`), could the request have reached Twilio even though we got no answer
(`ambiguous`: look Twilio's log up before any resend, or the customer gets it twice), and
what to tell a dispatcher (`code`, `status`, the scrubbed message).
"""
from __future__ import annotations


class NotifyError(Exception):
    """A message could not be handed to the provider.

    `code` is the provider's error code (Twilio 21211, 21610, ...) when there is one,
    `status` the HTTP status when there was an HTTP answer. The text never holds secrets
    and masks phone numbers, so it can go to logs and MQTT as is.
    """

    permanent: bool = False
    ambiguous: bool = False

    def __init__(self, reason: str, *, code: int | None = None, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.status = status
        self.retry_after = retry_after  # seconds the provider asked us to wait, if it said


class PermanentError(NotifyError):
    """Resending the same request cannot succeed (bad number, STOP, config)."""

    permanent = True


class InvalidNumber(PermanentError):
    """Not a valid E.164 number, or a country outside the allowed list (21211)."""


class Unsubscribed(PermanentError):
    """The customer replied STOP to this sender (21610): we must not message them again."""


class NotMobile(PermanentError):
    """An SMS to a landline (21614); a voice call may still reach the customer."""


class TransientError(NotifyError):
    """Worth retrying later with backoff: rate limits, provider outages, network trouble."""


class RateLimited(TransientError):
    """429 / 20429: Twilio refused the request before creating anything."""


class ProviderUnavailable(TransientError):
    """A 5xx answer. Treated as ambiguous: a gateway in front of Twilio can time out after
    the message was created, so the log is checked before a resend."""

    ambiguous = True


class NetworkError(TransientError):
    """No HTTP answer at all (refused, reset, timeout). The request may have been
    processed, so the Sender looks the message up before sending again."""

    ambiguous = True
