"""Sender: the delivery loop against the real twilio library and the fake Twilio server,
with the outbox on a real SQLite file."""
import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from forewarn.daemon.notify import ConsoleNotifier, OutgoingMessage
from forewarn.daemon.outbox import Outbox
from forewarn.daemon.store import open_db

from .conftest import PHONE, Events, fast_sender, make_msg, running


def go(coro):
    return asyncio.run(coro)


def send_one(outbox, notifier, until: str, msg: OutgoingMessage | None = None, **sender_kw) -> tuple[Events, dict]:
    """Run a sender over one enqueued message (`make_msg()` unless given) until it emits an
    `until` event: (all the events, that one)."""
    async def scenario():
        ev = Events()
        async with running(fast_sender(outbox, notifier, ev, **sender_kw)):
            outbox.enqueue(msg if msg is not None else make_msg())
            [e] = await ev.wait_type(until)
        return ev, e

    return go(scenario())


def crash_after_twilio_accepted(db_path, notifier):
    """What a crash mid-send leaves behind: the row marked sending, the message created at
    Twilio, its answer never recorded. (connection, outbox) of the process that crashed."""
    conn = open_db(db_path)
    ob = Outbox(conn)
    msg = make_msg()
    ob.enqueue(msg)
    ob.mark_sending(msg.key)
    go(notifier.send(msg))
    return conn, ob


def test_sms_is_sent_once_then_followed_to_delivered(twilio_server, outbox, notifier):
    async def scenario():
        ev = Events()
        sender = fast_sender(outbox, notifier, ev)
        async with running(sender):
            assert outbox.enqueue(make_msg())
            sender.kick()
            [sent] = await ev.wait_type("alert_sent")
            [done] = await ev.wait_type("alert_delivered")
        return sent, done

    sent, done = go(scenario())
    [row] = outbox.rows()
    assert row.state == "sent" and row.delivery_status == "delivered" and row.sid == sent["sid"]
    assert sent["to"] == "+1416555**23" and PHONE not in str(sent)
    assert {k: sent[k] for k in ("key", "route_id", "stop_id", "kind", "channel")} == \
        {"key": "R1/S1/window/0", "route_id": "R1", "stop_id": "S1", "kind": "window", "channel": "sms"}
    assert done["sid"] == sent["sid"]
    assert len(twilio_server.posts()) == 1


def test_invalid_number_fails_without_retry_and_emits_an_event(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", 400, code=21211)

    ev, failed = send_one(outbox, notifier, "alert_failed")
    assert failed["code"] == 21211 and failed["to"] == "+1416555**23" and PHONE not in failed["reason"]
    [row] = outbox.rows()
    assert row.state == "failed" and row.code == 21211 and row.attempts == 1
    assert len(twilio_server.posts()) == 1 and ev.of("alert_sent") == []


def test_stop_reply_is_permanent_too(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", 400, code=21610)

    send_one(outbox, notifier, "alert_failed")
    assert outbox.rows()[0].code == 21610 and len(twilio_server.posts()) == 1


def test_500_then_201_sends_once_after_checking_the_log(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", 500)

    send_one(outbox, notifier, "alert_sent")
    assert len(twilio_server.created()) == 1 and len(twilio_server.posts()) == 2
    seq = [(r.method, r.sid is None) for r in twilio_server.requests][:4]
    assert seq == [("POST", True), ("GET", True), ("GET", True), ("POST", True)]   # lookup before resend
    [row] = outbox.rows()
    assert row.state == "sent" and row.attempts == 2 and row.sid == twilio_server.created()[0]["sid"]


def test_429_backs_off_then_sends_once(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", 429, code=20429)

    send_one(outbox, notifier, "alert_sent", backoff=(0.4, 2.0))
    first, second = twilio_server.posts()
    assert second.at - first.at >= 0.19         # backoff 0.4 s with jitter in [0.5, 1]
    assert len(twilio_server.created()) == 1
    # a 429 is a refusal: nothing was created, so no lookup is needed before the resend
    assert [r.method for r in twilio_server.requests] == ["POST", "POST"]


def test_gives_up_after_max_attempts(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", 503, times=3)

    _, f = send_one(outbox, notifier, "alert_failed", max_attempts=3, backoff=(0.01, 0.02))
    assert "gave up after 3 attempts" in f["reason"]
    assert len(twilio_server.posts()) == 3 and twilio_server.created() == []


def test_dropped_connection_after_twilio_accepted_is_not_resent(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", drop=True, create=True)

    _, s = send_one(outbox, notifier, "alert_sent")
    [created] = twilio_server.created()
    assert s["sid"] == created["sid"] and s["reconciled"] is True
    assert len(twilio_server.posts()) == 1


def test_dropped_connection_before_twilio_accepted_is_resent_once(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", drop=True, create=False)

    send_one(outbox, notifier, "alert_sent")
    assert len(twilio_server.posts()) == 2 and len(twilio_server.created()) == 1


def test_restart_after_crash_in_sending_reconciles_from_twilio_log(twilio_server, db_path, notifier):
    # Process 1: marks sending, the request reaches Twilio, the process dies before the answer.
    conn, _ = crash_after_twilio_accepted(db_path, notifier)
    conn.close()

    # Process 2: a new Outbox on the same file, reconcile before anything else.
    ob2 = Outbox(open_db(db_path))
    ev = Events()

    async def restart():
        sender = fast_sender(ob2, notifier, ev)
        await sender.reconcile()
        async with running(sender):
            await ev.wait_type("alert_delivered")

    go(restart())
    [row] = ob2.rows()
    assert row.state == "sent" and row.sid == twilio_server.created()[0]["sid"]
    assert len(twilio_server.posts()) == 1 and ev.of("alert_sent")[0]["reconciled"] is True


def test_process_killed_while_twilio_holds_the_request_is_not_resent(twilio_server, db_path, notifier):
    twilio_server.fail_next("Messages", hang=True, create=True)   # accepted, answer never comes
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.notify._crash_child", str(db_path), twilio_server.url,
         twilio_server.account_sid, twilio_server.auth_token],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stderr=subprocess.PIPE)
    try:
        assert twilio_server.wait_for(lambda f: len(f.posts()) == 1, timeout=30), child.stderr.read1()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    twilio_server.release_hung()

    ob = Outbox(open_db(db_path))
    [row] = ob.rows()
    assert row.state == "sending"           # what the killed process left behind

    async def restart():
        ev = Events()
        sender = fast_sender(ob, notifier, ev)
        await sender.reconcile()
        async with running(sender):
            await ev.wait_type("alert_delivered")
        return ev

    ev = go(restart())
    [created] = twilio_server.created()
    assert ob.rows()[0].sid == created["sid"] and ob.rows()[0].state == "sent"
    assert len(twilio_server.posts()) == 1
    assert ev.of("alert_sent")[0]["reconciled"] is True


def test_restart_after_crash_before_the_request_left_sends_once(twilio_server, db_path, notifier):
    conn = open_db(db_path)
    ob = Outbox(conn)
    ob.enqueue(make_msg())
    ob.mark_sending("R1/S1/window/0")
    conn.close()

    ob2 = Outbox(open_db(db_path))

    async def restart():
        ev = Events()
        async with running(fast_sender(ob2, notifier, ev)):   # run() reconciles first by itself
            await ev.wait_type("alert_sent")

    go(restart())
    assert len(twilio_server.posts()) == 1 and ob2.rows()[0].state == "sent"


def test_lookup_failure_blocks_resend_until_the_log_can_be_read(twilio_server, db_path, notifier):
    _, ob = crash_after_twilio_accepted(db_path, notifier)
    twilio_server.fail_next("Messages", 500, method="GET", times=2)   # the log is unreadable for a while

    async def restart():
        ev = Events()
        async with running(fast_sender(ob, notifier, ev)):
            await ev.wait_type("alert_sent")

    go(restart())
    assert len(twilio_server.posts()) == 1 and ob.rows()[0].sid == twilio_server.created()[0]["sid"]


def test_not_mobile_with_voice_fallback_makes_one_call(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", 400, code=21614)

    async def scenario():
        ev = Events()
        async with running(fast_sender(outbox, notifier, ev)):
            outbox.enqueue(make_msg(voice_fallback=True, locale="fr", text="Bonjour Ana"))
            outbox.enqueue(make_msg("R1/S2/window/0", voice_fallback=False))
            twilio_server.fail_next("Messages", 400, code=21614)  # the second one hits a landline too
            [s] = await ev.wait_type("alert_sent")
            [f] = await ev.wait_type("alert_failed")
        return s, f

    s, f = go(scenario())
    [call] = twilio_server.posts("Calls")
    assert 'language="fr-FR"' in call.form["Twiml"] and "Bonjour Ana" in call.form["Twiml"]
    assert s["channel"] == "voice" and s["sid"].startswith("CA") and s["key"] == "R1/S1/window/0"
    assert s["fallback_from"] == "sms"
    assert f["key"] == "R1/S2/window/0" and f["code"] == 21614
    rows = {r.key: r for r in outbox.rows()}
    assert rows["R1/S1/window/0"].via == "voice" and rows["R1/S1/window/0"].state == "sent"
    assert len(twilio_server.posts("Messages")) == 2


def test_undelivered_status_is_recorded_and_emitted(twilio_server, outbox, notifier):
    twilio_server.progression["Messages"] = ["queued", "sent", "undelivered"]

    ev, u = send_one(outbox, notifier, "alert_undelivered")
    assert u["to"] == "+1416555**23" and u["status"] == "undelivered" and u["code"] == 30003
    assert outbox.rows()[0].delivery_status == "undelivered" and ev.of("alert_delivered") == []
    fetches = [r for r in twilio_server.requests if r.sid]
    assert len(fetches) == 2          # polling stops at the final status


def test_unanswered_call_is_undelivered(twilio_server, outbox, notifier):
    twilio_server.progression["Calls"] = ["queued", "ringing", "no-answer"]

    send_one(outbox, notifier, "alert_undelivered", make_msg(channel="voice"))
    assert outbox.rows()[0].delivery_status == "no-answer"


def test_quiet_hours_hold_and_discard_for_a_completed_stop(twilio_server, outbox, notifier):
    async def scenario():
        ev = Events()
        sender = fast_sender(outbox, notifier, ev)
        async with running(sender):
            t0 = time.time()
            outbox.enqueue(make_msg("R1/S1/window/0", not_before=t0 + 0.3))
            outbox.enqueue(make_msg("R1/S2/approaching/0", not_before=t0 + 0.3))
            sender.kick()
            assert outbox.discard_for_stop("R1", "S2", ["approaching"]) == 1
            [s] = await ev.wait_type("alert_sent")
            assert time.time() >= t0 + 0.3
        return s

    s = go(scenario())
    assert s["key"] == "R1/S1/window/0" and len(twilio_server.posts()) == 1
    assert {r.key: r.state for r in outbox.rows()}["R1/S2/approaching/0"] == "discarded"


def test_drain_lets_the_send_in_flight_finish_and_starts_no_new_one(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", hang=True, create=True)

    async def scenario():
        ev = Events()
        sender = fast_sender(outbox, notifier, ev)
        task = asyncio.create_task(sender.run())
        outbox.enqueue(make_msg("R1/S1/window/0"))
        outbox.enqueue(make_msg("R1/S2/window/0"))
        sender.kick()
        await asyncio.to_thread(twilio_server.wait_for, lambda f: len(f.posts()) == 1)
        t = time.monotonic()
        await sender.drain(0.2)                 # in-flight send is stuck: drain gives up on time
        assert time.monotonic() - t < 1.0
        twilio_server.release_hung()
        async with asyncio.timeout(5):
            await task                          # the stuck send ends, run() returns
        return ev

    go(scenario())
    states = {r.key: r.state for r in outbox.rows()}
    assert states["R1/S2/window/0"] == "pending"        # never started
    assert states["R1/S1/window/0"] == "pending"        # answer lost: ambiguous, looked up at restart
    assert outbox.get("R1/S1/window/0").ambiguous
    assert len(twilio_server.posts()) == 1


def test_console_notifier_prints_masked_and_delivers(outbox):
    out = io.StringIO()

    async def scenario():
        ev = Events()
        async with running(fast_sender(outbox, ConsoleNotifier(out), ev)):
            outbox.enqueue(make_msg(text="Hi Ana, your driver is about 15 min away."))
            [s] = await ev.wait_type("alert_sent")
            await ev.wait_type("alert_delivered")
        return s

    s = go(scenario())
    assert s["sid"] == "console-1"
    assert out.getvalue() == "[sms to +1416555**23] Hi Ana, your driver is about 15 min away.\n"


def test_a_failing_event_handler_does_not_stop_delivery(twilio_server, outbox, notifier):
    async def scenario():
        seen = Events()

        def broken(ev):
            seen(ev)
            raise RuntimeError("mqtt down")

        async with running(fast_sender(outbox, notifier, broken)):
            outbox.enqueue(make_msg("R1/S1/window/0"))
            outbox.enqueue(make_msg("R1/S2/window/0"))
            await seen.wait_type("alert_sent", 2)

    go(scenario())
    assert len(twilio_server.created()) == 2


def test_retry_after_from_twilio_stretches_the_backoff(twilio_server, outbox, notifier):
    twilio_server.fail_next("Messages", 429, code=20429, retry_after=1)

    send_one(outbox, notifier, "alert_sent", backoff=(0.05, 5.0))
    first, second = twilio_server.posts()
    assert second.at - first.at >= 0.9
    assert len(twilio_server.created()) == 1


def test_every_send_and_failure_is_a_log_line_with_the_number_masked(twilio_server, outbox, notifier, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    twilio_server.fail_next("Messages", 400, code=21211)

    async def scenario():
        ev = Events()
        async with running(fast_sender(outbox, notifier, ev)):
            outbox.enqueue(make_msg("R1/S1/window/0"))
            outbox.enqueue(make_msg("R1/S2/window/0"))
            await ev.wait_type("alert_failed")
            await ev.wait_type("alert_sent")

    go(scenario())
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("forewarn.notify")]
    assert any(line.startswith("alert_failed R1/S1/window/0") and "+1416555**23" in line and "21211" in line
               for line in lines)
    assert any(line.startswith("alert_sent R1/S2/window/0") and "+1416555**23" in line for line in lines)
    assert PHONE not in caplog.text and twilio_server.auth_token not in caplog.text


def test_number_outside_allowed_countries_fails_without_any_request(twilio_server, outbox, notifier):
    async def scenario():
        ev = Events()
        async with running(fast_sender(outbox, notifier, ev)):
            outbox.enqueue(make_msg(to="+882351234567"))     # satellite/international network
            outbox.enqueue(make_msg("R1/S2/window/0", to="+33612345678"))
            return await ev.wait_type("alert_failed", 2)

    failed = go(scenario())
    assert all(f["code"] is None and ("country not allowed" in f["reason"] or "invalid" in f["reason"])
               for f in failed)
    assert twilio_server.requests == []


def test_voice_fallback_needs_a_from_number(twilio_server, outbox):
    from forewarn.daemon.notify import TwilioNotifier
    mss_only = TwilioNotifier(twilio_server.account_sid, twilio_server.auth_token,
                              messaging_service_sid="MG" + "1" * 32, api_base=twilio_server.url)
    twilio_server.fail_next("Messages", 400, code=21614)

    async def scenario():
        ev = Events()
        async with running(fast_sender(outbox, mss_only, ev)):
            outbox.enqueue(make_msg(voice_fallback=True))
            [f] = await ev.wait_type("alert_failed")
        return f

    f = go(scenario())
    assert f["channel"] == "voice" and "from" in f["reason"]
    assert twilio_server.posts("Calls") == [] and len(twilio_server.posts("Messages")) == 1


def test_drain_still_sends_what_is_due_then_run_returns(twilio_server, outbox, notifier):
    async def scenario():
        ev = Events()
        sender = fast_sender(outbox, notifier, ev)
        task = asyncio.create_task(sender.run())
        outbox.enqueue(make_msg("R1/S1/delivered/0"))
        outbox.enqueue(make_msg("R1/S2/delivered/0"))
        outbox.enqueue(make_msg("R1/S3/window/0", not_before=time.time() + 3600))  # held: stays
        sender.kick()
        await sender.drain(5.0)
        async with asyncio.timeout(1):
            await task
        return ev

    ev = go(scenario())
    assert {e["key"] for e in ev.of("alert_sent")} == {"R1/S1/delivered/0", "R1/S2/delivered/0"}
    assert outbox.get("R1/S3/window/0").state == "pending"


def test_a_fast_replay_clock_does_not_stretch_held_messages(twilio_server, outbox, notifier):
    t0, m0 = time.time(), time.monotonic()

    def clock():                            # log time running 600x faster than real time
        return t0 + (time.monotonic() - m0) * 600

    async def scenario():
        ev = Events()
        async with running(fast_sender(outbox, notifier, ev, clock=clock, idle=30.0, poll_status=False)):
            outbox.enqueue(make_msg(not_before=clock() + 600))   # 10 min of log time = 1 s real
            await ev.wait_type("alert_sent", timeout=10)
        return time.monotonic() - m0

    elapsed = go(scenario())
    assert elapsed < 5.0


def test_lookups_through_a_long_outage_back_off(twilio_server, db_path, notifier):
    """A lookup is not an attempt (giving up could lose a message that is not out), so its
    retries back off on their own count: they went on every backoff[0] s (a second or two in
    the daemon) for as long as the provider could not be read, a WARNING each."""
    _, ob = crash_after_twilio_accepted(db_path, notifier)
    twilio_server.fail_next("Messages", 500, method="GET", times=6)

    async def restart():
        ev = Events()
        async with running(fast_sender(ob, notifier, ev, backoff=(0.02, 5.0))):
            await ev.wait_type("alert_sent")

    go(restart())
    gets = [r.at for r in twilio_server.requests if r.method == "GET" and r.resource == "Messages"]
    gaps = [b - a for a, b in zip(gets, gets[1:])]
    assert len(gets) >= 7 and gaps[4] >= 0.02 * 2 ** 5 * 0.5      # the fifth failure: 0.32-0.64 s (was 0.01-0.02)
    assert len(twilio_server.posts()) == 1            # found in the log at last: never resent


def test_a_message_past_its_not_after_is_not_sent_but_expired(twilio_server, outbox, notifier):
    """"About 9 min away" that could not go out in those 9 minutes (no signal, the gateway off)
    is wrong now: discarded with why, an `alert_expired` event, nothing sent. One still in
    time goes out as usual."""
    now = time.time()
    stale = make_msg("R1/S1/approaching/1", text="About 9 min away.", not_after=now - 60)
    fresh = make_msg("R1/S2/approaching/1", text="About 9 min away.", not_after=now + 600)

    async def scenario():
        ev = Events()
        async with running(fast_sender(outbox, notifier, ev)):
            outbox.enqueue(stale)
            outbox.enqueue(fresh)
            await ev.wait_type("alert_expired")
            await ev.wait_type("alert_sent")
        return ev

    ev = go(scenario())
    [expired] = ev.of("alert_expired")
    assert expired["key"] == stale.key and "stale" in expired["reason"]
    states = {r.key: (r.state, r.reason) for r in outbox.rows()}
    assert states[stale.key][0] == "discarded" and states[fresh.key][0] == "sent"
    assert [p.form["To"] for p in twilio_server.posts()] == [fresh.to]
