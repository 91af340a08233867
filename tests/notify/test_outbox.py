"""Outbox: unique keys (never twice), state machine, crash survival on a real SQLite file."""
import threading
import time

import pytest

from forewarn.daemon.outbox import _SCHEMA, Outbox, OutboxError
from forewarn.daemon.store import open_db

from .conftest import make_msg


def test_duplicate_keys_are_refused_and_the_first_row_is_kept(outbox):
    assert outbox.enqueue(make_msg(text="first")) is True
    assert outbox.enqueue(make_msg(text="second")) is False
    [row] = outbox.rows()
    assert row.msg.text == "first" and row.state == "pending"


def test_rows_survive_reopening_and_duplicates_stay_refused(db_path):
    conn = open_db(db_path)
    ob = Outbox(conn)
    ob.enqueue(make_msg("R1/S1/window/0"))
    ob.enqueue(make_msg("R1/S2/window/0", voice_fallback=True, locale="fr", not_before=5.0))
    ob.mark_sending("R1/S1/window/0")
    conn.close()

    ob2 = Outbox(open_db(db_path))
    assert {r.key: r.state for r in ob2.rows()} == {"R1/S1/window/0": "sending", "R1/S2/window/0": "pending"}
    assert ob2.enqueue(make_msg("R1/S2/window/0")) is False
    r = ob2.get("R1/S2/window/0")
    assert r.msg.voice_fallback and r.msg.locale == "fr" and r.msg.not_before == 5.0 and r.via == "sms"


def test_concurrent_enqueues_of_one_key_insert_exactly_once(db_path):
    conns = [open_db(db_path) for _ in range(4)]
    boxes = [Outbox(c) for c in conns]
    results: list[bool] = []
    barrier = threading.Barrier(len(boxes))

    def go(ob):
        barrier.wait()
        results.append(ob.enqueue(make_msg("R1/S1/delay/0")))

    threads = [threading.Thread(target=go, args=(ob,)) for ob in boxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == [False, False, False, True]


def test_due_respects_quiet_hours_and_backoff(outbox):
    now = time.time()
    outbox.enqueue(make_msg("R1/S1/window/0"))
    outbox.enqueue(make_msg("R1/S2/window/0", not_before=now + 100))
    assert [r.key for r in outbox.due(now)] == ["R1/S1/window/0"]
    outbox.mark_sending("R1/S1/window/0")
    assert outbox.due(now) == []                      # sending is not due again
    outbox.retry_later("R1/S1/window/0", now + 50, "HTTP 500", ambiguous=True, code=500)
    assert outbox.due(now) == []
    [r] = outbox.due(now + 60)
    assert r.ambiguous and r.attempts == 1 and r.code == 500
    assert outbox.next_due_at() == pytest.approx(now + 50)
    assert {r.key for r in outbox.due(now + 101)} == {"R1/S1/window/0", "R1/S2/window/0"}


def test_state_machine(outbox):
    outbox.enqueue(make_msg("R1/S1/window/0"))
    with pytest.raises(OutboxError):
        outbox.set_delivery_status("R1/S1/window/0", "delivered")   # not sent yet
    outbox.mark_sending("R1/S1/window/0")
    with pytest.raises(OutboxError):
        outbox.mark_sending("R1/S1/window/0")                      # one sender at a time
    outbox.mark_sent("R1/S1/window/0", "SM123", status="queued")
    outbox.set_delivery_status("R1/S1/window/0", "delivered")
    [r] = outbox.in_state("sent")
    assert (r.sid, r.delivery_status, r.attempts) == ("SM123", "delivered", 1)
    with pytest.raises(OutboxError):
        outbox.mark_failed("R1/S1/window/0", 21211, "late failure")  # sent is final
    with pytest.raises(ValueError):
        outbox.in_state("lost")


def test_discard_for_stop_cancels_only_pending_rows_of_that_stop(outbox):
    for key in ("R1/S1/window/0", "R1/S1/approaching/0", "R1/S1/delay/0", "R1/S2/approaching/0"):
        outbox.enqueue(make_msg(key))
    outbox.mark_sending("R1/S1/window/0")
    assert outbox.discard_for_stop("R1", "S1", ["approaching", "window"]) == 1
    assert outbox.discard_for_stop("R1", "S1") == 1
    states = {r.key: r.state for r in outbox.rows("R1")}
    assert states == {"R1/S1/window/0": "sending", "R1/S1/approaching/0": "discarded",
                      "R1/S1/delay/0": "discarded", "R1/S2/approaching/0": "pending"}
    assert outbox.enqueue(make_msg("R1/S1/approaching/0")) is False   # discarded keys stay used


def test_awaiting_status_skips_final_and_abandoned_rows(outbox):
    for key in ("R1/S1/window/0", "R1/S2/window/0", "R1/S3/window/0"):
        outbox.enqueue(make_msg(key))
        outbox.mark_sending(key)
    outbox.mark_sent("R1/S1/window/0", "SM1", status="queued")
    outbox.mark_sent("R1/S2/window/0", "SM2", status="sent")
    outbox.mark_sent("R1/S3/window/0", "CA3", via="voice", status="queued")
    outbox.set_delivery_status("R1/S2/window/0", "delivered")
    outbox.set_delivery_status("R1/S3/window/0", "no-answer")
    assert [r.key for r in outbox.awaiting_status()] == ["R1/S1/window/0"]
    assert outbox.awaiting_status(sent_after=time.time() + 1) == []   # given up on after a while
    assert outbox.sids() == {"SM1", "SM2", "CA3"}


def test_prune_deletes_finished_rows_only_and_names_the_routes_left_empty(db_path):
    clock = [1_000_000.0]
    ob = Outbox(open_db(db_path), clock=lambda: clock[0])
    for key in ("OLD/S1/window/1", "OLD/S2/window/1", "MIXED/S1/window/1", "MIXED/S2/window/1"):
        ob.enqueue(make_msg(key))
    ob.mark_sending("OLD/S1/window/1")
    ob.mark_sent("OLD/S1/window/1", "SM1")
    ob.mark_failed("OLD/S2/window/1", 21211, "invalid number")
    ob.discard_for_stop("MIXED", "S1")
    clock[0] += 40 * 86400.0                           # forty days on
    ob.enqueue(make_msg("NEW/S1/window/1"))
    ob.mark_sending("NEW/S1/window/1")
    ob.mark_sent("NEW/S1/window/1", "SM2")
    assert ob.prune(clock[0] - 30 * 86400.0) == {"OLD"}          # MIXED keeps its pending row
    assert sorted(r.key for r in ob.rows()) == ["MIXED/S2/window/1", "NEW/S1/window/1"]
    assert ob.prune(clock[0] - 30 * 86400.0) == set()


def test_a_state_file_from_before_not_after_gains_the_column_and_keeps_its_rows(db_path):
    """Gateways in the field hold outboxes written by the release before: their rows stay (never
    stale), new rows carry `not_after`."""
    import sqlite3
    old = sqlite3.connect(db_path)
    old.executescript(_SCHEMA.replace(",\n    not_after       REAL                       -- NULL: never stale"
                                      " (see OutgoingMessage.not_after)", ""))
    old.execute("INSERT INTO outbox (key, route_id, stop_id, kind, channel, to_phone, text, locale, created_at,"
                " not_before, voice_fallback, via, updated_at) VALUES ('R1/S1/window/1','R1','S1','window','sms',"
                " '+14165550123','hi','en',1,0,0,'sms',1)")
    old.commit()
    assert "not_after" not in {c[1] for c in old.execute("PRAGMA table_info(outbox)")}
    old.close()
    ob = Outbox(open_db(db_path))
    [row] = ob.rows()
    assert row.key == "R1/S1/window/1" and row.msg.not_after is None
    ob.enqueue(make_msg("R1/S1/approaching/1", not_after=1234.5))
    assert {r.key: r.msg.not_after for r in ob.rows()}["R1/S1/approaching/1"] == 1234.5
