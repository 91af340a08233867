"""TwilioNotifier through the real `twilio` library, over HTTP, to the fake Twilio server."""
import asyncio
import logging
import time
import xml.etree.ElementTree as ET

import pytest

from forewarn.daemon.notify import (InvalidNumber, NetworkError, NotMobile, ProviderUnavailable,
                                    RateLimited, TwilioNotifier, Unsubscribed)

from .conftest import FROM, PHONE, make_msg


def run(coro):
    return asyncio.run(coro)


def test_sms_goes_through_the_library_to_api_base(twilio_server, notifier):
    res = run(notifier.send(make_msg(text="Hello Ana")))
    [post] = twilio_server.posts("Messages")
    assert post.authorized
    assert post.form == {"To": PHONE, "From": FROM, "Body": "Hello Ana"}
    assert res.sid.startswith("SM") and res.status == "queued"
    assert [m["sid"] for m in twilio_server.created("Messages")] == [res.sid]


def test_messaging_service_replaces_from(twilio_server):
    n = TwilioNotifier(twilio_server.account_sid, twilio_server.auth_token,
                       messaging_service_sid="MG" + "0" * 32, api_base=twilio_server.url)
    run(n.send(make_msg()))
    [post] = twilio_server.posts("Messages")
    assert post.form["MessagingServiceSid"] == "MG" + "0" * 32 and "From" not in post.form


def test_voice_call_says_the_text_in_the_customer_language(twilio_server, notifier):
    res = run(notifier.send(make_msg(channel="voice", locale="fr", text="Bonjour Ana, votre livreur arrive.")))
    [post] = twilio_server.posts("Calls")
    assert res.sid.startswith("CA") and post.form["To"] == PHONE and post.form["From"] == FROM
    root = ET.fromstring(post.form["Twiml"])
    says = root.findall("Say")
    assert says and all(s.get("language") == "fr-FR" and s.text == "Bonjour Ana, votre livreur arrive." for s in says)
    assert root.find("Gather") is None


def test_voice_confirmation_uses_gather(twilio_server):
    n = TwilioNotifier(twilio_server.account_sid, twilio_server.auth_token, from_=FROM,
                       api_base=twilio_server.url, confirm_url="https://example.net/confirm")
    run(n.send(make_msg(channel="voice", text="Hi <Ana> & co")))
    root = ET.fromstring(twilio_server.posts("Calls")[0].form["Twiml"])
    g = root.find("Gather")
    assert g.get("numDigits") == "1" and g.get("action") == "https://example.net/confirm"
    texts = [s.text for s in g.findall("Say")]
    assert texts[0] == "Hi <Ana> & co"            # XML-escaped on the way, intact on arrival
    assert "Press 1" in texts[-1]


@pytest.mark.parametrize("code, exc", [(21211, InvalidNumber), (21610, Unsubscribed), (21614, NotMobile)])
def test_permanent_twilio_errors_carry_code_and_status(twilio_server, notifier, code, exc):
    twilio_server.fail_next("Messages", 400, code=code)
    with pytest.raises(exc) as e:
        run(notifier.send(make_msg()))
    assert e.value.permanent and e.value.code == code and e.value.status == 400
    assert PHONE not in str(e.value) and "+1416555**23" in str(e.value)   # Twilio quotes the number
    assert twilio_server.auth_token not in str(e.value)
    assert len(twilio_server.posts()) == 1


@pytest.mark.parametrize("status, code, exc, ambiguous", [
    (429, 20429, RateLimited, False), (500, None, ProviderUnavailable, True), (503, None, ProviderUnavailable, True)])
def test_transient_errors_are_not_retried_inside_the_http_client(twilio_server, notifier, status, code, exc, ambiguous):
    twilio_server.fail_next("Messages", status, code=code)
    with pytest.raises(exc) as e:
        run(notifier.send(make_msg()))
    assert not e.value.permanent and e.value.ambiguous is ambiguous and e.value.status == status
    assert len(twilio_server.posts()) == 1


def test_dropped_connection_is_an_ambiguous_network_error_sent_once(twilio_server, notifier):
    twilio_server.fail_next("Messages", drop=True, create=True)
    with pytest.raises(NetworkError) as e:
        run(notifier.send(make_msg()))
    assert e.value.ambiguous and not e.value.permanent
    assert len(twilio_server.posts()) == 1 and len(twilio_server.created()) == 1


def test_unreachable_api_is_a_network_error(twilio_server):
    n = TwilioNotifier("AC" + "0" * 32, "secret-token-xyz", from_=FROM, api_base="http://127.0.0.1:9", timeout=2)
    with pytest.raises(NetworkError) as e:
        run(n.send(make_msg()))
    assert "secret-token-xyz" not in str(e.value)


def test_country_guard_refuses_before_any_request(twilio_server, notifier):
    with pytest.raises(InvalidNumber, match="country not allowed"):
        run(notifier.send(make_msg(to="+33612345678")))
    assert twilio_server.requests == []


def test_find_existing_matches_number_body_and_time(twilio_server, notifier):
    t0 = time.time()
    msg = make_msg(text="Your window is 10:00-12:00", created_at=t0)
    assert run(notifier.find_existing(msg)) is None
    twilio_server.add_record("Messages", To=PHONE, From=FROM, Body="something else")
    queued = twilio_server.add_record("Messages", To=PHONE, From=FROM, Body="Your window is 10:00-12:00")
    # still queued: no date_sent, invisible to the DateSent> filter, found by the recent-list query
    assert run(notifier.find_existing(msg)) == queued["sid"]
    assert run(notifier.find_existing(msg, exclude=frozenset({queued["sid"]}))) is None
    assert run(notifier.find_existing(make_msg(text="Your window is 10:00-12:00", created_at=t0 + 3600))) is None
    lists = [r for r in twilio_server.requests if r.method == "GET" and r.sid is None]
    assert lists and all(r.query["To"] == PHONE for r in lists)
    assert any("DateSent>" in r.query for r in lists)


def test_find_existing_for_calls_and_status_by_sid(twilio_server, notifier):
    msg = make_msg(channel="voice")
    res = run(notifier.send(msg))
    assert run(notifier.find_existing(msg)) == res.sid
    seen = [run(notifier.status(res.sid, "voice")) for _ in range(4)]
    assert seen == ["ringing", "in-progress", "completed", "completed"]
    sms = run(notifier.send(make_msg(text="x")))
    assert [run(notifier.status(sms.sid, "sms")) for _ in range(2)] == ["sent", "delivered"]
    # once sent, the DateSent> query finds it too
    assert run(notifier.find_existing(make_msg(text="x"))) == sms.sid


def test_no_secret_or_full_number_in_logs(twilio_server, notifier, caplog):
    caplog.set_level(logging.DEBUG)
    twilio_server.fail_next("Messages", 400, code=21211)
    with pytest.raises(InvalidNumber):
        run(notifier.send(make_msg()))
    run(notifier.send(make_msg()))
    assert twilio_server.auth_token not in caplog.text
    assert PHONE not in caplog.text


def test_retry_after_header_is_reported(twilio_server, notifier):
    twilio_server.fail_next("Messages", 429, code=20429, retry_after=7)
    with pytest.raises(RateLimited) as e:
        run(notifier.send(make_msg()))
    assert e.value.retry_after == 7.0
    run(notifier.send(make_msg()))     # the next answer has none: nothing left over
    twilio_server.fail_next("Messages", 500)
    with pytest.raises(ProviderUnavailable) as e:
        run(notifier.send(make_msg()))
    assert e.value.retry_after is None


def test_lookup_tolerates_smart_encoding_of_the_body(twilio_server, notifier):
    rec = twilio_server.add_record("Messages", To=PHONE, From=FROM, Body="Hi O'Connor,  see you ... soon")
    msg = make_msg(text="Hi O\u2019Connor, see you \u2026 soon")
    assert run(notifier.find_existing(msg)) == rec["sid"]


def test_rfc9457_problem_details_are_classified_too(twilio_server, notifier):
    twilio_server.fail_next("Messages", 400, body={
        "type": "https://www.twilio.com/docs/errors/21610", "title": "Unsubscribed recipient",
        "status": 400, "code": 21610, "detail": "Recipient +14165550123 replied STOP"})
    with pytest.raises(Unsubscribed) as e:
        run(notifier.send(make_msg()))
    assert e.value.code == 21610 and "+14165550123" not in str(e.value)


def test_garbage_error_body_still_gives_status(twilio_server, notifier):
    twilio_server.fail_next("Messages", 502, body="<html>Bad gateway</html>")  # not JSON
    with pytest.raises(ProviderUnavailable) as e:
        run(notifier.send(make_msg()))
    assert e.value.status == 502 and e.value.ambiguous


def test_lookup_uses_the_e164_form_that_was_sent(twilio_server, notifier):
    msg = make_msg(to="+1 (416) 555-0123", text="spaced")
    res = run(notifier.send(msg))
    assert twilio_server.posts()[0].form["To"] == PHONE
    assert run(notifier.find_existing(msg)) == res.sid
    assert run(notifier.find_existing(make_msg(to="not a number"))) is None
