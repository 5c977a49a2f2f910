"""Browser tests: Playwright drives Debian's headless Chromium (/usr/bin/chromium; .ci/run installs it) against
`kim up`. axe-core (vendored in gateway/app/vendor/axe-core, never served to users) is evaluated in the page by
the tests only; each screen is checked and photographed into tests/browser/artifacts/."""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import requests

CHROMIUM = Path(os.environ.get("KIM_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).resolve().parents[2] / "gateway" / "app" / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).with_name("artifacts")

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    before = set(_children())
    playwright = sync_playwright().start()
    driver = set(_children()) - before  # Playwright's driver process
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    yield browser
    browser.close()
    # playwright.stop() waits for the driver in a way eventlet's patched os never wakes up from (the tests
    # run monkey-patched): end the driver ourselves
    for pid in driver:
        os.kill(pid, signal.SIGTERM)


def _children() -> list[int]:
    """Ids of this process's child processes (from /proc)."""
    me, found = str(os.getpid()), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                pass
    return found


class Screen:
    """A page of the app plus the checks every screen gets: no serious/critical axe violation, a screenshot,
    and no script error."""

    def __init__(self, page, base_url):
        self.page, self.url = page, base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.set_default_timeout(10_000)

    def open(self, fragment=""):
        self.page.goto(f"{self.url}/app/{fragment}")
        self.page.wait_for_selector("main h1")

    def check(self, name: str):
        """axe-core on the current screen (WCAG 2.0/2.1 A and AA rules), then a full-page screenshot."""
        page = self.page  # (no wait_for_load_state/wait_for_timeout: their timers never fire under eventlet)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")  # CDP evaluation: the page's CSP stays strict
        result = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))""")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        assert serious == [], (name, serious)
        assert self.errors == [], (name, self.errors)

    def sign_in(self, role, municipality="05962032", sub=None, provider_id=None):
        page = self.page
        if page.locator("#signout").is_visible():
            page.click("#signout")
        page.wait_for_selector("form.signin")
        page.select_option("select[name=role]", role)
        page.select_option("select[name=municipalities]", municipality)
        if sub:
            page.fill("input[name=sub]", sub)
        if provider_id:
            page.fill("input[name=provider_id]", provider_id)
        page.click("form.signin button[type=submit]")
        page.wait_for_selector("#signout", state="visible")

    def token(self, role, municipality="05962032", **claims):
        """A token of the running system, minted by its development sign-in (as the app does)."""
        response = requests.post(f"{self.url}/app/dev-token",
                                 json={"role": role, "municipalities": [municipality], **claims}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


@pytest.fixture
def screen(chromium):
    contexts = []

    def make(base_url):
        context = chromium.new_context(locale="de-DE", timezone_id="Europe/Berlin",
                                       viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return Screen(context.new_page(), base_url)
    yield make
    for context in contexts:
        context.close()


def person_id_in(url: str) -> str:
    return re.search(r"#/person/([0-9a-f-]{36})", url).group(1)
