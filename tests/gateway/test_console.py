"""The API console (/docs) and the public document it shows: everything the page loads
comes from the gateway (packaged Swagger UI, no CDN), under a policy that allows exactly
that; a pasted token or the OIDC sign-in both authorize."""

from __future__ import annotations

import re

from tests.gateway.conftest import GatewayRig, RigFactory
from tests.gateway.support import IDP_ISSUER

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' {provider}; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def _loaded(page: str) -> list[str]:
    """Every URL the page's markup makes the browser load."""
    return re.findall(r'(?:src|href)="([^"]*)"', page)


async def test_the_console_loads_only_the_gateways_own_files(rig: GatewayRig) -> None:
    page = await rig.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    loaded = _loaded(page.text)
    assert set(loaded) == {
        "/docs/assets/swagger-ui.css",
        "/docs/assets/favicon-32x32.png",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/console.js",
    }
    # No inline script: the settings are a data block the policy does not run.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, flags=re.DOTALL)
    assert [attrs for attrs, body in scripts if body.strip()] == [
        ' type="application/json" id="console-config"'
    ]
    assert '"client_id": "coop-console"' in page.text
    for url in loaded:
        asset = await rig.client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    bundle = await rig.client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    # Swagger UI 5 at least: the first to render OpenAPI 3.1, which the merged document is.
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', bundle.text)
    assert version is not None
    assert int(version.group(1)) >= 5
    document = (await rig.client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.1")


async def test_only_the_pages_files_are_served(rig: GatewayRig) -> None:
    # The package also holds a demo page and an initializer pointing at a public server.
    for name in ("index.html", "swagger-initializer.js", "swagger-ui-bundle.js.map", "..%2Fx"):
        response = await rig.client.get(f"/docs/assets/{name}")
        assert response.status_code == 404, name
        assert response.headers["content-type"] == "application/problem+json"


async def test_the_console_policy_allows_the_gateway_and_the_identity_provider(
    rig: GatewayRig,
) -> None:
    page = await rig.client.get("/docs")
    assert page.headers["content-security-policy"] == CONSOLE_CSP.format(provider=IDP_ISSUER)
    # The sign-in popup must stay the console's (window.opener) across the provider.
    assert page.headers["cross-origin-opener-policy"] == "same-origin-allow-popups"
    assert page.headers["x-frame-options"] == "DENY"
    asset = await rig.client.get("/docs/assets/console.js")
    assert asset.headers["content-security-policy"] == page.headers["content-security-policy"]
    redirect = await rig.client.get("/docs/oauth2-redirect", params={"code": "x", "state": "y"})
    assert redirect.status_code == 200
    assert _loaded(redirect.text) == ["/docs/assets/oauth2-redirect.js"]
    assert redirect.headers["content-security-policy"] == page.headers["content-security-policy"]
    assert "cross-origin-opener-policy" not in redirect.headers
    # The API keeps its own policy, which allows nothing.
    api = await rig.client.get("/api/v1/openapi.json")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.headers["cross-origin-opener-policy"] == "same-origin"


async def test_a_pasted_token_or_the_oidc_sign_in_authorize(rig: GatewayRig) -> None:
    document = (await rig.client.get("/api/v1/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["oidc"]["type"] == "openIdConnect"
    assert document["security"] == [{"oidc": []}, {"bearer": []}]


async def test_browsers_are_sent_to_the_public_discovery_document(make_rig: RigFactory) -> None:
    """In a container the gateway reads the provider at an internal address; the console
    and integrators need the address they can reach: the issuer's."""
    async with make_rig(oidc_discovery_url=f"{IDP_ISSUER}/.well-known/openid-configuration") as a:
        document = (await a.client.get("/api/v1/openapi.json")).json()
    public = f"{IDP_ISSUER}/.well-known/openid-configuration"
    assert document["components"]["securitySchemes"]["oidc"]["openIdConnectUrl"] == public
    elsewhere = "https://auth.example.org/realms/cooperation/.well-known/openid-configuration"
    async with make_rig(oidc_public_discovery_url=elsewhere) as b:
        document = (await b.client.get("/api/v1/openapi.json")).json()
        page = await b.client.get("/docs")
    assert document["components"]["securitySchemes"]["oidc"]["openIdConnectUrl"] == elsewhere
    assert page.headers["content-security-policy"] == CONSOLE_CSP.format(
        provider="https://auth.example.org"
    )
