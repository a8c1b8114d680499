"""The real gateway process against clients that are slow or oversized, over a raw
socket: what reaches the server before any of our code runs (headers) is the server's
to refuse; a body that stops arriving is ours."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coop.ports import free_port
from kernel.settings import CommonSettings
from tests.gateway.servers import Server
from tests.gateway.support import NO_DATABASE

HEADER_READ_TIMEOUT = 1.0
BODY_IDLE_TIMEOUT = 1.0
# A cut-off must come from the timeouts set above, not from the defaults (10 s, 30 s):
# it is awaited up to half the default, room for a loaded machine.
HEADER_READ_DEFAULT = CommonSettings.model_fields["header_read_timeout_seconds"].default
BODY_IDLE_DEFAULT = CommonSettings.model_fields["body_idle_timeout_seconds"].default


class Rig:
    def __init__(self, gateway: Server, idp: Server, metrics_port: int) -> None:
        self.gateway = gateway
        self.idp = idp
        self.metrics_port = metrics_port

    def token(self) -> str:
        response = httpx.post(f"{self.idp.url}/dev/token", params={"persona": "caf-agent"})
        return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    key_dir: Path = tmp_path_factory.mktemp("idp")
    idp_port, metrics_port = free_port(), free_port()
    started: list[Server] = []
    try:
        idp = Server(
            "gateway.devidp.app:create_app",
            {"COOP_IDP_KEY_DIR": str(key_dir), "COOP_IDP_PORT": str(idp_port)},
            port=idp_port,
        )
        started.append(idp)
        idp.wait_ready()  # the gateway fetches the provider's keys as it starts
        service = Server(
            "tests.gateway.echo_service:echo_service_from_env",
            {"COOP_ECHO_NAME": "conventions", "COOP_ECHO_DATABASE_URL": NO_DATABASE},
        )
        started.append(service)
        gateway = Server(
            "tests.gateway.servers:gateway_from_env",
            {
                "COOP_GATEWAY_DATABASE_URL": NO_DATABASE,
                "COOP_GATEWAY_OIDC_ISSUER": f"http://127.0.0.1:{idp_port}",
                "COOP_GATEWAY_SERVICE_URLS": json.dumps({"conventions": service.url}),
                "COOP_HEADER_READ_TIMEOUT_SECONDS": str(HEADER_READ_TIMEOUT),
                "COOP_BODY_IDLE_TIMEOUT_SECONDS": str(BODY_IDLE_TIMEOUT),
                "COOP_METRICS_PORT": str(metrics_port),
            },
        )
        started.append(gateway)
        for server in started:
            server.wait_ready()
        yield Rig(gateway, idp, metrics_port)
    finally:
        for server in started:
            server.stop()


def exchange(rig: Rig, data: bytes, *, wait: float = 10.0) -> tuple[bytes, float]:
    """What the gateway answers to `data` (until it closes the connection, or its
    first complete head with `wait` seconds at most), and after how long."""
    with socket.create_connection(("127.0.0.1", rig.gateway.port), timeout=wait) as sock:
        start = time.monotonic()
        # Refused while we were still sending: its answer is what counts.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no answer within {wait} s: {received!r}") from None
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received, time.monotonic() - start


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_half_sent_headers_are_cut_off_within_the_timeout(rig: Rig) -> None:
    answer, seconds = exchange(
        rig, b"GET /api/v1/conventions HTTP/1.1\r\nhost: gw\r\nx-a: 1", wait=HEADER_READ_DEFAULT
    )
    assert answer == b"" or status_of(answer) == 408
    assert seconds < HEADER_READ_DEFAULT / 2


def test_a_huge_header_is_a_431(rig: Rig) -> None:
    huge = b"x-huge: " + b"a" * (1024 * 1024) + b"\r\n"
    answer, _ = exchange(rig, b"GET /healthz HTTP/1.1\r\nhost: gw\r\n" + huge + b"\r\n")
    assert status_of(answer) == 431


def test_too_many_headers_is_a_431(rig: Rig) -> None:
    many = b"".join(b"x-h%d: 1\r\n" % i for i in range(200))  # a few KiB only
    answer, _ = exchange(rig, b"GET /healthz HTTP/1.1\r\nhost: gw\r\n" + many + b"\r\n")
    assert status_of(answer) == 431


def test_usual_headers_pass(rig: Rig) -> None:
    usual = b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 100) for i in range(40))
    request = b"GET /healthz HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n" + usual + b"\r\n"
    answer, _ = exchange(rig, request)
    assert status_of(answer) == 200


def test_a_body_that_stops_arriving_is_a_408_and_the_connection_closed(rig: Rig) -> None:
    head = (
        b"POST /api/v1/conventions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + rig.token().encode() + b"\r\ncontent-length: 100\r\n\r\n"
    )
    answer, seconds = exchange(rig, head + b'{"titre": "', wait=BODY_IDLE_DEFAULT)  # then nothing
    assert status_of(answer) == 408
    assert b"connection: close" in answer.lower()
    assert b"application/problem+json" in answer
    assert BODY_IDLE_TIMEOUT <= seconds < BODY_IDLE_DEFAULT / 2


def test_metrics_are_on_the_internal_port_only(rig: Rig) -> None:
    assert httpx.get(rig.gateway.url + "/healthz").status_code == 200
    public = httpx.get(rig.gateway.url + "/metrics")
    assert public.status_code == 404
    internal = httpx.get(f"http://127.0.0.1:{rig.metrics_port}/metrics")
    assert internal.status_code == 200
    assert 'coop_http_requests_total{app="gateway",method="GET",route="/healthz"' in internal.text
