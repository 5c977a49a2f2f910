"""How people read the codes of the API's enumerations, in German and English: the web app (`/app/config.json`,
`labels`) and the steering report. The API and the events keep their codes. One label per code across
enumerations: a code that means the same in two of them ("other", "phone") reads the same, so a code whose
meaning differs needs a code of its own. tests/unit/test_code_labels.py checks that every code the app can show
has both labels; the German terms follow docs/glossary.md. Barrier codes are named by their catalogue."""
from __future__ import annotations

import functools

from .barrier_codes import catalogue

LANGUAGES = ("de", "en")

# code: (German, English)
CODE_LABELS: dict[str, tuple[str, str]] = {
    # residence status (Aufenthaltsstatus)
    "asylum_procedure": ("Aufenthaltsgestattung (Asylverfahren)", "asylum procedure"),
    "recognised_refugee": ("anerkannter Flüchtlingsschutz / Asyl", "recognised refugee"),
    "subsidiary_protection": ("subsidiärer Schutz", "subsidiary protection"),
    "temporary_protection": ("vorübergehender Schutz (§ 24 AufenthG)", "temporary protection (§ 24 AufenthG)"),
    "toleration": ("Duldung", "toleration (Duldung)"),
    "family_reunification": ("Familiennachzug", "family reunification"),
    "skilled_worker": ("Fachkräfteeinwanderung", "skilled worker"),
    "residence_permit": ("sonstige Aufenthaltserlaubnis", "other residence permit"),
    "settlement_permit": ("Niederlassungserlaubnis / Daueraufenthalt-EU", "settlement permit"),
    "eu_freedom_of_movement": ("EU-Freizügigkeit", "EU freedom of movement"),
    "other": ("Sonstiges", "other"),
    # consent purposes and their basis
    "case_management": ("Fallmanagement", "case management"),
    "referral_sharing": ("Weitergabe an Angebote (Vermittlung)", "sharing with offers (referrals)"),
    "data_exchange_job_centre": ("Datenaustausch mit dem Jobcenter", "data exchange with the job centre"),
    "data_exchange_foreigners_office": ("Datenaustausch mit der Ausländerbehörde",
                                        "data exchange with the foreigners office"),
    "statistics": ("Statistik", "statistics"),
    "signed_form": ("unterschriebenes Formular", "signed form"),
    "oral_with_interpreter": ("mündlich mit Dolmetschung", "oral, with an interpreter"),
    "oral": ("mündlich", "oral"),
    "electronic": ("elektronisch", "electronic"),
    # the person record
    "female": ("weiblich", "female"),
    "male": ("männlich", "male"),
    "diverse": ("divers", "diverse"),
    "unspecified": ("ohne Angabe", "not stated"),
    "A0": ("A0 (keine Deutschkenntnisse)", "A0 (no German)"),
    **{level: (level, level) for level in ("A1", "A2", "B1", "B2", "C1", "C2")},
    "phone": ("Telefon", "phone"),
    "email": ("E-Mail", "email"),
    "post": ("Post", "post"),
    "in_person": ("persönlich", "in person"),
    "messenger": ("Messenger", "messenger"),
    # household relations
    "head": ("Haushaltsvorstand", "head of household"),
    "spouse": ("Ehepartner*in", "spouse"),
    "partner": ("Partner*in", "partner"),
    "child": ("Kind", "child"),
    "parent": ("Elternteil", "parent"),
    "sibling": ("Geschwister", "sibling"),
    "grandparent": ("Großelternteil", "grandparent"),
    "grandchild": ("Enkelkind", "grandchild"),
    # the phases of case management (also the phase of an assessment)
    "intake": ("Erstgespräch", "intake"),
    "assessment": ("Bedarfsfeststellung", "assessment"),
    "planning": ("Hilfeplanung", "planning"),
    "implementation": ("Umsetzung", "implementation"),
    "monitoring": ("Begleitung (Monitoring)", "monitoring"),
    "paused": ("ruhend", "paused"),
    "closed": ("abgeschlossen", "closed"),
    "reopened": ("wieder aufgenommen", "reopened"),
    # life areas (Lebensbereiche) and need levels
    "language": ("Sprache", "language"),
    "education": ("Bildung und Schule", "education"),
    "work": ("Arbeit und Anerkennung", "work"),
    "housing": ("Wohnen", "housing"),
    "health": ("Gesundheit", "health"),
    "residence": ("Aufenthalt und Rechtliches", "residence"),
    "family": ("Familie und Kinderbetreuung", "family"),
    "income": ("Einkommen und Leistungen", "income"),
    "participation": ("soziale Teilhabe", "participation"),
    "none": ("kein", "none"),
    "low": ("gering", "low"),
    "medium": ("mittel", "medium"),
    "high": ("hoch", "high"),
    "urgent": ("dringend", "urgent"),
    # a closed case's outcome
    "goals_reached": ("Ziele erreicht", "goals reached"),
    "handed_over": ("übergeben", "handed over"),
    "moved_away": ("verzogen", "moved away"),
    "unreachable": ("nicht erreichbar", "unreachable"),
    "declined": ("abgelehnt", "declined"),  # also a referral's status
    "consent_withdrawn": ("Einwilligung widerrufen", "consent withdrawn"),
    # contacts
    "video": ("Video", "video"),
    "home_visit": ("Hausbesuch", "home visit"),
    # the plan: goals and actions
    "case_manager": ("Fallmanagement", "case manager"),
    "person": ("Person", "person"),
    "third_party": ("Dritte", "third party"),
    "open": ("offen", "open"),
    "reached": ("erreicht", "reached"),
    "partially_reached": ("teilweise erreicht", "partially reached"),
    "not_reached": ("nicht erreicht", "not reached"),
    "dropped": ("aufgegeben", "dropped"),
    "done": ("erledigt", "done"),
    "cancelled": ("storniert", "cancelled"),  # an action, a referral (an appointment: "abgesagt", casework.js)
    # absences
    "holiday": ("Urlaub", "holiday"),
    "sickness": ("Krankheit", "sickness"),
    "training": ("Fortbildung", "training"),
    # referrals: status, a partner's reason to decline, the outcome
    "draft": ("Entwurf", "draft"),
    "sent": ("versandt", "sent"),
    "accepted": ("angenommen", "accepted"),
    "in_progress": ("begonnen", "in progress"),
    "completed": ("abgeschlossen", "completed"),
    "expired": ("abgelaufen", "expired"),
    "no_capacity": ("keine Kapazität", "no capacity"),
    "not_eligible": ("nicht berechtigt", "not eligible"),
    "person_declined": ("von der Person abgelehnt", "declined by the person"),
    "not_reachable": ("nicht erreichbar", "not reachable"),
    "duplicate": ("doppelt", "duplicate"),
    "goal_reached": ("Ziel erreicht", "goal reached"),
    "dropped_out": ("abgebrochen", "dropped out"),
    # an erasure request (Art. 17): pending, then completed
    "pending": ("ausstehend", "pending"),
    # the criteria of an offer suggestion
    "need": ("Bedarf", "need"),
    "municipality": ("Kommune", "municipality"),
    "residence_status": ("Aufenthaltsstatus", "residence status"),
    "age": ("Alter", "age"),
    "waiting_time": ("Wartezeit", "waiting time"),
    "barrier": ("Hürde", "barrier"),
    "status": ("Status des Angebots", "offer status"),
    # why a registration may be a duplicate
    "same_birth_date": ("gleiches Geburtsdatum", "same birth date"),
    "same_birth_year": ("gleiches Geburtsjahr", "same birth year"),
    "names_swapped": ("Vor- und Familienname vertauscht", "given and family name swapped"),
    "given_name_same": ("gleicher Vorname", "same given name"),
    "given_name_similar": ("ähnlicher Vorname", "similar given name"),
    "family_name_same": ("gleicher Familienname", "same family name"),
    "family_name_similar": ("ähnlicher Familienname", "similar family name"),
    "whole_name_similar": ("ähnlicher Name (anders aufgeteilt)", "similar name (split differently)"),
    # the audit log: purposes (the actions below)
    "data_protection": ("Datenschutz", "data protection"),
    "referral": ("Vermittlung", "referral"),
    "authentication": ("Anmeldung", "authentication"),
}

# the audit log's actions (gateway routes' `Audit`, `kim import persons`, refused tokens): what someone did
AUDIT_ACTIONS: dict[str, tuple[str, str]] = {
    "auth.failed": ("Zugriff ohne gültiges Token abgewiesen", "refused: no valid token"),
    "person.create": ("Person registriert", "person registered"),
    "person.import": ("Person importiert (kim import persons)", "person imported (kim import persons)"),
    "person.read": ("Person gelesen", "person read"),
    "person.search": ("Personen gesucht", "persons searched"),
    "person.update": ("Person berichtigt", "person rectified"),
    "person.history": ("Änderungsverlauf gelesen", "history of changes read"),
    "person.merge": ("Personen zusammengeführt", "persons merged"),
    "person.export": ("Auskunft erteilt (Art. 15)", "access export (Art. 15)"),
    "person.erase": ("Löschung beantragt (Art. 17)", "erasure requested (Art. 17)"),
    "erasure.read": ("Stand der Löschung gelesen", "erasure status read"),
    "consent.grant": ("Einwilligung erfasst", "consent recorded"),
    "consent.withdraw": ("Einwilligung widerrufen", "consent withdrawn"),
    "household.create": ("Haushalt angelegt", "household created"),
    "household.add_member": ("Haushaltsmitglied hinzugefügt", "household member added"),
    "household.read": ("Haushalt gelesen", "household read"),
    "case.list": ("Fälle aufgelistet", "cases listed"),
    "case.read": ("Fall gelesen", "case read"),
    "case.flagged": ("Fälle ohne Kontakt aufgelistet", "cases without contact listed"),
    "case.assign": ("Fall zugewiesen", "case assigned"),
    "case.assignments": ("Zuweisungen gelesen", "assignments read"),
    "case.transition": ("Status geändert", "status changed"),
    "case.transitions": ("Statusverlauf gelesen", "status history read"),
    "case.close": ("Fall abgeschlossen", "case closed"),
    "case.offer_suggestions": ("Angebotsvorschläge gelesen", "offer suggestions read"),
    "assessment.record": ("Bedarfe erhoben", "assessment recorded"),
    "assessment.list": ("Bedarfserhebungen gelesen", "assessments read"),
    "assessment.progress": ("Verlauf der Bedarfe gelesen", "assessment progress read"),
    "plan.read": ("Hilfeplan gelesen", "case plan read"),
    "plan.overdue": ("Überfälliges aufgelistet", "overdue items listed"),
    "goal.create": ("Ziel angelegt", "goal created"),
    "goal.update": ("Ziel geändert", "goal changed"),
    "action.create": ("Aufgabe angelegt", "action created"),
    "action.update": ("Aufgabe geändert", "action changed"),
    "contact.record": ("Kontakt erfasst", "contact recorded"),
    "contact.list": ("Kontakte gelesen", "contacts read"),
    "contact.update": ("Termin abgeschlossen", "appointment completed"),
    "appointment.list": ("Termine gelesen", "appointments read"),
    "worklist.read": ("Arbeitsliste gelesen", "worklist read"),
    "barrier.record": ("Hürde erfasst", "barrier recorded"),
    "barrier.list": ("Hürden gelesen", "barriers read"),
    "barrier.resolve": ("Hürde als gelöst erfasst", "barrier resolved"),
    "referral.create": ("Vermittlung angelegt", "referral drafted"),
    "referral.list": ("Vermittlungen aufgelistet", "referrals listed"),
    "referral.read": ("Vermittlung gelesen", "referral read"),
    "referral.send": ("Vermittlung versandt", "referral sent"),
    "referral.cancel": ("Vermittlung storniert", "referral cancelled"),
    "referral.partner_read": ("Vermittlung vom Träger gelesen", "referral read by the provider"),
    "referral.accept": ("Vermittlung angenommen", "referral accepted"),
    "referral.decline": ("Vermittlung abgelehnt", "referral declined"),
    "referral.start": ("Vermittlung begonnen", "referral started"),
    "referral.complete": ("Vermittlung abgeschlossen", "referral completed"),
    "case_manager.create": ("Fallmanager*in angelegt", "case manager created"),
    "case_manager.list": ("Fallmanager*innen aufgelistet", "case managers listed"),
    "case_manager.read": ("Profil gelesen", "profile read"),
    "case_manager.update": ("Profil geändert", "profile changed"),
    "case_manager.absence": ("Abwesenheit erfasst", "absence recorded"),
    "case_manager.absences": ("Abwesenheiten gelesen", "absences read"),
    "case_manager.caseload": ("Fallbelastung gelesen", "caseload read"),
    "team.caseload": ("Fallbelastung des Teams gelesen", "team caseload read"),
    **{f"analytics.{report}": (f"Auswertung gelesen ({german})", f"analytics read ({report})")
       for report, german in (("cases", "Fälle"), ("barriers", "Hürden"), ("referrals", "Vermittlungen"),
                              ("caseload", "Fallbelastung"), ("outcomes", "Ergebnisse"), ("needs", "Bedarfe"))},
    "analytics.report": ("Bericht für die Steuerungsgruppe erstellt", "steering report produced"),
}


@functools.cache
def labels() -> dict[str, dict[str, str]]:
    """{"de": {code: label}, "en": {code: label}}: the codes and actions above and the barrier catalogue's (built
    once; read, never change it)."""
    barriers = catalogue()
    return {language: {**{code: pair[i] for code, pair in {**CODE_LABELS, **AUDIT_ACTIONS}.items()},
                       **{code: entry[f"label_{language}"] for code, entry in barriers.items()}}
            for i, language in enumerate(LANGUAGES)}


def label(code: str, language: str) -> str:
    """One code in words ("language_course_childcare_missing" -> "Sprachkurs ohne Kinderbetreuung nicht
    besuchbar"); a code without a label reads with spaces for its underscores."""
    return labels()[language].get(code) or code.replace("_", " ")
