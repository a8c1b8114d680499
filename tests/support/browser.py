"""Headless Chromium driven by Selenium: Debian's `chromium` and its `chromium-driver`
(installed by .ci/run), never a browser or driver fetched at run time."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.system_tools import require_program

# Nothing but the page under test: no sync, component updates or first-run requests of
# the browser's own; and what it would still try (account and update checks) never
# leaves the machine: every name but loopback's fails to resolve.
FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,1600",
    "--lang=fr-FR",
)
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A fresh browser (its own profile directory), its network events recorded."""
    binary = require_program("chromium", "chromium")
    driver_path = require_program("chromedriver", "chromium-driver")
    with tempfile.TemporaryDirectory(prefix="coop-chromium-") as profile:
        options = webdriver.ChromeOptions()
        # Both paths given: Selenium Manager never looks for (or downloads) anything.
        options.binary_location = binary
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
        try:
            yield driver
        finally:
            driver.quit()


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the pages asked for since the last call (DevTools' Network events)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def off_loopback(urls: list[str]) -> list[str]:
    """The URLs that would leave the machine (`data:`, `blob:` or the browser's own
    `chrome:` pages never do)."""
    return [
        url
        for url in urls
        if urlsplit(url).scheme in {"http", "https", "ws", "wss", "ftp"}
        and urlsplit(url).hostname not in LOOPBACK
    ]
