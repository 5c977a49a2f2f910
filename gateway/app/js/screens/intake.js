// Intake officer: register a newcomer (every field, consents with their basis; likely duplicates side by side
// with "register as new" or "link"), and search with transliteration.
import { api } from "../api.js";
import { codeLabel, countryNames, languageNames, t } from "../i18n.js";
import { announce, field, fmt, h, notice, readForm, run, table, townName } from "../ui.js";

const nowLocal = () => { const d = new Date(); d.setSeconds(0, 0); return new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); };
const today = () => new Date().toISOString().slice(0, 10);

function consentRows(config) {
  return config.enums.consent_purpose.map((purpose, i) => h("div", { class: "grid consent", "data-purpose": purpose },
    field(`consent.${purpose}.granted`, { type: "checkbox", label: `${codeLabel(purpose)}: ${t("granted")}`, value: purpose === "case_management", attrs: { "data-skip": "" } }),
    field(`consent.${purpose}.basis`, { label: `${codeLabel(purpose)}: ${t("basis")}`, options: config.enums.consent_basis, value: "signed_form", attrs: { "data-skip": "" } }),
    field(`consent.${purpose}.granted_at`, { type: "datetime-local", label: `${codeLabel(purpose)}: ${t("granted_at")}`, value: nowLocal(), attrs: { "data-skip": "" } })));
}

/** The checked consents in the API's shape; their controls are named consents.N.* so errors find them. */
function readConsents(form) {
  const consents = [];
  for (const row of form.querySelectorAll(".consent")) {
    const purpose = row.dataset.purpose;
    const [granted, basis, at] = row.querySelectorAll("input, select");
    const n = consents.length;
    if (!granted.checked) { [basis, at].forEach((el) => el.removeAttribute("name")); continue; }
    basis.name = `consents.${n}.basis`; at.name = `consents.${n}.granted_at`; granted.name = `consents.${n}.purpose`;
    consents.push({ purpose, basis: basis.value, granted_at: at.value ? new Date(at.value).toISOString() : "" });
  }
  return consents;
}

export function personFields(config, p = {}, { rectify = false } = {}) {
  const req = !rectify;
  const e = config.enums;
  return [
    h("fieldset", {}, h("legend", {}, t("personal")), h("div", { class: "grid" },
      field("given_name", { required: req, value: p.given_name, attrs: { autocomplete: "off" } }),
      field("family_name", { required: req, value: p.family_name, attrs: { autocomplete: "off" } }),
      field("birth_date", { type: "date", required: req && !config.features.birth_year, value: p.birth_date }),
      config.features.birth_year ? field("birth_year", { type: "number", value: p.birth_date ? undefined : p.birth_year, attrs: { min: 1900, max: 2100, "data-type": "int" } }) : null,
      field("sex", { options: e.sex, value: p.sex }),
      field("nationalities", { value: (p.nationalities || []).join(", "), hint: t("codes_hint", { example: "UA, SY" }), attrs: { "data-type": "upper-list" } }))),
    h("fieldset", {}, h("legend", {}, t("arrival")), h("div", { class: "grid" },
      rectify ? null : field("municipality", { required: true, options: config.municipalities.map((m) => [m.ags, m.name]), value: p.municipality }),
      field("arrival_date", { type: "date", required: req, value: p.arrival_date, attrs: { max: today() } }),
      field("municipality_arrival_date", { type: "date", value: p.municipality_arrival_date }),
      field("residence_status", { required: req, options: e.residence_status, value: p.residence_status }),
      field("residence_valid_until", { type: "date", value: p.residence_valid_until }))),
    h("fieldset", {}, h("legend", {}, t("languages_fs")), h("div", { class: "grid" },
      field("languages", { required: req, value: (p.languages || []).join(", "), hint: t("codes_hint", { example: "uk, ru" }), attrs: { "data-type": "list" } }),
      field("mother_tongues", { value: (p.mother_tongues || []).join(", "), hint: t("codes_hint", { example: "uk" }), attrs: { "data-type": "list" } }),
      field("german_level", { options: e.german_level, value: p.german_level }),
      field("interpreter_needed", { type: "checkbox", value: p.interpreter_needed, attrs: { "data-optional": "" } }))),
    h("fieldset", {}, h("legend", {}, t("contact")), h("div", { class: "grid" },
      field("phone", { type: "tel", value: p.phone, hint: "+49 2351 123456" }),
      field("email", { type: "email", value: p.email }),
      field("preferred_channel", { options: e.preferred_channel, value: p.preferred_channel }),
      field("address.street", { label: t("street"), value: p.address?.street }),
      field("address.postal_code", { label: t("postal_code"), value: p.address?.postal_code, attrs: { inputmode: "numeric" } }),
      field("address.city", { label: t("city"), value: p.address?.city }))),
  ];
}

// fields of a person whose values are codes of an enumeration: shown in words
const CODED = new Set(["sex", "residence_status", "german_level", "preferred_channel"]);
const LANGUAGES = new Set(["languages", "mother_tongues"]);

/** A person's field as the screens show it: codes in words, the town by its name. */
export function shown(config, name, value) {
  if (value == null || value === "") return fmt(value);
  if (name === "municipality") return `${townName(config, value)} (${value})`;
  if (LANGUAGES.has(name)) return languageNames(value);
  if (name === "nationalities") return countryNames(value);
  return CODED.has(name) ? codeLabel(value) : fmt(value);
}

const COMPARED = ["given_name", "family_name", "birth_date", "birth_year", "sex", "nationalities", "municipality", "arrival_date", "languages"];

async function duplicates(ctx, form, body, error) {
  const candidates = error.problem.candidates || [];
  const records = await Promise.all(candidates.map((c) => api("GET", `/v1/persons/${c.id}`).then((r) => r.data).catch(() => ({ id: c.id }))));
  const card = (title, record, extra) => h("section", { class: "card", "aria-label": title }, h("h3", {}, title),
    h("dl", { class: "record" }, COMPARED.flatMap((name) => {
      const same = record !== body && fmt(record[name]) === fmt(body[name]) && record[name] != null;
      return [h("dt", {}, t(name)), h("dd", { class: same ? "same" : undefined }, shown(ctx.config, name, record[name]))];
    })), extra);
  const send = (extra) => run(form, () => api("POST", "/v1/persons", { body: { ...body, ...extra } }), (r) => {
    announce(t("registered"));
    location.hash = `#/person/${r.data.id}`;
  });
  const box = h("section", { class: "notice warn duplicates", "aria-labelledby": "dup-title", tabindex: "-1" },
    h("h2", { id: "dup-title" }, t("duplicates")), h("p", {}, t("duplicates_hint")),
    h("div", { class: "side-by-side" },
      card(t("new_entry"), body, h("div", { class: "actions" },
        h("button", { type: "button", class: "confirm-new", onclick: () => send({ confirmed_new: true }) }, t("confirm_new")))),
      records.map((record, i) => card(t("candidate", { n: i + 1 }), record, [
        h("p", {}, `${t("score")}: ${Math.round((candidates[i].score || 0) * 100)} % · ${t("why")}: ${(candidates[i].why || []).map(codeLabel).join(", ")}`),
        h("div", { class: "actions" },
          ctx.config.features.link_existing ? h("button", { type: "button", class: "link-existing", onclick: () => send({ existing_person_id: record.id }) }, t("link")) : null,
          h("a", { class: "button secondary", href: `#/person/${record.id}` }, t("open_existing")))]))));
  form.querySelector(".duplicates")?.remove();
  form.prepend(box);
  box.focus();
  return true;
}

export function register(ctx) {
  const form = h("form", { novalidate: true, "aria-labelledby": "register-title" },
    personFields(ctx.config, { municipality: ctx.user.municipalities?.[0] }),
    h("fieldset", { name: "consents", tabindex: "-1" }, h("legend", {}, t("consents")), consentRows(ctx.config)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("submit_register"))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { ...readForm(form), consents: readConsents(form) };
    run(form, () => api("POST", "/v1/persons", { body }), (r) => {
      announce(t("registered"));
      location.hash = `#/person/${r.data.id}`;
    }, { onError: (error) => error.status === 409 && error.problem.candidates ? duplicates(ctx, form, body, error) : false });
  });
  ctx.show(t("register"), form);
  document.querySelector("main h1").id = "register-title";
}

export function search(ctx) {
  const results = h("div", { "aria-live": "polite" });
  const form = h("form", { role: "search", novalidate: true },
    h("div", { class: "grid" }, field("q", { label: t("search_q"), type: "search" }), field("birth_date", { type: "date" })),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("search_button"))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = { ...readForm(form), limit: 50 };
    run(form, () => api("GET", "/v1/persons", { query }), (r) => {
      const items = r.data.items || [];
      results.replaceChildren(items.length ? table(`${t("results")}: ${items.length}`,
        [t("name"), t("birth_date"), t("municipality"), t("arrival_date"), ""],
        items.map((p) => [`${p.family_name}, ${p.given_name}`, fmt(p.birth_date ?? p.birth_year),
          townName(ctx.config, p.municipality), fmt(p.arrival_date),
          h("a", { href: `#/person/${p.id}`, "aria-label": `${t("open")}: ${p.given_name} ${p.family_name}` }, t("open"))]))
        : notice("ok", t("no_results")));
    });
  });
  ctx.show(t("search"), form, results);
}
