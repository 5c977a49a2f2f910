// A person's page: the record, rectification with If-Match (a 412 shows what changed meanwhile), the history
// of changes, consents (grant, withdraw) and the household.
import { api } from "../api.js";
import { codeLabel, t } from "../i18n.js";
import { announce, field, fmt, h, notice, readForm, run, table } from "../ui.js";
import { personFields, shown } from "./intake.js";

const SHOWN = ["given_name", "family_name", "birth_date", "birth_year", "sex", "nationalities", "municipality", "arrival_date",
  "municipality_arrival_date", "residence_status", "residence_valid_until", "languages", "mother_tongues", "german_level",
  "interpreter_needed", "phone", "email", "preferred_channel", "address", "version"];

const flat = (p) => ({ ...p, ...(p.address ? { "address.street": p.address.street, "address.postal_code": p.address.postal_code, "address.city": p.address.city } : {}) });
const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The fields the user changed against the record they read, in the API's shape (address as a whole). */
function changes(form, read) {
  const body = readForm(form);
  const out = {};
  for (const [name, value] of Object.entries(body)) {
    if (name === "address") { if (!same(value, read.address)) out.address = value; continue; }
    if (!same(value, read[name])) out[name] = value;
  }
  if (read.interpreter_needed && !("interpreter_needed" in body)) out.interpreter_needed = false;
  return out;
}

function errorOrForbidden(error) {
  return notice("error", error.status === 403 ? t("forbidden") : error.status === 404 ? t("not_found") : `${error.status}: ${error.message}`);
}

export async function page(ctx, id) {
  let read;
  try { read = await api("GET", `/v1/persons/${id}`); } catch (error) { ctx.show(t("person"), errorOrForbidden(error)); return; }
  let record = read.data;
  let etag = read.etag;
  const title = `${record.given_name} ${record.family_name}`;
  const recordBox = h("section", { "aria-labelledby": "record-title" });
  const renderRecord = () => recordBox.replaceChildren(h("h2", { id: "record-title" }, t("record")),
    h("dl", { class: "record" }, SHOWN.flatMap((name) => record[name] === undefined ? [] : [h("dt", {}, t(name)),
      h("dd", {}, name === "address" && record.address ? `${record.address.street}, ${record.address.postal_code} ${record.address.city}` : shown(ctx.config, name, record[name]))])));
  renderRecord();

  const form = h("form", { novalidate: true, "aria-labelledby": "rectify-title", class: "rectify" },
    personFields(ctx.config, record, { rectify: true }), h("div", { class: "actions" }, h("button", { type: "submit" }, t("save"))));
  const conflictBox = h("div");
  const save = (body, ifMatch) => run(form, () => api("PATCH", `/v1/persons/${id}`, { body, ifMatch }), (r) => {
    record = r.data; etag = r.etag; renderRecord(); conflictBox.replaceChildren(); loadHistory();
    form.prepend(notice("ok", t("saved"))); announce(t("saved"));
  }, { onConflict: async () => {
    const now = await api("GET", `/v1/persons/${id}`);
    const before = flat(record);
    const after = flat(now.data);
    const rows = Object.keys(after).filter((name) => SHOWN.includes(name.split(".")[0]) && name !== "address" && !same(before[name], after[name]))
      .map((name) => [t(name.startsWith("address.") ? name.slice(8) : name), fmt(before[name]), fmt(after[name]), fmt(flat(body)[name] ?? (name.startsWith("address.") ? body.address?.[name.slice(8)] : undefined))]);
    const box = h("section", { class: "notice warn conflict", role: "alert", tabindex: "-1", "aria-labelledby": "conflict-title" },
      h("h2", { id: "conflict-title" }, t("conflict")), h("p", {}, t("conflict_hint")),
      table(t("conflict"), [t("field"), t("you_read"), t("now_value"), t("your_value")], rows),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "apply-mine", onclick: () => { record = now.data; etag = now.etag; renderRecord(); save(body, etag); } }, t("apply_mine")),
        h("button", { type: "button", class: "secondary", onclick: () => page(ctx, id) }, t("discard_mine"))));
    conflictBox.replaceChildren(box);
    box.focus();
  } });
  form.addEventListener("submit", (event) => { event.preventDefault(); save(changes(form, record), etag); });

  const history = h("section", { "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, t("history")));
  const historyBody = h("div");
  history.append(historyBody);
  const loadHistory = () => api("GET", `/v1/persons/${id}/history`, { query: { limit: 100 } }).then((r) => historyBody.replaceChildren(
    table(t("history"), [t("changed_at"), t("changed_by"), t("field"), t("old_value"), t("new_value"), t("version")],
      (r.data.items || []).map((c) => [fmt(c.changed_at), fmt(c.changed_by), t(c.field), fmt(c.old_value), fmt(c.new_value), fmt(c.version)]))))
    .catch((error) => historyBody.replaceChildren(errorOrForbidden(error)));
  loadHistory();

  ctx.show(title, recordBox, h("h2", { id: "rectify-title" }, t("rectify")), conflictBox, form, history,
    consents(ctx, id, record), households(ctx, id));
}

function consents(ctx, id, record) {
  const section = h("section", { "aria-labelledby": "consents-title" }, h("h2", { id: "consents-title" }, t("consents")));
  const list = table(t("consents"), [t("purpose"), t("basis"), t("granted_at"), t("status"), ""],
    (record.consents || []).map((c) => [codeLabel(c.purpose), codeLabel(c.basis), fmt(c.granted_at), c.withdrawn_at ? `${t("withdrawn")} ${c.withdrawn_at}` : t("granted"),
      c.withdrawn_at ? "" : h("button", { type: "button", class: "secondary", "aria-label": `${t("consent_withdraw")}: ${codeLabel(c.purpose)}`,
        onclick: (e) => run(grant, () => api("POST", `/v1/persons/${id}/consents/${c.purpose}/withdrawal`), () => page(ctx, id)) }, t("consent_withdraw"))]));
  const grant = h("form", { novalidate: true, "aria-label": t("consent_grant") },
    h("div", { class: "grid" }, field("purpose", { required: true, options: ctx.config.enums.consent_purpose }),
      field("basis", { required: true, options: ctx.config.enums.consent_basis }),
      field("granted_at", { type: "datetime-local", required: true })),
    h("button", { type: "submit" }, t("consent_grant")));
  grant.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = readForm(grant);
    if (body.granted_at) body.granted_at = new Date(body.granted_at).toISOString();
    run(grant, () => api("POST", `/v1/persons/${id}/consents`, { body }), () => page(ctx, id));
  });
  section.append(list, h("h3", {}, t("consent_grant")), grant);
  return section;
}

function households(ctx, id) {
  const create = h("form", { novalidate: true, "aria-label": t("household_create") },
    h("div", { class: "grid" }, field("members.0.relation", { label: t("relation"), required: true, options: ctx.config.enums.relation, value: "head" })),
    h("button", { type: "submit" }, t("household_create")));
  create.addEventListener("submit", (event) => {
    event.preventDefault();
    const relation = create.querySelector("select").value;
    run(create, () => api("POST", "/v1/households", { body: { members: [{ person_id: id, relation }] } }), (r) => { location.hash = `#/household/${r.data.id}`; });
  });
  const open = h("form", { novalidate: true, "aria-label": t("household_open") },
    h("div", { class: "grid" }, field("household_id")), h("button", { type: "submit", class: "secondary" }, t("household_open")));
  open.addEventListener("submit", (event) => { event.preventDefault(); location.hash = `#/household/${open.querySelector("input").value.trim()}`; });
  return h("section", { "aria-labelledby": "households-title" }, h("h2", { id: "households-title" }, t("households")), create, open);
}

export async function household(ctx, hid) {
  let data;
  try { data = (await api("GET", `/v1/households/${hid}`)).data; } catch (error) { ctx.show(t("households"), errorOrForbidden(error)); return; }
  const add = h("form", { novalidate: true, "aria-label": t("household_member") },
    h("div", { class: "grid" }, field("person_id", { label: t("person_id"), required: true }), field("relation", { required: true, options: ctx.config.enums.relation })),
    h("button", { type: "submit" }, t("add")));
  add.addEventListener("submit", (event) => {
    event.preventDefault();
    run(add, () => api("POST", `/v1/households/${hid}/members`, { body: readForm(add) }), () => household(ctx, hid));
  });
  ctx.show(`${t("households")} ${hid.slice(0, 8)}`,
    table(t("members"), [t("person_id"), t("relation"), ""], (data.members || []).map((m) => [m.person_id, codeLabel(m.relation),
      h("a", { href: `#/person/${m.person_id}` }, t("open"))])),
    h("h2", {}, t("household_member")), add);
}
