// A small dictionary: German first, English second. t(key, vars) falls back to English, then to the key.
const DICT = {
  de: {
    skip: "Zum Inhalt springen", brand: "KIM – Integrationsmanagement", nav: "Hauptnavigation", signout: "Abmelden",
    loading: "Wird geladen …", footer: "KIM – Open Source für das Kommunale Integrationsmanagement.",
    apidocs: "API-Dokumentation", lang_switch: "English",
    signin: "Anmelden", signin_oidc: "Mit dem Konto der Kommune anmelden", signin_dev: "Entwicklungs-Anmeldung",
    signin_dev_hint: "Nur für die Entwicklung (kim up ohne Identitätsanbieter): erzeugt ein Token für Rolle und Kommune.",
    signin_none: "Kein Identitätsanbieter konfiguriert (KIM_OIDC_ISSUER).", signin_failed: "Die Anmeldung ist fehlgeschlagen.",
    oidc_state_mismatch: "Die Antwort des Anmeldedienstes gehört nicht zu dieser Anmeldung (state). Bitte melden Sie sich erneut an.",
    oidc_nonce_mismatch: "Das Token des Anmeldedienstes gehört nicht zu dieser Anmeldung (nonce). Bitte melden Sie sich erneut an.",
    role: "Rolle", municipality: "Kommune", username: "Benutzerkennung", provider_id: "Träger-Kennung (nur Partner)",
    signed_in_as: "Angemeldet als {sub} ({role})",
    "nav.register": "Neu registrieren", "nav.search": "Personensuche", "nav.cases": "Fälle", "nav.audit": "Protokoll",
    "nav.privacy": "Datenschutz", "nav.home": "Start",
    home: "Start", home_intro: "Wählen Sie eine Aufgabe.",
    register: "Neu zugewanderte Person registrieren", personal: "Person", arrival: "Ankunft und Aufenthalt",
    contact: "Kontakt", languages_fs: "Sprachen", consents: "Einwilligungen", address: "Anschrift",
    given_name: "Vorname", family_name: "Familienname", birth_date: "Geburtsdatum", birth_year: "Geburtsjahr (wenn nur das Jahr bekannt ist)",
    sex: "Geschlecht", nationalities: "Staatsangehörigkeiten", arrival_date: "Einreisedatum",
    municipality_arrival_date: "Zuzug in die Kommune", residence_status: "Aufenthaltsstatus",
    residence_valid_until: "Aufenthaltstitel gültig bis", languages: "Sprachen", mother_tongues: "Muttersprachen",
    german_level: "Deutschkenntnisse (GER)", phone: "Telefon", email: "E-Mail", preferred_channel: "Bevorzugter Kontaktweg",
    interpreter_needed: "Dolmetscher nötig", street: "Straße und Hausnummer", postal_code: "Postleitzahl", city: "Ort",
    codes_hint: "Codes mit Komma getrennt, z. B. {example}", granted: "erteilt", basis: "Grundlage",
    granted_at: "erteilt am", purpose: "Zweck", none: "—", choose: "Bitte wählen",
    save: "Speichern", submit_register: "Registrieren", cancel: "Abbrechen",
    form_errors: "Bitte korrigieren Sie die markierten Angaben.", error: "Fehler", request_id: "Anfrage-ID",
    unavailable: "Ein Dienst ist gerade nicht erreichbar.", retry: "Erneut senden",
    retry_hint: "Das erneute Senden verwendet denselben Idempotenzschlüssel: nichts wird doppelt angelegt.",
    duplicates: "Diese Person ist vielleicht schon registriert", duplicates_hint: "Vergleichen Sie die Angaben. Ist es dieselbe Person, öffnen oder verknüpfen Sie den vorhandenen Datensatz; sonst legen Sie eine neue Person an.",
    new_entry: "Ihre Eingabe", candidate: "Vorhandener Datensatz {n}", score: "Ähnlichkeit", why: "Gründe",
    confirm_new: "Ist eine andere Person: neu anlegen", link: "Ist diese Person: verknüpfen", open_existing: "Vorhandenen Datensatz öffnen",
    registered: "Die Person ist registriert.", search: "Personen suchen", search_q: "Name (auch in anderer Schreibweise)",
    search_button: "Suchen", results: "Treffer", no_results: "Keine Treffer.", name: "Name", open: "Öffnen",
    person: "Person", record: "Datensatz", rectify: "Berichtigen (Art. 16 DSGVO)", history: "Änderungsverlauf",
    changed_at: "Wann", changed_by: "Wer", field: "Feld", old_value: "Alt", new_value: "Neu", version: "Version",
    saved: "Gespeichert.", conflict: "Der Datensatz wurde inzwischen geändert",
    conflict_hint: "Jemand hat den Datensatz geändert, seit Sie ihn geöffnet haben. Prüfen Sie die Unterschiede.",
    you_read: "Als Sie öffneten", now_value: "Jetzt gespeichert", your_value: "Ihre Änderung",
    apply_mine: "Meine Änderungen auf den neuen Stand anwenden", discard_mine: "Verwerfen und neu laden",
    households: "Haushalt", household_create: "Haushalt anlegen", household_member: "Mitglied hinzufügen",
    household_none: "Noch keinem Haushalt zugeordnet.", person_id: "Personen-ID", relation: "Beziehung",
    household_id: "Haushalts-ID", household_open: "Haushalt öffnen", add: "Hinzufügen", members: "Mitglieder",
    consent_grant: "Einwilligung erfassen", consent_withdraw: "Widerrufen", withdrawn: "widerrufen",
    audit: "Protokoll der Zugriffe", audit_search: "Suchen", at: "Zeitpunkt", actor: "Wer", action: "Aktion",
    status: "Status", case_id: "Fall-ID", more: "Weitere laden",
    privacy: "Datenschutz: Auskunft und Löschung", export: "Auskunft (Art. 15 DSGVO)", export_button: "Auskunft abrufen",
    download: "Als JSON herunterladen", erase: "Löschen (Art. 17 DSGVO)", erase_button: "Person überall löschen",
    erase_confirm: "Ich bestätige die Löschung dieser Person in allen Diensten.", erasure_status: "Stand der Löschung",
    service: "Dienst", refresh: "Aktualisieren",
    cases: "Fälle", case: "Fall", assigned_to: "Zuständig", opened_at: "Eröffnet", not_found: "Nicht gefunden.",
    forbidden: "Ihre Rolle darf das nicht.", signed_out: "Sie sind abgemeldet.", session_expired: "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich neu an.",
    yes: "ja", no: "nein", actions: "Aktionen",
  },
  en: {
    skip: "Skip to content", brand: "KIM – integration management", nav: "Main navigation", signout: "Sign out",
    loading: "Loading …", footer: "KIM – open source for municipal integration management.",
    apidocs: "API documentation", lang_switch: "Deutsch",
    signin: "Sign in", signin_oidc: "Sign in with your municipal account", signin_dev: "Development sign-in",
    signin_dev_hint: "Development only (kim up without an identity provider): mints a token for a role and town.",
    signin_none: "No identity provider configured (KIM_OIDC_ISSUER).", signin_failed: "Sign-in failed.",
    oidc_state_mismatch: "The identity provider's answer does not belong to this sign-in (state). Please sign in again.",
    oidc_nonce_mismatch: "The identity provider's token does not belong to this sign-in (nonce). Please sign in again.",
    role: "Role", municipality: "Municipality", username: "User name", provider_id: "Provider id (partners only)",
    signed_in_as: "Signed in as {sub} ({role})",
    "nav.register": "Register", "nav.search": "Find a person", "nav.cases": "Cases", "nav.audit": "Audit log",
    "nav.privacy": "Data protection", "nav.home": "Home",
    home: "Home", home_intro: "Choose a task.",
    register: "Register a newly arrived person", personal: "Person", arrival: "Arrival and residence",
    contact: "Contact", languages_fs: "Languages", consents: "Consents", address: "Address",
    given_name: "Given name", family_name: "Family name", birth_date: "Date of birth", birth_year: "Year of birth (when only the year is known)",
    sex: "Sex", nationalities: "Nationalities", arrival_date: "Arrival date",
    municipality_arrival_date: "Arrival in the municipality", residence_status: "Residence status",
    residence_valid_until: "Residence title valid until", languages: "Languages", mother_tongues: "Mother tongues",
    german_level: "German (CEFR)", phone: "Phone", email: "Email", preferred_channel: "Preferred channel",
    interpreter_needed: "Needs an interpreter", street: "Street and number", postal_code: "Postal code", city: "City",
    codes_hint: "codes separated by commas, e.g. {example}", granted: "granted", basis: "Basis",
    granted_at: "granted at", purpose: "Purpose", none: "—", choose: "Please choose",
    save: "Save", submit_register: "Register", cancel: "Cancel",
    form_errors: "Please correct the marked fields.", error: "Error", request_id: "Request id",
    unavailable: "A service is not available right now.", retry: "Send again",
    retry_hint: "Sending again uses the same Idempotency-Key: nothing is created twice.",
    duplicates: "This person may already be registered", duplicates_hint: "Compare the records. If it is the same person, open or link the existing record; otherwise register a new person.",
    new_entry: "Your entry", candidate: "Existing record {n}", score: "Similarity", why: "Reasons",
    confirm_new: "A different person: register as new", link: "This person: link", open_existing: "Open the existing record",
    registered: "The person is registered.", search: "Find a person", search_q: "Name (any spelling)",
    search_button: "Search", results: "Results", no_results: "No results.", name: "Name", open: "Open",
    person: "Person", record: "Record", rectify: "Rectify (Art. 16 GDPR)", history: "History of changes",
    changed_at: "When", changed_by: "Who", field: "Field", old_value: "Old", new_value: "New", version: "Version",
    saved: "Saved.", conflict: "The record changed meanwhile",
    conflict_hint: "Someone changed the record since you opened it. Check the differences.",
    you_read: "When you opened it", now_value: "Stored now", your_value: "Your change",
    apply_mine: "Apply my changes to the new version", discard_mine: "Discard and reload",
    households: "Household", household_create: "Create a household", household_member: "Add a member",
    household_none: "Not in a household yet.", person_id: "Person id", relation: "Relation",
    household_id: "Household id", household_open: "Open household", add: "Add", members: "Members",
    consent_grant: "Record a consent", consent_withdraw: "Withdraw", withdrawn: "withdrawn",
    audit: "Audit log", audit_search: "Search", at: "When", actor: "Who", action: "Action",
    status: "Status", case_id: "Case id", more: "Load more",
    privacy: "Data protection: access and erasure", export: "Access (Art. 15 GDPR)", export_button: "Get the export",
    download: "Download as JSON", erase: "Erasure (Art. 17 GDPR)", erase_button: "Erase the person everywhere",
    erase_confirm: "I confirm erasing this person in every service.", erasure_status: "Erasure status",
    service: "Service", refresh: "Refresh",
    cases: "Cases", case: "Case", assigned_to: "Assigned to", opened_at: "Opened", not_found: "Not found.",
    forbidden: "Your role may not do this.", signed_out: "You are signed out.", session_expired: "Your session has expired. Please sign in again.",
    yes: "yes", no: "no", actions: "Actions",
  },
};
const ROLE_LABELS = {
  de: { intake_officer: "Erfassung", case_manager: "Fallmanagement", team_lead: "Teamleitung", district_admin: "Kreis-Administration",
        analyst: "Auswertung", partner: "Partner (Träger)", data_protection_officer: "Datenschutzbeauftragte*r" },
  en: { intake_officer: "Intake officer", case_manager: "Case manager", team_lead: "Team lead", district_admin: "District admin",
        analyst: "Analyst", partner: "Partner", data_protection_officer: "Data protection officer" },
};

let lang = sessionStorage.getItem("kim.lang") || "de"; // German first, whatever the browser says
if (!DICT[lang]) lang = "de";

export function getLang() { return lang; }
export function setLang(value) { lang = DICT[value] ? value : "de"; sessionStorage.setItem("kim.lang", lang); }

export function t(key, vars = {}) {
  let text = DICT[lang][key] ?? DICT.en[key] ?? key;
  for (const [name, value] of Object.entries(vars)) text = text.replace(`{${name}}`, value);
  return text;
}

/** Screens bring their own texts: addTexts({de: {...}, en: {...}}). */
export function addTexts(texts) {
  for (const [language, entries] of Object.entries(texts)) Object.assign(DICT[language], entries);
}

export function roleLabel(role) { return ROLE_LABELS[lang][role] || role; }

// the codes' labels per language, from /app/config.json (services/shared/labels.py)
const CODES = { de: {}, en: {} };

export function addCodeLabels(labels) {
  for (const [language, entries] of Object.entries(labels || {})) if (CODES[language]) Object.assign(CODES[language], entries);
}

/** A code of an API enumeration in the user's language: "temporary_protection" -> "vorübergehender Schutz
 * (§ 24 AufenthG)"; a code without a label reads "temporary protection" (the code stays the value). */
export function codeLabel(code) {
  if (code == null) return t("none");
  return CODES[lang][code] ?? CODES.en[code] ?? String(code).replaceAll("_", " ");
}

/** ISO 639-1 languages (["uk", "ru"]) or ISO 3166 countries (["UA"]) by their names in the user's language, as
 * the browser knows them (Intl.DisplayNames), each with its code: "Ukrainisch (uk), Russisch (ru)". */
export function languageNames(codes) { return namedCodes("language", codes, (code) => code); }
export function countryNames(codes) { return namedCodes("region", codes, (code) => code.toUpperCase()); }

function namedCodes(type, codes, normal) {
  if (!codes?.length) return t("none");
  const names = new Intl.DisplayNames([lang], { type, fallback: "none" });
  return codes.map((code) => {
    let name = null;
    try { name = names.of(normal(String(code))); } catch { /* not a code */ }
    return name ? `${name} (${code})` : String(code);
  }).join(", ");
}

// The API explains its refusals in English. The screens say the common ones in German: marshmallow's messages, the
// API's own phrases for dates and phone numbers, and a problem's title by its status; anything else as it came.
const API_MESSAGES_DE = [
  [/^Missing data for required field\.$/, "Pflichtangabe fehlt."],
  [/^Field may not be null\.$/, "Darf nicht leer sein."],
  [/^Unknown field\.$/, "Unbekanntes Feld."],
  [/^Invalid value\.$/, "Ungültiger Wert."],
  [/^Not a valid date\.$/, "Kein gültiges Datum."],
  [/^Not a valid datetime\.$/, "Kein gültiger Zeitpunkt."],
  [/^Not a valid (integer|number)\.$/, "Keine gültige Zahl."],
  [/^Not a valid (string|list|boolean|UUID)\.$/, "Ungültiges Format."],
  [/^Not a valid email address\.$/, "Keine gültige E-Mail-Adresse."],
  [/^Must be one of: (.*)\.$/, (m) => `Muss einer dieser Werte sein: ${m[1]}.`],
  [/^Length must be between (\d+) and (\d+)\.$/, (m) => `Muss ${m[1]} bis ${m[2]} Zeichen lang sein.`],
  [/^Shorter than minimum length (\d+)\.$/, (m) => `Muss mindestens ${m[1]} Zeichen lang sein.`],
  [/^Longer than maximum length (\d+)\.$/, (m) => `Darf höchstens ${m[1]} Zeichen lang sein.`],
  [/^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$/, (m) => `Muss zwischen ${m[1]} und ${m[2]} liegen.`],
  [/^must not lie in the future$/, "darf nicht in der Zukunft liegen"],
  [/^must not lie before (\w+)$/, (m) => `darf nicht vor „${t(m[1])}“ liegen`],
  [/^must lie between (\S+) and today$/, (m) => `muss zwischen ${m[1]} und heute liegen`],
  [/^must lie between (\S+) and (\S+)$/, (m) => `muss zwischen ${m[1]} und ${m[2]} liegen`],
  [/^must have 7 to 15 digits \(E\.164\)$/, "muss 7 bis 15 Ziffern haben (E.164)"],
  [/^must be \+ and digits \(E\.164\), spaces allowed$/, "nur + und Ziffern (E.164), Leerzeichen erlaubt"],
  [/^(\w+) must not be blank$/, "darf nicht leer sein"],
  [/^(body|query|path) is invalid$/, "Die Angaben sind unvollständig oder ungültig."],
];
const STATUS_TITLES_DE = {
  400: "Ungültige Anfrage", 401: "Nicht angemeldet", 403: "Nicht erlaubt", 404: "Nicht gefunden", 409: "Konflikt",
  412: "Inzwischen geändert", 413: "Zu groß", 415: "Falsches Format", 422: "Ungültige Angaben", 429: "Zu viele Anfragen",
  503: "Gerade nicht verfügbar",
};

/** One of the API's messages in the user's language, where the screens know it. */
export function apiText(message) {
  if (lang !== "de" || typeof message !== "string") return message;
  for (const [pattern, german] of API_MESSAGES_DE) {
    const match = message.match(pattern);
    if (match) return typeof german === "function" ? german(match) : german;
  }
  return message;
}

/** A problem's title: by its status in German, else as the API sent it. */
export function problemTitle(status, title) {
  return (lang === "de" && STATUS_TITLES_DE[status]) || title;
}

/** Static texts of index.html marked with data-i18n. */
export function translatePage() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  const button = document.getElementById("lang");
  button.textContent = t("lang_switch");
  button.lang = lang === "de" ? "en" : "de";
}
