"""The web app's browser flows: Playwright drives Debian's headless Chromium against a running `kim up`.

Run in a process of its own, WITHOUT eventlet: the test suite monkey-patches everything at import
(tests/conftest.py), and Playwright's sync API hangs under it. tests/browser/test_app.py starts the system and
runs this file as a child process:

    python tests/browser/flows.py URL RESULT.json [FLOW ...]

It writes RESULT.json: {"flows": {name: {"ok", "error"}}, "screens": [{"name", "violations", "errors",
"screenshot"}]}. Each screen gets axe-core (vendored in gateway/app/vendor/axe-core, never served to users,
evaluated over CDP so the page's CSP stays strict) and a full-page screenshot in tests/browser/artifacts/.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import sys
import time
import traceback
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("KIM_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "gateway" / "app" / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).with_name("artifacts")
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
LUEDENSCHEID = "05962032"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


class Screen:
    """A page of the app plus what every screen gets: axe-core, a screenshot, and the page's script errors."""

    def __init__(self, page, base_url, report):
        self.page, self.url, self.report = page, base_url, report
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.set_default_timeout(15_000)

    def open(self, fragment=""):
        self.page.goto(f"{self.url}/app/{fragment}")
        self.page.wait_for_selector("main h1")

    def go(self, fragment, selector):
        self.page.goto(f"{self.url}/app/{fragment}")
        self.page.wait_for_selector(selector)

    def check(self, name: str, docs: str | None = None):
        """axe-core on the current screen (WCAG 2.0/2.1 A and AA, best practice), then a full-page screenshot
        (and the README's view as <docs>.png, copied to docs/screenshots with KIM_UPDATE_SCREENSHOTS=1)."""
        page = self.page
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
        violations = page.evaluate("""async (tags) => (await axe.run(document, {runOnly: {type: 'tag',
            values: tags}})).violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' '))}))""", AXE_TAGS)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        if docs:
            page.screenshot(path=str(ARTIFACTS / f"{docs}.png"), full_page=False)
            if os.environ.get("KIM_UPDATE_SCREENSHOTS") == "1":  # not on every run: the tree stays clean
                DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(DOCS_SCREENSHOTS / f"{docs}.png"), full_page=False)
        self.report["screens"].append({"name": name, "violations": violations, "errors": list(self.errors),
                                       "screenshot": str(shot.relative_to(ROOT))})
        self.errors.clear()

    def sign_in(self, role, municipality=LUEDENSCHEID, sub=None, provider_id=None):
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

    def token(self, role, municipality=LUEDENSCHEID, **claims):
        """A token of the running system, minted by its development sign-in (as the app does)."""
        response = requests.post(f"{self.url}/app/dev-token",
                                 json={"role": role, "municipalities": [municipality], **claims}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def api(self, method, path, token, expect=(200, 201, 202), **kwargs):
        """The public API with a token (for setting up what the screens do not create)."""
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        if method == "POST":
            headers.setdefault("Idempotency-Key", os.urandom(8).hex())
        response = requests.request(method, f"{self.url}{path}", headers=headers, timeout=15, **kwargs)
        assert response.status_code in expect, (method, path, response.status_code, response.text)
        return response.json() if response.content else None


def days_from_today(days: int) -> str:
    """A date relative to the day the test runs: a fixed future date would turn into a past one."""
    return (datetime.date.today() + datetime.timedelta(days=days)).isoformat()


def german(iso_day: str) -> str:
    """A day as the German screens show it: 2026-12-15 -> 15.12.2026."""
    return datetime.date.fromisoformat(iso_day).strftime("%d.%m.%Y")


def person_id_in(url: str) -> str:
    return re.search(r"#/person/([0-9a-f-]{36})", url).group(1)


def fill_person(page, given, family, birth, arrival):
    """The registration form's core fields (a Ukrainian woman in Lüdenscheid under §24)."""
    page.fill("[name=given_name]", given)
    page.fill("[name=family_name]", family)
    page.fill("[name=birth_date]", birth)
    page.select_option("[name=sex]", "female")
    page.fill("[name=nationalities]", "ua")
    page.select_option("[name=municipality]", LUEDENSCHEID)
    page.fill("[name=arrival_date]", arrival)
    page.select_option("[name=residence_status]", "temporary_protection")
    # the codes read in German; the API gets the code
    chosen = page.locator("[name=residence_status] option:checked").inner_text()
    assert chosen == "vorübergehender Schutz (§ 24 AufenthG)", chosen


def fill_registration(page, given, family, birth="1990-01-02"):
    fill_person(page, given, family, birth, "2026-10-02")
    page.fill("[name=municipality_arrival_date]", "2026-10-05")
    page.fill("[name=residence_valid_until]", days_from_today(90))
    page.fill("[name=languages]", "uk, ru")
    page.fill("[name=mother_tongues]", "uk")
    page.select_option("[name=german_level]", "A1")
    page.check("[name=interpreter_needed]")
    page.fill("[name=phone]", "+49 2351 123456")
    page.fill("[name=email]", "o.k@example.org")
    page.select_option("[name=preferred_channel]", "phone")
    page.fill("[name='address.street']", "Sauerfelder Str. 1")
    page.fill("[name='address.postal_code']", "58511")
    page.fill("[name='address.city']", "Lüdenscheid")
    statistics = page.locator(".consent[data-purpose=statistics]")
    statistics.locator("input[type=checkbox]").check()
    statistics.locator("select").select_option("oral_with_interpreter")


def intake_and_privacy(s):
    page = s.page
    system = s

    # sign-in: German first; the development sign-in is offered (kim up, no issuer)
    s.open()
    assert page.inner_text("main h1") == "Anmelden" and page.get_attribute("html", "lang") == "de"
    assert page.locator("#oidc-signin").count() == 0
    s.check("01-sign-in")
    # keyboard: the first tab stop is the skip link, and it moves focus to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    s.sign_in("intake_officer")
    s.check("02-home-intake-officer")

    # register: the API's 422 lands next to the fields it names
    page.click("#nav >> text=Neu registrieren")
    page.wait_for_selector("[name=given_name]")
    page.fill("[name=phone]", "12")
    page.fill("[name=languages]", "uk")
    page.click("form button[type=submit]")
    page.wait_for_selector(".form-problem")
    for name in ("given_name", "family_name", "residence_status", "phone"):
        control = page.locator(f"[name={name}]")
        assert control.get_attribute("aria-invalid") == "true", name
        described = control.get_attribute("aria-describedby").split()
        assert any(page.locator(f"#{i}.field-error").count() for i in described), name
    assert page.evaluate("document.activeElement.name") in ("given_name", "family_name", "birth_date")
    # the API's English messages in German: its problem's title, marshmallow's and its own phrases
    assert page.inner_text(".form-problem strong").startswith("Ungültige Angaben (422)")
    errors = page.locator(".field-error").all_inner_texts()
    assert any("Pflichtangabe fehlt." in e for e in errors) and any("7 bis 15 Ziffern" in e for e in errors), errors
    s.check("03-register-errors")

    # register with every field and two consents (with their basis)
    page.fill("[name=phone]", "")
    fill_registration(page, "Оксана", "Коваленко")
    s.check("04-register-form")
    page.click("form button[type=submit]")
    page.wait_for_url("**/#/person/*")
    first = person_id_in(page.url)
    page.wait_for_selector("#record-title")
    assert "Коваленко" in page.inner_text("main h1")
    shown = page.inner_text("dl.record")  # codes in words, the town by its name
    assert "vorübergehender Schutz (§ 24 AufenthG)" in shown and "Lüdenscheid (05962032)" in shown, shown
    assert "Ukrainisch (uk)" in shown and "Ukraine" in shown, shown  # languages and nationality by name

    # the same person again: 409, candidates side by side; "register as new" re-sends with confirmed_new
    page.goto(f"{system.url}/app/#/register")
    page.wait_for_selector("form:not(.rectify) [name=municipality]")
    fill_registration(page, "Oksana", "Kovalenko")
    page.click("form button[type=submit]")
    page.wait_for_selector(".duplicates .card >> nth=1")
    assert page.locator(".duplicates .card").count() >= 2
    assert page.locator(".duplicates dd.same").count() >= 3  # same birth date, town, languages: marked in words
    s.check("05-duplicates")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/persons")) as sent:
        page.click(".duplicates .confirm-new")
    assert json.loads(sent.value.post_data)["confirmed_new"] is True
    page.wait_for_url("**/#/person/*")
    second = person_id_in(page.url)
    assert second != first

    # ... or "link" to the existing record (or open it, where the API has no link)
    page.goto(f"{system.url}/app/#/register")
    page.wait_for_selector("form:not(.rectify) [name=municipality]")
    fill_registration(page, "Oksana", "Kowalenko")
    page.click("form button[type=submit]")
    page.wait_for_selector(".duplicates .card >> nth=1")
    target = page.locator(".duplicates .card").nth(1).locator("a").get_attribute("href").rsplit("/", 1)[1]
    if page.locator(".duplicates .link-existing").count():
        page.locator(".duplicates .link-existing").first.click()
    else:
        page.locator(".duplicates .card").nth(1).locator("a").click()
    page.wait_for_url(f"**/#/person/{target}")

    # search, tolerant of transliteration: Latin letters find the Cyrillic record
    page.click("#nav >> text=Personensuche")
    page.fill("[name=q]", "Kowalenko Oksana")
    page.click("form button[type=submit]")
    page.wait_for_selector("main table")
    assert page.locator(f"main table a[href='#/person/{first}']").count() == 1
    s.check("06-search")

    # rectify with If-Match; a change by someone else meanwhile answers 412 and the app shows what changed
    page.goto(f"{system.url}/app/#/person/{first}")
    page.wait_for_selector("form.rectify")
    lead = {"Authorization": f"Bearer {s.token('team_lead')}"}
    url = f"{system.url}/v1/persons/{first}"
    etag = requests.get(url, headers=lead, timeout=10).headers["ETag"]
    changed = requests.patch(url, json={"email": "neu@example.org"}, headers={**lead, "If-Match": etag}, timeout=10)
    assert changed.status_code == 200, changed.text
    page.fill("form.rectify [name=phone]", "+49 2351 999999")
    page.click("form.rectify button[type=submit]")
    page.wait_for_selector(".conflict table")
    conflict = page.inner_text(".conflict table")
    assert "o.k@example.org" in conflict and "neu@example.org" in conflict
    s.check("07-rectify-conflict")
    page.click(".conflict .apply-mine")
    page.wait_for_selector("form.rectify .notice.ok")
    record = requests.get(url, headers=lead, timeout=10).json()
    assert record["phone"] == "+49 2351 999999" and record["email"] == "neu@example.org"

    # a 503 offers a retry that re-sends the same Idempotency-Key (the first answer is faked unavailable)
    keys = []

    def flaky(route):
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fulfill(status=503, content_type="application/problem+json", headers={"Retry-After": "2"},
                          body=json.dumps({"type": "urn:kim:problem:service-unavailable", "status": 503,
                                           "title": "Service unavailable", "detail": "retry later"}))
        else:
            route.continue_()
    page.route("**/v1/households", flaky)
    page.click("text=Haushalt anlegen")
    page.wait_for_selector("button.retry")
    s.check("08-retry-after-503")
    page.click("button.retry")
    page.wait_for_url("**/#/household/*")
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    page.unroute("**/v1/households")
    page.wait_for_selector(f"main table td >> text={first}")
    s.check("09-household")

    # the team lead sees the history of changes
    s.sign_in("team_lead")
    page.goto(f"{system.url}/app/#/person/{first}")
    page.wait_for_selector("#history-title + div table")
    history = page.inner_text("#history-title + div table")
    assert "+49 2351 999999" in history and "neu@example.org" in history
    s.check("10-person-team-lead")

    # English on request
    page.click("#lang")
    page.wait_for_selector("text=History of changes")
    assert page.get_attribute("html", "lang") == "en"
    page.click("#lang")

    # data protection officer: audit log, export, erasure with each service's confirmation
    s.sign_in("data_protection_officer")
    page.click("#nav >> text=Protokoll")
    page.fill("[name=person_id]", first)
    page.click("form button[type=submit]")
    page.wait_for_selector("main table >> text=Person berichtigt (person.update)")
    s.check("11-audit")
    page.goto(f"{system.url}/app/#/privacy/{first}")
    page.wait_for_selector("button.export")
    page.click("button.export")
    page.wait_for_selector("#export-title")
    assert first in page.inner_text("main pre")
    assert "Vermittlungen" in page.inner_text("#export-title ~ table")  # every part of the export counted
    s.check("12-export")
    page.click("button.erase")  # not confirmed yet: refused, focus on the confirmation
    assert page.evaluate("document.activeElement.type") == "checkbox"
    page.check("text=Ich bestätige die Löschung")
    page.click("button.erase")
    page.wait_for_selector(".erasure table")
    for _ in range(40):
        if page.get_attribute(".erasure-status", "data-status") == "completed":
            break
        time.sleep(0.25)
        page.click(".erasure button.secondary")
        page.wait_for_selector(".erasure table")
    assert page.get_attribute(".erasure-status", "data-status") == "completed"
    assert page.inner_text(".erasure-status") == "abgeschlossen"
    assert "Fallmanagement" in page.inner_text(".erasure table")  # casework confirmed, named in words
    s.check("13-erasure")


def register_in_ui(s, given, family, birth, consents=("case_management", "referral_sharing", "statistics")):
    page = s.page
    page.goto(f"{s.url}/app/#/register")
    page.wait_for_selector("form:not(.rectify) [name=municipality]")
    fill_person(page, given, family, birth, "2026-09-14")
    page.fill("[name=languages]", "uk")
    page.fill("[name=phone]", "+49 2351 765432")
    page.select_option("[name=preferred_channel]", "phone")
    for purpose in consents:
        consent = page.locator(f".consent[data-purpose={purpose}]")
        consent.locator("input[type=checkbox]").check()
        consent.locator("select").select_option("signed_form")
    page.click("form button[type=submit]")


def casework(s):
    """Intake registers (and resolves a duplicate), the case gets its case manager, who assesses, plans, records
    a barrier and sends a referral; the partner accepts it; the team lead sees the caseload; the analyst sees
    the barrier counted or suppressed."""
    page, run = s.page, os.urandom(3).hex()
    username, provider = f"cm{run}", f"traeger-{run}"
    lead = s.token("team_lead", sub="tl-browser")
    # setup through the API: a case manager serving Lüdenscheid every day, a provider and its offer
    manager = s.api("POST", "/v1/case-managers", lead, json={
        "name": "Anna Siebel", "username": username, "employer": "municipality", "employer_municipality": LUEDENSCHEID,
        "languages": ["de", "uk"], "hours_per_week": 39, "capacity": 30,
        "coverage": [{"municipality": LUEDENSCHEID, "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}]})
    s.api("POST", "/v1/providers", lead, json={"id": provider, "name": "Sprachschule Sauerland",
                                                 "email": "kurse@sprachschule.example"})
    offer = s.api("POST", "/v1/offers", lead, json={
        "provider_id": provider, "name": "Integrationskurs mit Kinderbetreuung", "areas": ["language"],
        "municipalities": [LUEDENSCHEID], "languages": ["de", "uk"], "waiting_days": 14})

    # the intake officer registers the person (consents with their basis) ...
    s.open()
    s.sign_in("intake_officer")
    rnd = int(run, 16)  # a birth date of its own: the flow may run again on the same system
    birth = f"19{60 + rnd % 40}-{1 + rnd // 40 % 12:02d}-{1 + rnd // 480 % 28:02d}"
    register_in_ui(s, "Mariia", "Bondarenko", birth)
    page.wait_for_url("**/#/person/*")
    person = person_id_in(page.url)
    # ... and the same person once more: the duplicate is shown and resolved by opening the existing record
    register_in_ui(s, "Marija", "Bondarenko", birth)
    page.wait_for_selector(f".duplicates .card a[href$='{person}']")
    s.check("20-duplicate-resolved")
    page.click(f".duplicates .card a[href$='{person}']")
    page.wait_for_url(f"**/#/person/{person}")

    # the case was opened and assigned to the case manager (automatically, by coverage and language)
    cm_token = s.token("case_manager", sub=username)
    case = None
    for _ in range(60):
        items = s.api("GET", "/v1/cases", cm_token, params={"person_id": person})["items"]
        if items and items[0].get("case_manager_id"):
            case = items[0]
            break
        time.sleep(0.25)
    assert case and case["case_manager_id"] == manager["id"] and case["assigned_to"] == username, case

    # the case manager: worklist with the case, then the case page
    s.sign_in("case_manager", sub=username)
    page.click("#nav >> text=Arbeitsliste")
    page.wait_for_selector(f"main a[href='#/case/{case['id']}']")
    assert "Lüdenscheid" in page.inner_text("main")
    s.check("21-worklist")
    page.click(f"main a[href='#/case/{case['id']}']")
    page.wait_for_selector("#status-title")
    assert "Bondarenko" in page.inner_text("main h1")

    def transition(to, shown):  # the code, and the status as the German screen names it
        page.select_option("[aria-label='Status ändern'] [name=to]", to)
        page.fill("[aria-label='Status ändern'] [name=reason]", f"Erstgespräch geführt ({to})")
        page.click("[aria-label='Status ändern'] button[type=submit]")
        page.wait_for_selector(f".case-status >> text={shown}")

    # a transition the API refuses is not offered; an allowed one is
    assert page.locator("[aria-label='Status ändern'] [name=to] option[value=monitoring]").count() == 0
    transition("assessment", "Bedarfsfeststellung")
    # the assessment grid: every life area, need levels; then its history
    page.wait_for_selector("form[aria-label='Erhebung speichern']")
    grid = page.locator("form[aria-label='Erhebung speichern']")
    grid.locator("tr[data-area=language] select").select_option("high")
    grid.locator("tr[data-area=language] input[type=number]").fill("1")
    grid.locator("tr[data-area=work] select").select_option("medium")
    grid.locator("tr[data-area=housing] select").select_option("low")
    grid.locator("button[type=submit]").click()
    page.wait_for_selector("table >> text=Verlauf der Bedarfe")
    history = page.locator("table", has_text="Verlauf der Bedarfe").locator("tr", has_text="Sprache").inner_text()
    assert "hoch" in history, history
    s.check("22-case-assessed")
    transition("planning", "Hilfeplanung")
    # the plan: a goal and a task with a due date
    goal_form = page.locator("form[aria-label='Ziel hinzufügen']")
    goal_form.locator("[name=area]").select_option("language")
    goal_form.locator("[name=description]").fill("Deutsch auf Niveau B1")
    goal_form.locator("[name=target_date]").fill(days_from_today(200))
    goal_form.locator("[name=agreed_with_person]").check()
    goal_form.locator("button[type=submit]").click()
    page.wait_for_selector("article.goal >> text=Deutsch auf Niveau B1")
    add_action = "article.goal form[aria-label^='Aufgabe hinzufügen']"
    action_form = page.locator(add_action).first
    action_form.locator("[name=description]").fill("Anmeldung zum Integrationskurs")
    action_form.locator("[name=due_on]").fill(days_from_today(8))
    action_form.locator("button[type=submit]").click()
    page.wait_for_selector("article.goal table >> text=Anmeldung zum Integrationskurs")
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    action_form = page.locator(add_action).first
    action_form.locator("[name=assignee]").select_option("person")
    action_form.locator("[name=description]").fill("Unterlagen zum Termin mitbringen")
    action_form.locator("[name=due_on]").fill(yesterday)
    action_form.locator("button[type=submit]").click()
    page.wait_for_selector("article.goal table tr:has-text('Unterlagen zum Termin') >> text=überfällig")
    # editing the goal (If-Match: its version): a cleared description is refused next to the field, then saved
    page.click("article.goal details.edit-goal > summary")
    edit_goal = page.locator("article.goal form.edit-goal")
    edit_goal.locator("[name=description]").fill("")
    edit_goal.locator("button[type=submit]").click()
    edit_goal.locator("[name=description] >> xpath=..").locator(".field-error").wait_for()
    edit_goal.locator("[name=description]").fill("Deutsch auf Niveau B1 (DTZ)")
    target_date = days_from_today(180)
    edit_goal.locator("[name=target_date]").fill(target_date)
    s.check("22b-goal-edit")
    edit_goal.locator("button[type=submit]").click()
    page.wait_for_selector("article.goal h3 >> text=Deutsch auf Niveau B1 (DTZ)")
    assert german(target_date) in page.inner_text("article.goal > p")  # days as German writes them
    # editing a task: done
    row = page.locator("article.goal table tr", has_text="Anmeldung zum Integrationskurs")
    row.locator("details.edit-action > summary").click()
    row.locator("form.edit-action [name=status]").select_option("done")
    s.check("22c-action-edit")
    row.locator("form.edit-action button[type=submit]").click()
    page.wait_for_selector("article.goal table tr:has-text('Anmeldung zum Integrationskurs') >> td >> text=erledigt")
    # an API error lands next to its field: a barrier without a code
    barrier_form = page.locator("form[aria-label='Hürde erfassen']")
    barrier_form.locator("button[type=submit]").click()
    page.wait_for_selector("form[aria-label='Hürde erfassen'] .field-error")
    assert barrier_form.locator("[name=code]").get_attribute("aria-invalid") == "true"
    barrier_form.locator("[name=code]").select_option("language_course_childcare_missing")
    barrier_form.locator("button[type=submit]").click()
    page.wait_for_selector("#barriers-title ~ table >> text=Sprachkurs ohne Kinderbetreuung")
    # a second barrier, recorded and resolved (when and how)
    barrier_form.locator("[name=code]").select_option("no_housing")
    barrier_form.locator("button[type=submit]").click()
    page.wait_for_selector("#barriers-title ~ table >> text=Keine Wohnung")
    resolve = page.locator("#barriers-title ~ table tr", has_text="Keine Wohnung").locator("form")
    resolve.locator("[name=how]").fill("Wohnung über die Wohnungsbaugesellschaft")
    resolve.locator("button[type=submit]").click()
    page.wait_for_selector("#barriers-title ~ table tr:has-text('Keine Wohnung') >> text=✓ gelöst")
    # a contact held
    contact = page.locator("form[aria-label='Kontakt erfassen']")
    contact.locator("[name=occurred_at]").fill("2026-11-20T10:30")
    contact.locator("[name=channel]").select_option("in_person")
    contact.locator("[name=duration_minutes]").fill("45")
    contact.locator("button[type=submit]").click()
    page.wait_for_selector("#contacts-title ~ table")
    # an appointment planned, then completed as held (a little earlier than planned) with what came of it
    now = datetime.datetime.now()
    planned_at, held_at = ((now + delta).strftime("%Y-%m-%dT%H:%M") for delta in (datetime.timedelta(hours=2),
                                                                                 -datetime.timedelta(minutes=5)))
    contact.locator("[name=status]").select_option("planned")
    contact.locator("[name=occurred_at]").fill(planned_at)
    contact.locator("[name=channel]").select_option("phone")
    contact.locator("button[type=submit]").click()
    planned = page.locator("#contacts-title ~ table tr", has_text="geplant")
    planned.locator("details.edit-contact > summary").click()
    complete = planned.locator("form.edit-contact")
    assert complete.locator("[name=occurred_at]").input_value() == planned_at
    complete.locator("[name=occurred_at]").fill(held_at)
    complete.locator("[name=duration_minutes]").fill("20")
    follow_up_on = days_from_today(14)  # later than the overdue task the worklist shows
    complete.locator("[name=follow_up_on]").fill(follow_up_on)
    s.check("23a-contact-complete")
    complete.locator("button[type=submit]").click()
    page.wait_for_selector(f"#contacts-title ~ table tr:has-text('{german(follow_up_on)}') >> text=gehalten")
    assert page.locator("#contacts-title ~ table tr", has_text="geplant").count() == 0
    assert page.locator("#contacts-title ~ table details.edit-contact").count() == 0  # held is final
    # the offer suggestion with its explanation, and the referral sent
    suggestion = page.locator(f"article.suggestion[data-offer='{offer['id']}']")
    suggestion.wait_for()
    explained = suggestion.inner_text()
    assert "erfüllt" in explained and "deckt den offenen Bedarf Sprache (hoch)" in explained, explained
    assert "gemeinsame Sprache: Ukrainisch (uk)" in explained, explained  # the criteria in German, from their values
    suggestion.locator("button.refer").click()
    page.wait_for_selector("#referrals-title ~ table .referral-status >> text=versandt")
    s.check("23-case", docs="case")
    # back on the worklist: the case with its next due item
    page.click("#nav >> text=Arbeitsliste")
    page.wait_for_selector(f"main a[href='#/case/{case['id']}']")
    row = page.locator("main table tr", has_text="Bondarenko")
    assert german(yesterday) in row.inner_text() and "überfällig" in row.inner_text(), row.inner_text()
    s.check("23b-worklist", docs="worklist")

    # the partner: its inbox, the referral with the contact data the consent allows, accept
    s.sign_in("partner", provider_id=provider)
    page.click("#nav >> text=Eingang")
    page.wait_for_selector("main a.open-referral")
    s.check("24-partner-inbox")
    page.click("main a.open-referral")
    page.wait_for_selector("#contact-title")
    assert "Bondarenko" in page.inner_text("main dl.contact")
    page.click("form.step-accept button")
    page.wait_for_selector(".referral-status >> text=angenommen")
    s.check("25-partner-accepted")

    # the team lead: caseload against capacity, queue, absences
    s.sign_in("team_lead")
    page.click("#nav >> text=Team")
    page.wait_for_selector("#caseload-title")
    assert "Anna Siebel" in page.inner_text("main")
    absence = page.locator("form[aria-label='Abwesenheit eintragen']")
    absence.locator("[name=case_manager]").select_option(manager["id"])
    absent_from = days_from_today(14)
    absence.locator("[name=from]").fill(absent_from)
    absence.locator("[name=to]").fill(days_from_today(24))
    absence.locator("button[type=submit]").click()
    page.wait_for_selector(f"#absences-title ~ div table >> text={german(absent_from)}")
    # reassignment with a reason, to a second case manager
    second = s.api("POST", "/v1/case-managers", lead, json={
        "name": "Jonas Berg", "username": f"{username}b", "employer": "municipality",
        "employer_municipality": LUEDENSCHEID, "languages": ["de"], "hours_per_week": 19.5,
        "coverage": [{"municipality": LUEDENSCHEID, "weekdays": ["mon", "tue"]}]})
    page.click("#nav >> text=Team")
    page.reload()
    page.wait_for_selector("#caseload-title ~ table >> text=Jonas Berg")
    reassign = page.locator("form[aria-label='Fall neu zuweisen']")
    reassign.locator("[name=case_id]").fill(case["id"])
    reassign.locator("[name=case_manager_id]").select_option(second["id"])
    reassign.locator("button[type=submit]").click()  # no reason: the API's 422 lands next to the field
    reassign.locator("[name=reason] >> xpath=..").locator(".field-error").wait_for()
    reassign.locator("[name=reason]").fill("Vertretung während der Abwesenheit")
    reassign.locator("button[type=submit]").click()
    page.wait_for_function(f"""() => fetch('/v1/cases/{case["id"]}', {{headers: {{Authorization: 'Bearer {lead}'}}}})
        .then(r => r.json()).then(c => c.case_manager_id === '{second["id"]}')""")
    s.check("26-team")
    # the team lead edits Anna Siebel's profile; someone changed it meanwhile (412): the app shows what changed
    profile = page.locator(f"li[data-case-manager='{manager['id']}']")
    profile.locator("details.edit-profile > summary").click()
    profile.locator("[name=capacity]").fill("45")
    profile.locator("[name=languages]").fill("de, uk, ar")
    profile.locator("[name='coverage.0.weekdays'][value=sun]").uncheck()  # no longer on Sundays
    profile.locator("[name='coverage.0.hours_per_week']").fill("20")  # the rest of the week elsewhere
    current = requests.get(f"{s.url}/v1/case-managers/{manager['id']}", timeout=10,
                           headers={"Authorization": f"Bearer {lead}"})
    s.api("PATCH", f"/v1/case-managers/{manager['id']}", lead, json={"hours_per_week": 35},
          headers={"If-Match": current.headers["ETag"]})
    profile.locator("form.edit-profile button[type=submit]").click()
    page.wait_for_selector(".conflict table >> text=Wochenstunden")
    s.check("26c-profile-conflict")
    page.click(".conflict button.apply-mine")
    page.wait_for_selector(f"li[data-case-manager='{manager['id']}'] >> text=Kapazität: 45")
    saved = s.api("GET", f"/v1/case-managers/{manager['id']}", lead)
    assert saved["capacity"] == 45 and saved["hours_per_week"] == 35 and "ar" in saved["languages"], saved
    assert [(c["municipality"], "sun" in c["weekdays"], c["hours_per_week"]) for c in saved["coverage"]] == [
        (LUEDENSCHEID, False, 20)], saved
    s.check("26d-profile-saved")

    # the unassigned queue: a case in a town no case manager serves yet waits there, with its assign form
    kierspe = "05962028"
    waiting = s.api("POST", "/v1/persons", s.token("intake_officer", municipality=kierspe), json={
        "given_name": "Amir", "family_name": f"Haddad-{run}", "birth_date": "1979-02-03", "municipality": kierspe,
        "arrival_date": "2026-09-01", "residence_status": "asylum_procedure", "languages": ["ar"],
        "consents": [{"purpose": "case_management", "basis": "signed_form", "granted_at": "2026-11-02T09:00:00Z"}]})
    s.sign_in("team_lead", municipality=kierspe)
    kierspe_lead = s.token("team_lead", municipality=kierspe)
    for _ in range(40):
        if s.api("GET", "/v1/cases", kierspe_lead, params={"person_id": waiting["id"]})["items"]:
            break
        time.sleep(0.25)
    page.click("#nav >> text=Team")
    page.wait_for_selector("#queue-title ~ table form.assign")
    s.check("26b-unassigned-queue")

    # the analyst: the barrier counted, or shown as suppressed (never silently dropped)
    s.sign_in("analyst")
    page.click("#nav >> text=Auswertung")
    page.wait_for_selector("#ranking-title")
    for _ in range(40):
        if page.locator("#ranking-title ~ table >> text=Sprachkurs ohne Kinderbetreuung").count():
            break
        time.sleep(0.25)
        page.click("form.analytics-filter button[type=submit]")
        page.wait_for_selector("#ranking-title")
    row = page.locator("#ranking-title ~ table tr", has_text="Sprachkurs ohne Kinderbetreuung nicht besuchbar")
    assert row.count() == 1, page.inner_text("main")
    assert "gesperrt" in row.inner_text() or re.search(r"\b1\b", row.inner_text()), row.inner_text()
    s.check("27-analytics")
    # the steering group's report, fetched with the token and downloaded
    with page.expect_download() as download:
        page.click("text=Bericht herunterladen (HTML)")
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert '<html lang="de">' in report and "Sprachkurs ohne Kinderbetreuung nicht besuchbar" in report, report

    # closing the case (its case manager now: the second one): outcome and each open goal evaluated; the
    # API's errors land next to the fields they name
    s.sign_in("case_manager", sub=f"{username}b")
    page.goto(f"{s.url}/app/#/case/{case['id']}")
    closure = page.locator("form.closure")
    closure.wait_for()
    closure.locator("button[type=submit]").click()
    closure.locator("[name=outcome] >> xpath=..").locator(".field-error").wait_for()
    assert closure.locator("[name='evaluation.0.reached']").get_attribute("aria-invalid") == "true"
    s.check("28-closure-errors")
    closure.locator("[name=outcome]").select_option("goals_reached")
    closure.locator("[name='evaluation.0.reached']").select_option("true")
    closure.locator("[name=note]").fill("Kurs abgeschlossen, Wohnung gefunden")
    closure.locator("button[type=submit]").click()
    page.wait_for_selector(".case-status >> text=abgeschlossen")
    assert page.inner_text(".case-outcome") == "Ziele erreicht"
    assert page.locator("form.closure").count() == 0
    s.check("29-case-closed")


def oidc(s):
    """Sign-in through an OpenID Connect issuer (tests/browser/fake_issuer.py, started by the test): only the
    OIDC sign-in is offered; the app goes to the issuer with a PKCE challenge and back, exchanges the code, and
    calls the API with the issuer's token; a tampered state is refused and no code is exchanged for it."""
    import fake_issuer

    page = s.page
    issuer = os.environ["KIM_TEST_OIDC_ISSUER"]
    key = Path(os.environ["KIM_TEST_OIDC_KEY"]).read_bytes()
    stats = lambda: requests.get(f"{issuer}/_test/stats", timeout=5).json()  # noqa: E731
    # a person to find, registered with a token of the same issuer (the gateway knows no other key now)
    run = os.urandom(3).hex()
    officer = {"sub": f"io-{run}", "role": "intake_officer", "municipalities": [LUEDENSCHEID]}
    token = fake_issuer.sign(key, issuer, "kim-api", officer)
    s.api("POST", "/v1/persons", token, json={
        "given_name": "Yaroslava", "family_name": f"Melnyk-{run}", "birth_date": "1991-05-06",
        "municipality": LUEDENSCHEID, "arrival_date": "2026-09-20", "residence_status": "temporary_protection",
        "languages": ["uk"], "consents": [{"purpose": "case_management", "basis": "signed_form",
                                           "granted_at": "2026-10-01T09:00:00Z"}]})
    # the issuer refuses a code whose verifier does not match its challenge (what the app's PKCE relies on)
    authorize = requests.get(f"{issuer}/authorize", allow_redirects=False, timeout=5, params={
        "response_type": "code", "client_id": "kim-app", "redirect_uri": f"{s.url}/app/", "state": "s1",
        "code_challenge": fake_issuer.s256("a" * 43), "code_challenge_method": "S256"})
    code = re.search(r"code=([^&]+)", authorize.headers["Location"]).group(1)
    wrong = requests.post(f"{issuer}/token", timeout=5, data={
        "grant_type": "authorization_code", "code": code, "client_id": "kim-app", "redirect_uri": f"{s.url}/app/",
        "code_verifier": "b" * 43})
    assert wrong.status_code == 400 and "PKCE" in wrong.text, wrong.text

    # the sign-in screen: the issuer's button only, no development sign-in
    requests.post(f"{issuer}/_test/login", json=officer, timeout=5)
    s.open()
    page.wait_for_selector("#oidc-signin")
    assert page.locator("form.signin").count() == 0
    assert requests.post(f"{s.url}/app/dev-token", json={"role": "team_lead", "municipalities": [LUEDENSCHEID]},
                         timeout=5).status_code == 404
    s.check("30-oidc-signin")
    before = stats()
    page.click("#oidc-signin")  # to the issuer (it approves at once) and back with ?code&state
    page.wait_for_selector(f"#who >> text={officer['sub']}")
    assert page.locator("#signout").is_visible()
    assert "code=" not in page.url and "state=" not in page.url, page.url  # not left in the address bar
    assert stats()["tokens"] == before["tokens"] + 1
    # the token works: the search screen finds the person through the API
    page.click("#nav >> text=Personensuche")
    page.fill("[name=q]", f"Melnyk-{run}")
    page.click("form button[type=submit]")
    page.wait_for_selector(f"main table >> text=Melnyk-{run}")
    s.check("31-oidc-signed-in")

    # a state that is not the one the app sent: refused, no code exchanged, not signed in
    page.click("#signout")
    page.wait_for_selector("#oidc-signin")
    requests.post(f"{issuer}/_test/tamper", timeout=5)
    before = stats()
    page.click("#oidc-signin")
    page.wait_for_selector("main .notice.warn >> text=gehört nicht zu dieser Anmeldung (state)")
    assert "fehlgeschlagen" in page.inner_text("main .notice.warn")
    assert not page.locator("#signout").is_visible()
    assert page.evaluate("sessionStorage.getItem('kim.token')") is None
    assert "code=" not in page.url, page.url
    assert stats()["tokens"] == before["tokens"]
    s.check("32-oidc-state-refused")


FLOWS = {"intake_and_privacy": intake_and_privacy, "casework": casework, "oidc": oidc}


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    url, out, names = argv[0].rstrip("/"), Path(argv[1]), argv[2:] or list(FLOWS)
    report = {"flows": {}, "screens": []}
    if ARTIFACTS.exists() and not os.environ.get("KIM_BROWSER_KEEP_ARTIFACTS"):  # a later test adds to them
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        for name in names:
            context = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin",
                                          viewport={"width": 1280, "height": 900})
            screen = Screen(context.new_page(), url, report)
            started = time.monotonic()
            try:
                FLOWS[name](screen)
                report["flows"][name] = {"ok": True}
            except Exception as exc:  # the test asserts on the report; a failure keeps its screenshot
                try:
                    screen.page.screenshot(path=str(ARTIFACTS / f"FAILED-{name}.png"), full_page=True)
                except Exception:
                    pass
                report["flows"][name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                                         "traceback": traceback.format_exc(), "page_errors": screen.errors}
            report["flows"][name]["seconds"] = round(time.monotonic() - started, 1)
            context.close()
        browser.close()
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
