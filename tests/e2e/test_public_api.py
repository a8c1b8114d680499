"""The public API as an integrator first meets it, on the whole suite as real processes:
the console at /docs in a real browser, and the examples of docs/api.md run as written.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from coop.stack import Stack
from tests.support.browser import chromium, off_loopback, requested_urls
from tests.support.suite import coop, grant, import_organisations, persona_token, running_stack
from tests.support.system_tools import require_program

DOCS_API = Path(__file__).parents[2] / "docs" / "api.md"
TODAY = dt.datetime.now(dt.UTC).date()
SOCLE = ["petite enfance", "enfance", "jeunesse", "parentalité"]


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # One worker per app: nothing here measures throughput.
    with running_stack(database_url, tmp_path_factory.mktemp("public"), COOP_WORKERS="1") as s:
        yield s


def create_convention(stack: Stack, persona: str, caf: str, commune: str, titre: str) -> str:
    body = {
        "caf_id": caf,
        "echelon": "commune",
        "titre": titre,
        "date_debut": dt.date(TODAY.year, 1, 1).isoformat(),
        "date_fin": dt.date(TODAY.year + 4, 12, 31).isoformat(),
        "thematiques": SOCLE,
        "signataires": [{"organisation_id": caf}, {"organisation_id": commune}],
    }
    created = httpx.post(
        f"{stack.url('gateway')}/api/v1/conventions",
        json=body,
        headers={"authorization": f"Bearer {persona_token(stack, persona)}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


# --- the console -----------------------------------------------------------------------


def _wait(driver: WebDriver, seconds: float = 20) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, seconds)


def _visible(driver: WebDriver, css: str) -> WebElement:
    element: WebElement = _wait(driver).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
    )
    return element


def _sign_in_with_the_code_flow(driver: WebDriver, persona: str) -> None:
    """Authorize → the OIDC scheme's authorization-code section → the provider's page in
    a popup (asked with a PKCE challenge) → a persona: the popup closes, the console holds
    the persona's token."""
    console = driver.current_window_handle
    _visible(driver, "button.authorize").click()
    section = _wait(driver).until(
        lambda d: next(
            (
                c
                for c in d.find_elements(By.CSS_SELECTOR, ".auth-container")
                if "authorization_code" in c.text or "authorizationCode" in c.text
            ),
            None,
        )
    )
    assert section is not None
    client_id = section.find_element(By.CSS_SELECTOR, "input#client_id_authorization_code")
    assert client_id.get_attribute("value") == "coop-console"
    section.find_element(By.CSS_SELECTOR, "button.authorize").click()
    _wait(driver).until(lambda d: len(d.window_handles) == 2)
    popup = next(h for h in driver.window_handles if h != console)
    driver.switch_to.window(popup)
    login = _visible(driver, f'button[name="persona"][value="{persona}"]')
    asked = httpx.URL(driver.current_url)
    assert asked.params["client_id"] == "coop-console"
    assert asked.params["code_challenge_method"] == "S256"
    assert asked.params["redirect_uri"].endswith("/docs/oauth2-redirect")
    login.click()
    # The provider sends the popup back to /docs/oauth2-redirect, which hands the code
    # to the console and closes.
    _wait(driver).until(lambda d: len(d.window_handles) == 1)
    driver.switch_to.window(console)
    _wait(driver).until(
        lambda d: any(
            "logout" in b.text.lower()
            for b in d.find_elements(By.CSS_SELECTOR, ".auth-container button")
        )
    )
    driver.find_element(By.CSS_SELECTOR, ".modal-ux button.close-modal").click()


def _try_it_out(driver: WebDriver, method: str, path: str) -> tuple[str, str]:
    """Open the operation, "Try it out", "Execute": the status and body shown."""
    block = _visible(driver, f'.opblock-{method}:has(.opblock-summary-path[data-path="{path}"])')
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    opened = f".opblock-{method}.is-open"
    _visible(driver, f"{opened} button.try-out__btn").click()
    _visible(driver, f"{opened} button.execute").click()
    answer = f"{opened} .live-responses-table tr.response"
    status = _visible(driver, f"{answer} .response-col_status")
    body = _visible(driver, f"{answer} .response-col_description pre")
    return status.text.strip(), body.text


@pytest.mark.slow
def test_the_console_signs_in_and_runs_a_call_without_leaving_the_machine(
    stack: Stack, tmp_path: Path
) -> None:
    """/docs in headless Chromium: the page loads (packaged Swagger UI), "Authorize"
    completes the authorization code + PKCE flow as a demo persona, "Try it out" on the
    conventions list answers 200 with that persona's convention; no request ever went
    to a host but this machine, and the page's policy refused nothing."""
    ids = import_organisations(tmp_path)
    grant(stack, "caf-agent", ids["Caf de l'Isère"], "caf", "agent")
    create_convention(stack, "caf-agent", ids["Caf de l'Isère"], ids["Voiron"], "CTG de Voiron")

    with chromium() as driver:
        driver.get(stack.url("gateway") + "/docs")
        title = _visible(driver, ".swagger-ui .info .title")
        assert "Coopération" in title.text
        _sign_in_with_the_code_flow(driver, "caf-agent")
        status, body = _try_it_out(driver, "get", "/api/v1/conventions")
        assert status == "200", body
        assert "CTG de Voiron" in body
        urls = requested_urls(driver)
        console_log = driver.get_log("browser")

    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in urls)
    # The code was redeemed by the console itself (CORS on the provider's token endpoint).
    assert f"{stack.url('idp')}/token" in urls
    assert off_loopback(urls) == []
    refused = [e["message"] for e in console_log if "Content Security Policy" in e["message"]]
    assert refused == []


# --- docs/api.md -----------------------------------------------------------------------

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", flags=re.MULTILINE | re.DOTALL)


def doc_examples(markdown: str) -> list[tuple[str, str | None]]:
    """Each `sh` block of the guide, with the `text` block right after it (what it
    prints), if there is one."""
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(markdown)]
    examples: list[tuple[str, str | None]] = []
    for i, (kind, body, _, end) in enumerate(blocks):
        if kind != "sh":
            continue
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        shown = (
            following[1]
            if following and following[0] == "text" and not markdown[end : following[2]].strip()
            else None
        )
        examples.append((body, shown))
    return examples


def test_the_examples_of_the_integration_guide_run_as_written(stack: Stack, tmp_path: Path) -> None:
    """docs/api.md's `sh` blocks, in order, in one bash, with `set -euo pipefail`, as a
    Caf's back-office system (a machine client, agent of the Caf de l'Isère) would run
    them: each prints exactly what the guide shows after it."""
    for program, package in (("curl", "curl"), ("jq", "jq"), ("openssl", "openssl")):
        require_program(program, package)
    ids = import_organisations(tmp_path)
    caf, voiron = ids["Caf de l'Isère"], ids["Voiron"]
    coop("clients", "add", "back-office", "--organisation", caf, "--kind", "caf", "--role", "agent")
    grant(stack, "caf-agent", caf, "caf", "agent")
    create_convention(stack, "caf-agent", caf, voiron, "CTG de Voiron 2021-2025")

    examples = doc_examples(DOCS_API.read_text(encoding="utf-8"))
    assert len(examples) >= 8
    script = ["set -euo pipefail"]
    for number, (body, _) in enumerate(examples):
        script += [body, f"printf '\\n::exemple {number}::\\n'"]
    work = tmp_path / "integrateur"
    work.mkdir()
    run = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=work,
        env={"PATH": "/usr/bin:/bin", "API": stack.url("gateway"), "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    printed = re.split(r"\n?::exemple \d+::\n", run.stdout)
    # Every example ran to its end (set -e stops at the first failing command).
    assert len(printed) == len(examples) + 1, f"{run.stdout}\n{run.stderr}"
    differing = [
        (body, shown, out)
        for (body, shown), out in zip(examples, printed, strict=False)
        if shown is not None and out.strip() != shown.strip()
    ]
    assert differing == [], "\n\n".join(
        f"{b}--- the guide\n{s}--- printed\n{o}" for b, s, o in differing
    )
    assert run.returncode == 0, run.stderr
