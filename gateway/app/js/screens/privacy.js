// Data protection officer: the audit log, the GDPR export (Art. 15) and erasure (Art. 17) with each service's
// confirmation.
import { api } from "../api.js";
import { addTexts, codeLabel, roleLabel, t } from "../i18n.js";
import { announce, field, fmt, fmtTime, h, notice, readForm, run, table } from "../ui.js";

addTexts({
  de: { "part.referrals": "Vermittlungen", "part.analytics": "Archivierte Ereignisse (Auswertung)", pending: "ausstehend",
        "service.intake": "Erfassung", "service.casework": "Fallmanagement", "service.referrals": "Vermittlungen",
        "service.analytics": "Auswertung" },
  en: { "part.referrals": "Referrals", "part.analytics": "Archived events (analytics)", pending: "pending",
        "service.intake": "Intake", "service.casework": "Case management", "service.referrals": "Referrals",
        "service.analytics": "Analytics" },
});
// the parts of an export (GET /v1/persons/{id}/export) that are lists, as the summary counts them
const EXPORT_PARTS = [["consents", "consents"], ["history", "history"], ["households", "households"], ["cases", "cases"],
  ["referrals", "part.referrals"], ["analytics", "part.analytics"]];

export function audit(ctx) {
  const results = h("div", { "aria-live": "polite" });
  let cursor = null;
  let rows = [];
  const form = h("form", { novalidate: true, role: "search" },
    h("div", { class: "grid" }, field("person_id", { label: t("person_id") }), field("case_id", { label: t("case_id") })),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("audit_search"))));
  const render = () => results.replaceChildren(
    table(`${t("audit")}: ${rows.length}`, [t("at"), t("actor"), t("role"), t("action"), t("purpose"), t("person_id"), t("status"), t("request_id")],
      rows.map((e) => [fmt(e.at), fmt(e.actor), e.role ? roleLabel(e.role) : fmt(e.role), `${codeLabel(e.action)} (${e.action})`, codeLabel(e.purpose), fmt(e.person_id), fmt(e.status), fmt(e.request_id)])),
    cursor ? h("button", { type: "button", class: "secondary", onclick: () => load(true) }, t("more")) : null);
  const load = (more) => run(form, () => api("GET", "/v1/audit", { query: { ...readForm(form), limit: 50, cursor: more ? cursor : undefined } }), (r) => {
    rows = more ? rows.concat(r.data.items) : r.data.items;
    cursor = r.data.next_cursor;
    render();
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); load(false); });
  ctx.show(t("audit"), form, results);
  load(false);
}

export function page(ctx, personId) {
  const out = h("div");
  const form = h("form", { novalidate: true, "aria-label": t("person_id") },
    h("div", { class: "grid" }, field("person_id", { label: t("person_id"), required: true, value: personId })));
  const exportButton = h("button", { type: "button", class: "export" }, t("export_button"));
  const confirm = field("confirm", { type: "checkbox", label: t("erase_confirm"), attrs: { "data-skip": "" } });
  const eraseButton = h("button", { type: "button", class: "danger erase" }, t("erase_button"));
  const id = () => form.querySelector("[name=person_id]").value.trim();

  exportButton.addEventListener("click", () => run(form, () => api("GET", `/v1/persons/${id()}/export`), (r) => {
    const json = JSON.stringify(r.data, null, 2);
    const link = h("a", { class: "button secondary", download: `kim-export-${id()}.json`, href: URL.createObjectURL(new Blob([json], { type: "application/json" })) }, t("download"));
    out.replaceChildren(h("section", { "aria-labelledby": "export-title" }, h("h2", { id: "export-title" }, t("export")),
      table(t("export"), [t("field"), "#"], EXPORT_PARTS.map(([k, label]) => [t(label), String((r.data[k] || []).length)])),
      link, h("pre", { tabindex: "0", "aria-label": t("export") }, json)));
    announce(t("export"));
  }));

  const showErasure = (erasure) => {
    const refresh = h("button", { type: "button", class: "secondary", onclick: () => run(form, () => api("GET", `/v1/erasures/${erasure.erasure_id}`), (r) => showErasure(r.data)) }, t("refresh"));
    out.replaceChildren(h("section", { "aria-labelledby": "erasure-title", class: "erasure" }, h("h2", { id: "erasure-title" }, t("erasure_status")),
      h("p", {}, `${t("status")}: `, h("strong", { class: "erasure-status", "data-status": erasure.status }, codeLabel(erasure.status))),
      table(t("erasure_status"), [t("service"), t("status")], Object.entries(erasure.confirmations || {}).map(([service, at]) =>
        [t(`service.${service}`), at ? `✓ ${fmtTime(at)}` : `… ${t("pending")}`])), refresh));
    announce(`${t("erasure_status")}: ${codeLabel(erasure.status)}`);
  };
  eraseButton.addEventListener("click", () => {
    if (!confirm.querySelector("input").checked) {
      out.replaceChildren(notice("error", t("erase_confirm")));
      confirm.querySelector("input").focus();
      return;
    }
    run(form, () => api("DELETE", `/v1/persons/${id()}`), (r) => showErasure(r.data));
  });
  ctx.show(t("privacy"), form, h("h2", {}, t("export")), h("div", { class: "actions" }, exportButton),
    h("h2", {}, t("erase")), confirm, h("div", { class: "actions" }, eraseButton), out);
}
