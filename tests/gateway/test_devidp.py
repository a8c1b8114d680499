"""The development identity provider: discovery, tokens, rotation, never in production."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet
from typer.testing import CliRunner

from coop import cli
from coop.demo_ids import demo_id
from gateway.devidp.app import create_app
from gateway.devidp.keys import KeyStore
from gateway.devidp.personas import PERSONAS
from gateway.devidp.settings import DevIdpSettings
from kernel.settings import Environment, ProductionConfigError
from tests.gateway.support import IDP_ISSUER, running_idp


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
        assert claims["client_id"] == "partenaire"
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
        odd = await client.post("/token", data={"grant_type": "authorization_code"})
        assert odd.status_code == 400
        assert odd.json()["error"] == "unsupported_grant_type"


async def test_persona_tokens_have_stable_subjects(tmp_path: Path) -> None:
    async with running_idp(tmp_path) as (_, transport), await _client(transport) as client:
        response = await client.post(
            "/token", data={"grant_type": "password", "username": "caf-agent", "password": "demo"}
        )
        claims = await _verify(client, response.json()["access_token"])
        assert claims["sub"] == str(demo_id("person:caf-agent"))
        assert claims["email"] == "caf-agent@demo.coop.invalid"
        assert "client_id" not in claims
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
    client = runner.invoke(cli.app, ["token", "--client", "partenaire"])
    assert jwt.decode(client.stdout.strip(), keys).claims["client_id"] == "partenaire"
    assert runner.invoke(cli.app, ["token", "--as", "inconnu"]).exit_code != 0
    monkeypatch.setenv("COOP_ENVIRONMENT", "production")
    production = runner.invoke(cli.app, ["token", "--as", "caf-agent"])
    assert production.exit_code != 0
    assert production.stdout == ""
