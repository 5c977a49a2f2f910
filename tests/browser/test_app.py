"""The web app in a real browser against `kim up`: sign-in, the intake officer's and the data protection
officer's screens, errors next to their fields, the 503 retry with the same Idempotency-Key, the 412 conflict,
keyboard use and axe-core on every screen."""
import json
import time

import requests

from tests.conftest import LUEDENSCHEID

from .conftest import person_id_in


def fill_registration(page, given, family, birth="1990-01-02"):
    page.fill("[name=given_name]", given)
    page.fill("[name=family_name]", family)
    page.fill("[name=birth_date]", birth)
    page.select_option("[name=sex]", "female")
    page.fill("[name=nationalities]", "ua")
    page.select_option("[name=municipality]", LUEDENSCHEID)
    page.fill("[name=arrival_date]", "2026-10-02")
    page.fill("[name=municipality_arrival_date]", "2026-10-05")
    page.select_option("[name=residence_status]", "temporary_protection")
    page.fill("[name=residence_valid_until]", "2027-03-04")
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


def test_intake_officer_and_data_protection_officer(kim_up, screen):
    system = kim_up()
    s = screen(system.url)
    page = s.page

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

    # the same person again: 409, candidates side by side; "register as new" re-sends with confirmed_new
    page.goto(f"{system.url}/app/#/register")
    page.wait_for_selector("[name=given_name]")
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
    page.wait_for_selector("[name=given_name]")
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
    page.wait_for_selector("main table")
    assert first in page.inner_text("main table")
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
    page.wait_for_selector("main table >> text=person.update")
    s.check("11-audit")
    page.goto(f"{system.url}/app/#/privacy/{first}")
    page.wait_for_selector("button.export")
    page.click("button.export")
    page.wait_for_selector("#export-title")
    assert first in page.inner_text("main pre")
    s.check("12-export")
    page.click("button.erase")  # not confirmed yet: refused, focus on the confirmation
    assert page.evaluate("document.activeElement.type") == "checkbox"
    page.check("text=Ich bestätige die Löschung")
    page.click("button.erase")
    page.wait_for_selector(".erasure table")
    for _ in range(40):
        if page.inner_text(".erasure-status") == "completed":
            break
        time.sleep(0.25)
        page.click(".erasure button.secondary")
        page.wait_for_selector(".erasure table")
    assert page.inner_text(".erasure-status") == "completed"
    s.check("13-erasure")
