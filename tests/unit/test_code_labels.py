"""The web app and the steering report show every code the API sends in German and English
(services/shared/labels.py): a code added to an enumeration without its labels fails here, not in front of a case
manager."""
from datetime import date

from gateway.app import app_config
from gateway.http import ROUTES
from services.analytics.projections import FUNNEL
from services.intake import matching as names
from services.referrals import matching as offers
from services.shared.barrier_codes import catalogue
from services.shared.events import REFERRAL_STATUSES
from services.shared.labels import AUDIT_ACTIONS, CODE_LABELS, label, labels
from services.shared.settings import Settings


def _suggestion_criteria() -> set[str]:
    offer = {"areas": ["language"], "municipalities": ["05962032"], "languages": ["de"],
             "residence_statuses": ["toleration"], "min_age": 18, "max_age": 65, "waiting_days": 10,
             "status": "active"}
    profile = {"municipality": "05962032", "open_barriers": [{"code": "childcare_missing", "area": "language"}]}
    judged = offers.judge(offer, profile, {"languages": ["uk"], "residence_status": "toleration", "birth_year": 1990},
                          {"language": "high"}, date(2026, 12, 1))
    return {c["criterion"] for c in judged["criteria"]}


def _duplicate_reasons() -> set[str]:
    pairs = [(("Olena", "Kovalenko"), ("Olena", "Kovalenko")), (("Anna", "Schmidt"), ("Anna", "Schmitt")),
             (("Olena", "Kovalenko"), ("Kovalenko", "Olena")),
             (("Mohammed", "Al Hassan"), ("Muhammad", "Alhasan")), (("Abdul", "Rahman Ali"), ("Abdulrahman", "Ali"))]
    reasons = {"same_birth_year"}  # domain.likely_duplicates, when only the year is known
    for (g1, f1), (g2, f2) in pairs:
        reasons |= set(names.score({"given_name": g1, "family_name": f1, "birth_date": "1990-01-02"},
                                   {"given_name": g2, "family_name": f2, "birth_date": "1990-01-02"})[1])
    return reasons


def test_every_code_the_app_shows_has_a_german_and_an_english_label():
    enums = app_config(Settings.load({}))["enums"]
    shown = {code for codes in enums.values() for code in codes}
    shown |= set(REFERRAL_STATUSES) | set(FUNNEL) | _suggestion_criteria() | _duplicate_reasons()
    shown |= {"pending", "completed"}  # an erasure request's status (services/intake/erasure.py)
    missing = sorted(shown - set(CODE_LABELS))
    assert not missing, f"codes without labels in services/shared/labels.py: {missing}"
    for code in shown:
        german, english = CODE_LABELS[code]
        assert german.strip() and english.strip(), code


def test_every_audit_action_and_purpose_reads_in_words():
    import gateway.service  # noqa: F401  (declares the routes)
    audited = [spec.audit for spec in ROUTES if spec.audit is not None]
    actions = {audit.action for audit in audited} | {"person.import", "auth.failed"}
    purposes = {audit.purpose for audit in audited} | {"authentication"}
    assert len(actions) > 60
    assert not actions - set(AUDIT_ACTIONS), sorted(actions - set(AUDIT_ACTIONS))
    assert not purposes - set(CODE_LABELS), sorted(purposes - set(CODE_LABELS))
    assert labels()["de"]["person.update"] == "Person berichtigt"


def test_the_app_config_carries_the_labels_per_language():
    config = app_config(Settings.load({}))
    assert config["labels"] == labels()
    assert config["labels"]["de"]["temporary_protection"] == "vorübergehender Schutz (§ 24 AufenthG)"
    assert config["labels"]["en"]["planning"] == "planning"
    barrier = config["labels"]["de"]["language_course_childcare_missing"]
    assert barrier == "Sprachkurs ohne Kinderbetreuung nicht besuchbar"
    assert set(config["labels"]["de"]) == set(config["labels"]["en"]) == \
        set(CODE_LABELS) | set(AUDIT_ACTIONS) | set(catalogue())


def test_barrier_codes_keep_their_catalogue_labels():
    assert not set(CODE_LABELS) & set(catalogue()), "a barrier code would take another code's label"
    assert label("no_housing", "de") == catalogue()["no_housing"]["label_de"]
    assert label("no_housing", "en") == catalogue()["no_housing"]["label_en"]
    assert label("planning", "de") == "Hilfeplanung" and label("not_a_code", "en") == "not a code"
