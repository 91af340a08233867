"""Customer notification channels (Twilio SMS/voice, console) and their delivery loop.

The alert policy renders a text (`render`), wraps it in an `OutgoingMessage` and enqueues
it in the `forewarn.daemon.outbox.Outbox`; the `Sender` owns delivery from there.
"""
from ._console import ConsoleNotifier
from ._errors import (InvalidNumber, NetworkError, NotifyError, NotMobile, PermanentError,
                      ProviderUnavailable, RateLimited, TransientError, Unsubscribed)
from ._gsm import gsm_length, is_gsm, sms_length
from ._message import KINDS, DeliveryStatus, Notifier, OutgoingMessage, SendResult
from ._phone import mask_phone, mask_phones_in, normalize_phone
from ._sender import Sender
from ._templates import DAY_KEYS, TemplateError, render
from ._twilio import TwilioNotifier

__all__ = [
    "ConsoleNotifier", "DAY_KEYS", "DeliveryStatus", "InvalidNumber", "KINDS", "NetworkError", "NotMobile", "Notifier",
    "NotifyError", "OutgoingMessage", "PermanentError", "ProviderUnavailable", "RateLimited",
    "Sender", "SendResult", "TemplateError", "TransientError", "TwilioNotifier", "Unsubscribed",
    "gsm_length", "is_gsm", "mask_phone", "mask_phones_in", "normalize_phone", "render", "sms_length",
]
