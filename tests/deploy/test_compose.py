"""docker-compose.yml, .env.example, the Keycloak realm and the Dockerfile agree with the
settings the apps really read (Docker cannot run here: we read the files as Docker does).

The settings are introspected (coop.apps.APPS -> settings classes), so adding a setting
that production needs without wiring it into the stack makes these tests fail.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from joserfc.jwk import ECKey

from coop import connections
from coop.apps import APPS, AppSpec
from coop.config_doc import build_settings
from coop.deploy_config import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    REALM_FILE,
    REPO_ROOT,
    container_environment,
    load_compose,
    read_env_file,
    serve_command,
    variables_without_default,
)
from gateway.console import OAUTH2_REDIRECT_PATH, console_csp, origin_of
from kernel.internal_token import InternalTokenSigner, InternalTokenVerifier
from kernel.principal import Principal, PrincipalKind
from kernel.settings import ProductionConfigError

SECRET_NAME = re.compile(r"PASSWORD|SECRET|SIGNING_KEY|TOKEN|PRIVATE", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def variables() -> dict[str, str]:
    return read_env_file()


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    data = json.loads(REALM_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def app_containers(compose: dict[str, Any]) -> dict[str, str]:
    """App name -> compose service that serves it."""
    served: dict[str, str] = {}
    for name, service in compose["services"].items():
        app = serve_command(service)
        if app is not None:
            assert app not in served, f"{app} is served by two containers"
            served[app] = name
    return served


def production_apps() -> list[AppSpec]:
    """The apps that may run in production (the development IdP refuses to)."""
    apps = []
    for spec in APPS.values():
        try:
            build_settings(spec, {"COOP_ENVIRONMENT": "production"})
        except (ProductionConfigError, ValueError):
            continue
        apps.append(spec)
    return apps


def env_of(compose: dict[str, Any], variables: dict[str, str], app: str) -> dict[str, str]:
    return container_environment(compose, app_containers(compose)[app], variables)


# --- the apps and their settings ---------------------------------------------------------


def test_every_production_app_has_its_own_container(compose: dict[str, Any]) -> None:
    served = app_containers(compose)
    expected = {spec.name for spec in production_apps()}
    assert expected >= {"gateway", "conventions", "actions", "documents"}
    assert set(served) == expected


def test_the_development_identity_provider_cannot_be_deployed() -> None:
    with pytest.raises((ProductionConfigError, ValueError)):
        build_settings(APPS["idp"], {"COOP_ENVIRONMENT": "production"})


@pytest.mark.parametrize("spec", production_apps(), ids=lambda s: s.name)
def test_each_app_starts_in_production_with_the_stack_environment(
    compose: dict[str, Any], variables: dict[str, str], spec: AppSpec
) -> None:
    env = env_of(compose, variables, spec.name)
    settings = build_settings(spec, env)
    assert settings.is_production
    # .env.example only holds placeholders; with them nothing production refuses is left.
    assert settings.production_problems() == []
    settings.check()


@pytest.mark.parametrize("spec", production_apps(), ids=lambda s: s.name)
def test_required_settings_are_provided(
    compose: dict[str, Any], variables: dict[str, str], spec: AppSpec
) -> None:
    env = env_of(compose, variables, spec.name)
    for name, field in spec.settings_class().model_fields.items():
        if field.is_required():
            names = {f"{spec.env_prefix}{name.upper()}", f"COOP_{name.upper()}"}
            assert names & set(env), f"{spec.name}: required setting {name} not provided"


@pytest.mark.parametrize("spec", production_apps(), ids=lambda s: s.name)
def test_each_app_signs_with_its_own_key(
    compose: dict[str, Any], variables: dict[str, str], spec: AppSpec
) -> None:
    raw = compose["services"][app_containers(compose)[spec.name]]["environment"]
    own = f"{spec.env_prefix}INTERNAL_SIGNING_KEY"
    assert raw.get(own) == f"${{{own}}}", f"{spec.name} must get {own} from .env"
    trusted = json.loads(env_of(compose, variables, spec.name)["COOP_INTERNAL_TRUSTED_KEYS"])
    assert set(trusted) == {s.name for s in production_apps()}


def test_generated_keys_work_between_the_apps(
    compose: dict[str, Any], variables: dict[str, str]
) -> None:
    """`coop keys` output pasted into .env: production accepts it and tokens verify."""
    from typer.testing import CliRunner

    from coop.cli import app

    result = CliRunner().invoke(app, ["keys"])
    assert result.exit_code == 0, result.output
    generated = {
        key: value.strip("'")
        for key, _, value in (line.partition("=") for line in result.output.splitlines())
    }
    filled = {**variables, **generated}
    settings = {
        spec.name: build_settings(spec, env_of(compose, filled, spec.name))
        for spec in production_apps()
    }
    for s in settings.values():
        assert s.production_problems() == []
    gateway, conventions = settings["gateway"], settings["conventions"]
    signer = InternalTokenSigner("gateway", gateway.internal_signing_key)
    token = signer.mint(Principal(subject="p", kind=PrincipalKind.person), "conventions")
    verifier = InternalTokenVerifier("conventions", conventions.internal_trusted_keys)
    assert verifier.verify(token).subject == "p"
    # One key per app: a leaked service key cannot impersonate the gateway.
    thumbprints = {
        ECKey.import_key(json.loads(s.internal_signing_key)).thumbprint() for s in settings.values()
    }
    assert len(thumbprints) == len(settings)


# --- ports, URLs, health checks ----------------------------------------------------------


def _urls(value: Any) -> list[str]:
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return [value]
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return []


@pytest.mark.parametrize("spec", production_apps(), ids=lambda s: s.name)
def test_urls_between_containers_name_the_right_port(
    compose: dict[str, Any], variables: dict[str, str], spec: AppSpec
) -> None:
    served = app_containers(compose)
    ports = {served[s.name]: build_settings(s, {}).port for s in production_apps()}
    settings = build_settings(spec, env_of(compose, variables, spec.name))
    checked = 0
    for value in settings.model_dump().values():
        for url in _urls(value):
            parts = urlsplit(url)
            if parts.hostname in ports:
                assert parts.port == ports[parts.hostname], f"{spec.name}: {url}"
                checked += 1
    if spec.name != "conventions":
        assert checked, f"{spec.name} is not pointed at any other container"


def test_the_gateway_reaches_every_service_it_routes_to(
    compose: dict[str, Any], variables: dict[str, str]
) -> None:
    gateway = build_settings(APPS["gateway"], env_of(compose, variables, "gateway"))
    defaults = build_settings(APPS["gateway"], {})
    assert set(gateway.service_urls) == set(defaults.service_urls)
    served = app_containers(compose)
    for service, url in gateway.service_urls.items():
        assert urlsplit(url).hostname == served[service]


@pytest.mark.parametrize("spec", production_apps(), ids=lambda s: s.name)
def test_each_app_listens_where_it_is_expected_and_has_a_health_check(
    compose: dict[str, Any], variables: dict[str, str], spec: AppSpec
) -> None:
    service = compose["services"][app_containers(compose)[spec.name]]
    settings = build_settings(spec, env_of(compose, variables, spec.name))
    assert settings.host == "0.0.0.0"  # noqa: S104 (inside its container)
    assert settings.port == spec.default_port
    exposed = {str(p).split(":")[-1] for p in service.get("expose", []) + service.get("ports", [])}
    assert str(settings.port) in exposed
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "coop", "healthcheck"]
    assert test[-1] == spec.name


def test_every_long_running_container_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if service.get("restart") == "no":
            continue  # one-shot jobs: waited for with service_completed_successfully
        check = service.get("healthcheck", {})
        assert check.get("test"), f"{name} has no health check"
        assert not check.get("disable"), f"{name} has its health check disabled"


def test_dependencies_wait_for_health_or_completion(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            condition = rule["condition"]
            if services[target].get("restart") == "no":
                assert condition == "service_completed_successfully", f"{name} -> {target}"
            else:
                assert condition == "service_healthy", f"{name} -> {target}"
    served = app_containers(compose)
    for app in served:
        assert "migrate" in services[served[app]]["depends_on"], f"{app} starts before migrate"
    assert services["migrate"]["command"] == ["migrate"]


def test_documents_storage_and_antivirus_match_their_containers(
    compose: dict[str, Any], variables: dict[str, str]
) -> None:
    documents = build_settings(APPS["documents"], env_of(compose, variables, "documents"))
    assert documents.storage_backend == "s3"
    assert documents.antivirus is True
    init = container_environment(compose, "minio-init", variables)
    assert init["S3_BUCKET"] == documents.s3_bucket
    assert init["S3_ACCESS_KEY_ID"] == documents.s3_access_key_id
    host, _, port = documents.clamd_address.partition(":")
    assert host in compose["services"]
    assert port == "3310"
    clamd_conf = (REPO_ROOT / "deploy" / "clamav" / "clamd.conf").read_text()
    assert re.search(r"^TCPSocket 3310$", clamd_conf, re.MULTILINE)
    stream_max = re.search(r"^StreamMaxLength (\d+)M$", clamd_conf, re.MULTILINE)
    assert stream_max
    assert int(stream_max.group(1)) * 1024 * 1024 >= documents.max_file_bytes


# --- Keycloak realm -----------------------------------------------------------------------


def _clients(realm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["clientId"]: c for c in realm["clients"]}


def test_the_gateway_trusts_the_realm_it_imports(
    compose: dict[str, Any], variables: dict[str, str], realm: dict[str, Any]
) -> None:
    gateway = build_settings(APPS["gateway"], env_of(compose, variables, "gateway"))
    keycloak = container_environment(compose, "keycloak", variables)
    assert gateway.oidc_issuer == f"{keycloak['KC_HOSTNAME']}/realms/{realm['realm']}"
    discovery = urlsplit(gateway.discovery_url)
    assert discovery.hostname == "keycloak"
    assert discovery.port == 8080
    assert discovery.path == f"/realms/{realm['realm']}/.well-known/openid-configuration"
    volumes = compose["services"]["keycloak"]["volumes"]
    assert "./deploy/keycloak:/opt/keycloak/data/import:ro" in volumes
    assert "--import-realm" in compose["services"]["keycloak"]["command"]


def test_every_client_puts_the_api_audience_in_access_tokens(
    compose: dict[str, Any], variables: dict[str, str], realm: dict[str, Any]
) -> None:
    gateway = build_settings(APPS["gateway"], env_of(compose, variables, "gateway"))
    for client_id, client in _clients(realm).items():
        audiences = [
            m["config"]["included.custom.audience"]
            for m in client.get("protocolMappers", [])
            if m["protocolMapper"] == "oidc-audience-mapper"
            and m["config"].get("access.token.claim") == "true"
        ]
        assert audiences == [gateway.oidc_audience], client_id


def test_the_mobile_app_is_a_public_pkce_client(realm: dict[str, Any]) -> None:
    mobile = _clients(realm)["ctg-dans-ma-poche"]
    assert mobile["publicClient"] is True
    assert mobile["standardFlowEnabled"] is True
    assert mobile["attributes"]["pkce.code.challenge.method"] == "S256"
    assert not mobile["implicitFlowEnabled"]
    assert not mobile["directAccessGrantsEnabled"]
    assert "*" not in "".join(mobile["redirectUris"])


def test_the_api_console_signs_in_at_the_realm(
    compose: dict[str, Any], variables: dict[str, str], realm: dict[str, Any]
) -> None:
    """/docs in production: the gateway's console client is a public PKCE client of the
    realm, sent back to the gateway's public /docs/oauth2-redirect, its origin allowed by
    Keycloak's CORS (webOrigins), and the console's CSP lets the page reach Keycloak."""
    gateway = build_settings(APPS["gateway"], env_of(compose, variables, "gateway"))
    keycloak = container_environment(compose, "keycloak", variables)
    console = _clients(realm)[gateway.console_client_id]
    assert console["publicClient"] is True
    assert console["standardFlowEnabled"] is True
    assert console["attributes"]["pkce.code.challenge.method"] == "S256"
    assert not console["implicitFlowEnabled"]
    assert not console["directAccessGrantsEnabled"]
    api = keycloak["COOP_PUBLIC_API_URL"]
    assert api.startswith("https://")
    placeholder = "${COOP_PUBLIC_API_URL}"
    assert console["redirectUris"] == [placeholder + OAUTH2_REDIRECT_PATH]
    assert console["webOrigins"] == [placeholder]
    assert origin_of(api) == api
    # The browser reaches Keycloak at its public URL, never at the internal one.
    provider = origin_of(gateway.public_discovery_url)
    assert provider == keycloak["KC_HOSTNAME"]
    assert f"connect-src 'self' {provider};" in console_csp(gateway)


def test_machine_clients_match_the_demo_clients_and_use_client_credentials(
    compose: dict[str, Any], variables: dict[str, str], realm: dict[str, Any]
) -> None:
    machines = {cid: c for cid, c in _clients(realm).items() if c.get("serviceAccountsEnabled")}
    # Same client ids as the development identity provider: habilitations registered
    # for `partenaire` and `back-office` mean the same clients in both worlds.
    assert set(machines) == set(build_settings(APPS["idp"], {}).client_secrets)
    for client_id, client in machines.items():
        assert client["publicClient"] is False
        assert not client["standardFlowEnabled"]
        assert not client["directAccessGrantsEnabled"]
        # The gateway names a machine client by its `client_id` claim, and knows the
        # token is the client's (not a person's) by its service account's username:
        # `preferred_username` (the `profile` scope) = service-account-<client_id>.
        claims = {m["config"].get("claim.name") for m in client["protocolMappers"]}
        assert "client_id" in claims, client_id
        assert "profile" in client["defaultClientScopes"], client_id
        # `sub` (the `basic` scope): the service account's id, not the client's.
        assert "basic" in client["defaultClientScopes"], client_id
    gateway = build_settings(APPS["gateway"], env_of(compose, variables, "gateway"))
    assert gateway.oidc_service_account_claim == "preferred_username"
    assert gateway.oidc_service_account_value == "service-account-{client_id}"
    # No person logs in through a client that has a service account: the rule can only
    # match a service account's token.
    for client in realm["clients"]:
        assert not (client.get("serviceAccountsEnabled") and client.get("standardFlowEnabled"))


def test_the_user_profile_declares_what_the_gateway_reads(realm: dict[str, Any]) -> None:
    provider = realm["components"]["org.keycloak.userprofile.UserProfileProvider"][0]
    profile = json.loads(provider["config"]["kc.user.profile.config"][0])
    declared = {a["name"] for a in profile["attributes"]}
    # `email` (invitations) and `name` (= firstName + lastName) end up in the tokens.
    assert {"email", "firstName", "lastName"} <= declared


# --- secrets --------------------------------------------------------------------------------


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if SECRET_NAME.search(key) or "TRUSTED_KEYS" in key:
                assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", str(value)), f"{name}: {key}"
    text = COMPOSE_FILE.read_text()
    assert "BEGIN PRIVATE KEY" not in text
    assert '"d":' not in text


def test_every_variable_comes_from_env_example(variables: dict[str, str]) -> None:
    needed = variables_without_default(COMPOSE_FILE.read_text())
    missing = sorted(needed - set(variables))
    assert missing == [], f"variables missing from .env.example: {missing}"


def test_env_example_holds_placeholders_only(variables: dict[str, str]) -> None:
    for key, value in variables.items():
        if SECRET_NAME.search(key):
            assert "change-me" in value, f".env.example: {key} looks like a real secret"


def test_realm_secrets_are_placeholders_given_to_keycloak(
    compose: dict[str, Any], realm: dict[str, Any]
) -> None:
    keycloak_env = compose["services"]["keycloak"]["environment"]
    text = REALM_FILE.read_text()
    for client in realm["clients"]:
        if "secret" in client:
            assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", client["secret"]), client["clientId"]
    for placeholder in set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", text)):
        assert placeholder in keycloak_env, f"realm placeholder {placeholder} not set"


def test_secrets_stay_out_of_the_image_and_the_repository() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored
    assert ".coop" in ignored
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert ENV_EXAMPLE.name == ".env.example"


# --- the image ---------------------------------------------------------------------------


def test_one_multi_stage_image_runs_any_app_as_non_root() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) >= 2, "multi-stage build expected"
    final = stages[-1]
    assert final.startswith("python:3.11")
    assert "build-essential" not in final
    assert "gcc" not in final
    user = re.search(r"^USER (\S+)", final, re.MULTILINE)
    assert user
    assert user.group(1).split(":")[0] not in {"root", "0"}
    assert re.search(r'^ENTRYPOINT \["coop"\]$', final, re.MULTILINE)
    assert re.search(r'^\s+CMD \["coop", "healthcheck"\]$', final, re.MULTILINE)
    cmd = re.search(r'^CMD \["serve", "([a-z]+)"\]$', final, re.MULTILINE)
    assert cmd
    assert cmd.group(1) in APPS
    # The Alembic trees travel with the installed kernel (kernel.migrations finds them).
    assert "COPY migrations /opt/venv/lib/python3.11/site-packages/migrations" in text


def test_the_stack_runs_the_postgresql_major_of_development_and_tests(
    compose: dict[str, Any],
) -> None:
    """What the tests prove on the embedded server (extensions, SQL) holds in production."""
    from kernel.embedded_db import server_major

    postgres = compose["services"]["postgres"]
    assert re.fullmatch(rf"postgres:{server_major()}(\.\d+)*(-alpine)?", postgres["image"])
    # From 18 on the image keeps its cluster in <major>/docker under this directory; a
    # volume mounted at the former .../data would leave the data in the container.
    mounts = [volume.split(":")[1] for volume in postgres["volumes"]]
    assert "/var/lib/postgresql" in mounts


def _server_options(command: list[str]) -> dict[str, str]:
    """The `-c name=value` options of the postgres container's command."""
    pairs = itertools.pairwise(command)
    return dict(value.split("=", 1) for flag, value in pairs if flag == "-c")


def test_postgresql_accepts_every_connection_the_stack_may_open(
    compose: dict[str, Any], variables: dict[str, str]
) -> None:
    """Each app holds its COOP_DB_CONNECTIONS at most whatever its worker count, each job
    worker its budget, Keycloak its pool: together, with the tools' share, within what
    max_connections leaves ordinary roles (PostgreSQL's default 100 was below four apps
    of 2 workers × (10 + 10) connections: "too many clients already", then 503s)."""
    services = compose["services"]
    max_connections = int(_server_options(services["postgres"]["command"])["max_connections"])
    needed = {
        spec.name: build_settings(spec, env_of(compose, variables, spec.name)).db_connections
        for spec in production_apps()
        if spec.migrations is not None
    }
    assert set(needed) == {"gateway", "conventions", "actions", "documents", "notifications"}
    replicas = int(services["worker"].get("deploy", {}).get("replicas", 1))
    worker_env = container_environment(compose, "worker", variables)
    needed["worker"] = replicas * connections.worker_connections(worker_env)
    keycloak = container_environment(compose, "keycloak", variables)
    needed["keycloak"] = int(keycloak["KC_DB_POOL_MAX_SIZE"])
    # PostgreSQL's default superuser_reserved_connections (reserved_connections: 0).
    limit = connections.ServerLimit(max_connections, reserved=3)
    assert connections.problem(needed, limit) is None
    assert sum(needed.values()) == 5 * 32 + needed["worker"] + 20  # the defaults


def test_the_worker_runs_each_apps_jobs_with_that_apps_own_settings(
    compose: dict[str, Any], variables: dict[str, str]
) -> None:
    """`coop worker` builds each app's settings to run its jobs (its replica, the rescan
    on S3 with clamd, the grant sweep, the purge of Idempotency-Keys): the same values as
    that app's own container."""
    from coop.config_doc import WORKER

    worker = compose["services"]["worker"]
    assert worker["command"] == ["worker"]
    assert worker["healthcheck"]["test"] == ["CMD", "coop", "healthcheck", "worker"]
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    env = container_environment(compose, "worker", variables)
    with_jobs = [spec for spec in APPS.values() if spec.jobs is not None]
    assert {spec.name for spec in with_jobs} == {
        "conventions",
        "actions",
        "documents",
        "notifications",
        "gateway",
    }
    for spec in with_jobs:
        own = env_of(compose, variables, spec.name)
        differing = sorted(k for k, v in own.items() if env.get(k) != v)
        assert differing == [], f"worker lacks {spec.name}'s {differing}"
        assert build_settings(spec, env).production_problems() == []
    assert build_settings(WORKER, env).production_problems() == []
