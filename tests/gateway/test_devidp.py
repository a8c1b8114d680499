"""The development identity provider: discovery, tokens, rotation, never in production."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet
from typer.testing import CliRunner

from coop import cli
from coop.demo_ids import demo_id
from gateway.devidp.app import create_app
from gateway.devidp.authorize import AuthorizationCodes, AuthorizationRequest, InvalidGrant
from gateway.devidp.keys import KeyStore, service_account_id
from gateway.devidp.personas import PERSONAS
from gateway.devidp.settings import DevIdpSettings
from kernel.settings import Environment, ProductionConfigError
from tests.gateway.support import IDP_ISSUER, LoginForm, authorize, pkce_pair, running_idp


async def _client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url=IDP_ISSUER)


async def _verify(client: httpx.AsyncClient, token: str) -> dict[str, object]:
    keys = KeySet.import_key_set((await client.get("/jwks")).json())
    return jwt.decode(token, keys, algorithms=["RS256"]).claims


async def test_discovery_names_the_issuer_and_its_endpoints(tmp_path: Path) -> None:
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        doc = (await client.get("/.well-known/openid-configuration")).json()
        assert doc["issuer"] == IDP_ISSUER
        assert doc["jwks_uri"] == f"{IDP_ISSUER}/jwks"
        assert doc["token_endpoint"] == f"{IDP_ISSUER}/token"
        jwks = await client.get("/jwks")
        assert "max-age=" in jwks.headers["cache-control"]
        (key,) = jwks.json()["keys"]
        assert key["kty"] == "RSA"
        assert key["use"] == "sig"
        assert "d" not in key


async def test_client_credentials(tmp_path: Path) -> None:
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        ok = await client.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "partenaire",
                "client_secret": "partenaire-dev-secret",
            },
        )
        assert ok.status_code == 200
        claims = await _verify(client, ok.json()["access_token"])
        # Keycloak's service-account shape: the account's own UUID in `sub`.
        assert claims["client_id"] == claims["azp"] == "partenaire"
        assert claims["preferred_username"] == "service-account-partenaire"
        assert uuid.UUID(str(claims["sub"])) == service_account_id("partenaire")
        assert claims["aud"] == "coop-api"
        assert claims["iss"] == IDP_ISSUER
        basic = await client.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=("back-office", "back-office-dev-secret"),
        )
        assert (await _verify(client, basic.json()["access_token"]))["client_id"] == "back-office"
        wrong = await client.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "partenaire",
                "client_secret": "guess",
            },
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"
        odd = await client.post(
            "/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}
        )
        assert odd.status_code == 400
        assert odd.json()["error"] == "unsupported_grant_type"


async def test_persona_tokens_have_stable_subjects(tmp_path: Path) -> None:
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        response = await client.post(
            "/token", data={"grant_type": "password", "username": "caf-agent", "password": "demo"}
        )
        token = response.json()["access_token"]
        claims = await _verify(client, token)
        assert claims["sub"] == str(demo_id("person:caf-agent"))
        assert claims["email"] == "caf-agent@demo.coop.invalid"
        # RFC 9068: `typ: at+jwt`, and the app the person came through in `client_id`.
        assert jws.extract_compact(token.encode()).headers()["typ"] == "at+jwt"
        assert claims["client_id"] == "ctg-dans-ma-poche"
        quick = await client.post("/dev/token", params={"persona": "national"})
        assert (await _verify(client, quick.json()["access_token"]))["sub"] == str(
            demo_id("person:national")
        )
        bad = await client.post(
            "/token", data={"grant_type": "password", "username": "caf-agent", "password": "x"}
        )
        assert bad.status_code == 400
        assert bad.json()["error"] == "invalid_grant"
        assert (await client.post("/dev/token", params={"persona": "intrus"})).status_code == 400
        listed = (await client.get("/dev/personas")).json()
        assert {p["persona"] for p in listed} == set(PERSONAS)


async def test_rotation_keeps_the_previous_key_published(tmp_path: Path) -> None:
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        before = (await client.post("/dev/token", params={"persona": "caf-agent"})).json()
        first_kid = (await client.get("/jwks")).json()["keys"][0]["kid"]
        new_kid = (await client.post("/dev/rotate")).json()["kid"]
        kids = [k["kid"] for k in (await client.get("/jwks")).json()["keys"]]
        assert kids == [new_kid, first_kid]
        await _verify(client, before["access_token"])  # still verifiable
        after = (await client.post("/dev/token", params={"persona": "caf-agent"})).json()
        header = jws.extract_compact(after["access_token"].encode()).headers()
        assert header["kid"] == new_kid
        await client.post("/dev/rotate")
        kids = [k["kid"] for k in (await client.get("/jwks")).json()["keys"]]
        assert first_kid not in kids
        assert len(kids) == 2
        # A leaked key is retired at once: only the new one stays published.
        retired = (await client.post("/dev/rotate", params={"retire": "true"})).json()["kid"]
        assert [k["kid"] for k in (await client.get("/jwks")).json()["keys"]] == [retired]


CALLBACK = "http://127.0.0.1:53682/callback"


async def _exchange(
    client: httpx.AsyncClient,
    code: str,
    verifier: str,
    *,
    redirect_uri: str = CALLBACK,
    client_id: str = "ctg-dans-ma-poche",
) -> httpx.Response:
    return await client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )


async def test_authorization_code_with_pkce(tmp_path: Path) -> None:
    """The mobile app's flow: login page, code, exchange with the verifier."""
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        doc = (await client.get("/.well-known/openid-configuration")).json()
        assert doc["authorization_endpoint"] == f"{IDP_ISSUER}/authorize"
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert "authorization_code" in doc["grant_types_supported"]
        verifier, challenge = pkce_pair()
        back = await authorize(client, "caf-agent", challenge=challenge, redirect_uri=CALLBACK)
        # Back to the very redirect URI asked for, with the state and the issuer (RFC 9207).
        assert str(back.copy_with(query=None)) == CALLBACK
        assert back.params["state"] == "etat-1"
        assert back.params["iss"] == IDP_ISSUER
        answer = await _exchange(client, back.params["code"], verifier)
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        claims = await _verify(client, token)
        assert claims["sub"] == str(demo_id("person:caf-agent"))
        assert claims["client_id"] == "ctg-dans-ma-poche"
        assert claims["aud"] == "coop-api"
        id_token = await _verify(client, answer.json()["id_token"])
        assert id_token["aud"] == "ctg-dans-ma-poche"
        assert id_token["sub"] == claims["sub"]
        # Single use: the same code again is refused.
        again = await _exchange(client, back.params["code"], verifier)
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant"


async def test_a_code_needs_its_verifier_its_redirect_uri_and_its_client(tmp_path: Path) -> None:
    other = {"ctg-dans-ma-poche": [CALLBACK], "console": ["http://127.0.0.1/docs"]}
    async with (
        running_idp(tmp_path, public_clients=other) as (_, transport),
        await _client(transport) as client,
    ):
        verifier, challenge = pkce_pair()

        async def code() -> str:
            back = await authorize(client, "caf-agent", challenge=challenge, redirect_uri=CALLBACK)
            return back.params["code"]

        wrong_verifier = await code()
        refused = await _exchange(client, wrong_verifier, pkce_pair()[0])
        assert refused.json()["error"] == "invalid_grant"
        # A failed attempt spends the code: the right verifier comes too late.
        assert (await _exchange(client, wrong_verifier, verifier)).status_code == 400
        elsewhere = await _exchange(
            client, await code(), verifier, redirect_uri="http://127.0.0.1:53682/ailleurs"
        )
        assert elsewhere.json()["error"] == "invalid_grant"
        assert "redirect_uri" in elsewhere.json()["detail"]
        stolen = await _exchange(client, await code(), verifier, client_id="console")
        assert stolen.json()["error"] == "invalid_grant"
        unknown = await _exchange(client, await code(), verifier, client_id="inconnu")
        assert unknown.status_code == 401
        assert unknown.json()["error"] == "invalid_client"


async def test_authorization_requests_the_provider_refuses(tmp_path: Path) -> None:
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        _, challenge = pkce_pair()
        asked = {
            "response_type": "code",
            "client_id": "ctg-dans-ma-poche",
            "redirect_uri": CALLBACK,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
        }
        # Nowhere trusted to send the browser back to: a page, never a redirect.
        for changed in (
            {"client_id": "inconnu"},
            {"redirect_uri": "https://evil.example/callback"},
            {"redirect_uri": "http://127.0.0.1:53682/autre"},
        ):
            page = await client.get("/authorize", params={**asked, **changed})
            assert page.status_code == 400
            assert "location" not in page.headers
            assert "refusée" in page.text
        # The redirect URI is trusted: the error goes back to the app (RFC 6749 §4.1.2.1).
        for changed, error in (
            ({"code_challenge_method": "plain"}, "invalid_request"),
            ({"code_challenge": ""}, "invalid_request"),
            ({"response_type": "token"}, "unsupported_response_type"),
        ):
            answer = await client.get("/authorize", params={**asked, **changed})
            assert answer.status_code == 303
            back = httpx.URL(answer.headers["location"])
            assert back.params["error"] == error
            assert back.params["state"] == "s"
        # The login form's hidden fields are checked again when it is posted.
        form = LoginForm((await client.get("/authorize", params=asked)).text)
        tampered = {**form.fields, "redirect_uri": "https://evil.example/cb", "persona": "national"}
        assert (await client.post(form.action, data=tampered)).status_code == 400
        cancelled = await client.post(form.action, data={**form.fields, "refus": "1"})
        assert httpx.URL(cancelled.headers["location"]).params["error"] == "access_denied"


async def test_the_gateways_console_signs_in_with_a_code_and_pkce(tmp_path: Path) -> None:
    """Its public client is registered for the gateway's /docs/oauth2-redirect, on any
    loopback port (a test stack's gateway is on a free one)."""
    console_redirect = "http://127.0.0.1:48123/docs/oauth2-redirect"
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        verifier, challenge = pkce_pair()
        back = await authorize(
            client,
            "collectivite-contributeur",
            challenge=challenge,
            redirect_uri=console_redirect,
            client_id="coop-console",
        )
        assert str(back.copy_with(query=None)) == console_redirect
        answer = await _exchange(
            client,
            back.params["code"],
            verifier,
            redirect_uri=console_redirect,
            client_id="coop-console",
        )
        assert answer.status_code == 200, answer.text
        claims = await _verify(client, answer.json()["access_token"])
        assert claims["sub"] == str(demo_id("person:collectivite-contributeur"))
        assert claims["client_id"] == "coop-console"
        assert claims["aud"] == "coop-api"


CONSOLE = "http://127.0.0.1:8000"


async def test_the_console_may_call_discovery_keys_and_token_from_its_origin(
    tmp_path: Path,
) -> None:
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        for path in ("/.well-known/openid-configuration", "/jwks"):
            answer = await client.get(path, headers={"origin": CONSOLE})
            assert answer.status_code == 200
            assert answer.headers["access-control-allow-origin"] == CONSOLE, path
        # The code is redeemed by fetch() with a header that needs a preflight.
        preflight = await client.options(
            "/token",
            headers={
                "origin": CONSOLE,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type,x-requested-with",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == CONSOLE
        assert "POST" in preflight.headers["access-control-allow-methods"]
        refused = await client.post(
            "/token", data={"grant_type": "authorization_code"}, headers={"origin": CONSOLE}
        )
        # Even an error is readable by the console (it shows the provider's message).
        assert refused.headers["access-control-allow-origin"] == CONSOLE


async def test_no_other_origin_and_no_other_endpoint_is_open_to_browsers(tmp_path: Path) -> None:
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        other = await client.get(
            "/.well-known/openid-configuration", headers={"origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        preflight = await client.options(
            "/token",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        # The development shortcuts and the sign-in page are never fetched by a page.
        shortcut = await client.post(
            "/dev/token", params={"persona": "national"}, headers={"origin": CONSOLE}
        )
        assert "access-control-allow-origin" not in shortcut.headers
        page = await client.get("/authorize", headers={"origin": CONSOLE})
        assert "access-control-allow-origin" not in page.headers
    # Another console origin is a setting (a test stack's gateway port).
    moved = "http://127.0.0.1:48123"
    async with (
        running_idp(tmp_path, console_origins=[moved]) as (_, transport),
        await _client(transport) as client,
    ):
        answer = await client.get("/jwks", headers={"origin": moved})
        assert answer.headers["access-control-allow-origin"] == moved
        answer = await client.get("/jwks", headers={"origin": CONSOLE})
        assert "access-control-allow-origin" not in answer.headers


def test_codes_are_short_lived() -> None:
    now = [1000.0]
    codes = AuthorizationCodes(60, clock=lambda: now[0])
    verifier, challenge = pkce_pair()
    request = AuthorizationRequest("app", CALLBACK, challenge, "openid", None, None)
    fresh, stale = codes.issue(request, "caf-agent"), codes.issue(request, "caf-agent")
    now[0] += 59
    assert codes.redeem(fresh, client_id="app", redirect_uri=CALLBACK, code_verifier=verifier)
    now[0] += 1
    with pytest.raises(InvalidGrant):
        codes.redeem(stale, client_id="app", redirect_uri=CALLBACK, code_verifier=verifier)


def test_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(ProductionConfigError):
        DevIdpSettings(environment=Environment.production, key_dir=str(tmp_path))
    forced = DevIdpSettings.model_construct(environment=Environment.production)
    with pytest.raises(ProductionConfigError):
        create_app(forced)


def test_coop_token_prints_a_token_the_idp_publishes_keys_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COOP_IDP_KEY_DIR", str(tmp_path))
    monkeypatch.setenv("COOP_IDP_ISSUER", IDP_ISSUER)
    runner = CliRunner()
    result = runner.invoke(cli.app, ["token", "--as", "collectivite-referent"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    keys = KeySet.import_key_set(KeyStore(str(tmp_path)).public_jwks())
    claims = jwt.decode(token, keys, algorithms=["RS256"]).claims
    assert claims["sub"] == str(demo_id("person:collectivite-referent"))
    assert claims["iss"] == IDP_ISSUER
    assert claims["client_id"] == "ctg-dans-ma-poche"
    client = runner.invoke(cli.app, ["token", "--client", "partenaire"])
    client_claims = jwt.decode(client.stdout.strip(), keys).claims
    assert client_claims["client_id"] == "partenaire"
    assert client_claims["sub"] == str(service_account_id("partenaire"))
    assert runner.invoke(cli.app, ["token", "--as", "inconnu"]).exit_code != 0
    monkeypatch.setenv("COOP_ENVIRONMENT", "production")
    production = runner.invoke(cli.app, ["token", "--as", "caf-agent"])
    assert production.exit_code != 0
    assert production.stdout == ""
