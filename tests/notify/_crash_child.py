"""A daemon-shaped process for the crash test: outbox on a file, Sender, real TwilioNotifier.
It is killed with SIGKILL while its POST to Twilio is in flight."""
import asyncio
import sys

from forewarn.daemon.notify import Sender, TwilioNotifier
from forewarn.daemon.outbox import Outbox
from forewarn.daemon.store import open_db
from tests.notify.conftest import FROM, make_msg


async def main(db: str, api_base: str, sid: str, token: str) -> None:
    outbox = Outbox(open_db(db))
    notifier = TwilioNotifier(sid, token, from_=FROM, api_base=api_base, timeout=60)
    outbox.enqueue(make_msg())
    sender = Sender(outbox, notifier, on_event=lambda ev: None, backoff=(0.05, 0.2))
    await sender.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
