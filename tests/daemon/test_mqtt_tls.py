"""The daemon reaches a TLS broker with a password from a file, and the broker sees the Will."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import time

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from forewarn.config import load_settings
from forewarn.daemon._runtime import Daemon, Hooks
from tests.fakes.mosquitto import MOSQUITTO, _wait_listening, free_port

from .helpers import write_config


def _cert(tmp, name: str, issuer_key=None, issuer_name=None, ca: bool = False):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    cert = b.sign(issuer_key or key, hashes.SHA256())
    (tmp / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return key, subject


@pytest.fixture
def tls_broker(tmp_path):
    ca_key, ca_name = _cert(tmp_path, "ca", ca=True)
    _cert(tmp_path, "server", issuer_key=ca_key, issuer_name=ca_name)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwd"), "truck", "s3cret-pw"], check=True)
    port = free_port()
    (tmp_path / "m.conf").write_text(
        ("user root\n" if os.geteuid() == 0 else "") +   # as root mosquitto would drop to a user that cannot read tmp
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {tmp_path / 'passwd'}\n"
        f"cafile {tmp_path / 'ca.crt'}\ncertfile {tmp_path / 'server.crt'}\nkeyfile {tmp_path / 'server.key'}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "m.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_listening(port, proc)
    yield port, tmp_path / "ca.crt"
    proc.terminate()
    proc.wait(timeout=10)


def tls_config(tmp_path, port: int, ca, prefix: str, password: str):
    """The demo drive at 600x, publishing to the TLS broker as user `truck`."""
    (tmp_path / "mqtt-password").write_text(password + "\n")
    return write_config(tmp_path, speed=600, extra=f"""
[mqtt]
url = "mqtts://localhost:{port}"
prefix = "{prefix}"
username = "truck"
password_file = "{tmp_path / 'mqtt-password'}"
ca_file = "{ca}"
""")


def test_events_over_tls_with_password_file(tmp_path, tls_broker, unique_prefix):
    port, ca = tls_broker
    settings = load_settings(tls_config(tmp_path, port, ca, unique_prefix, "s3cret-pw"))

    async def scenario() -> list[dict]:
        import ssl
        ctx = ssl.create_default_context(cafile=str(ca))
        seen: list[dict] = []
        async with aiomqtt.Client("localhost", port, username="truck", password="s3cret-pw", tls_context=ctx) as sub:
            await sub.subscribe(f"{unique_prefix}/demo-truck/events", qos=1)

            async def collect() -> None:
                async for msg in sub.messages:
                    seen.append(json.loads(msg.payload))

            task = asyncio.create_task(collect())
            await asyncio.wait_for(Daemon(settings, hooks=Hooks(exit_at_eof=True)).run(), timeout=120)
            async with asyncio.timeout(10):
                while not any(e["type"] == "arrival" and e["stop_id"] == "S3" for e in seen):
                    await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return seen

    seen = asyncio.run(scenario())
    assert any(e["type"] == "route_loaded" for e in seen)


def test_wrong_password_is_retried_not_fatal(tmp_path, tls_broker, unique_prefix, caplog):
    port, ca = tls_broker
    config = tls_config(tmp_path, port, ca, unique_prefix, "wrong")
    caplog.set_level("WARNING", logger="forewarn.mqtt")
    t0 = time.monotonic()
    daemon = Daemon(load_settings(config), hooks=Hooks(exit_at_eof=True))
    assert asyncio.run(asyncio.wait_for(daemon.run(), timeout=120)) == 0
    assert time.monotonic() - t0 < 60
    assert any("mqtt link down" in r.message or "cannot connect" in r.message for r in caplog.records)
    assert "wrong\n" not in caplog.text and "password=wrong" not in caplog.text, "the password never reaches the log"
