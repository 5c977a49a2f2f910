// Cases: the list of the caller's visible cases (GET /v1/cases). The case manager's worklist and case page
// appear when casework's routes are in the API.
import { api } from "../api.js";
import { codeLabel, t } from "../i18n.js";
import { field, fmt, h, notice, readForm, run, table } from "../ui.js";

export function list(ctx) {
  const results = h("div", { "aria-live": "polite" });
  const form = h("form", { novalidate: true, role: "search" },
    h("div", { class: "grid" }, field("status", { options: ctx.config.enums.case_status }), field("person_id", { label: t("person_id") })),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("search_button"))));
  const load = () => run(form, () => api("GET", "/v1/cases", { query: { ...readForm(form), limit: 50 } }), (r) => {
    const items = r.data.items || [];
    results.replaceChildren(items.length ? table(`${t("cases")}: ${items.length}`, [t("case_id"), t("status"), t("assigned_to"), t("opened_at"), t("person")],
      items.map((c) => [c.id.slice(0, 8), codeLabel(c.status), fmt(c.assigned_to), fmt(c.opened_at),
        h("span", {}, h("a", { href: `#/case/${c.id}` }, t("case")), " · ", h("a", { href: `#/person/${c.person_id}` }, t("person")))])) : notice("ok", t("no_results")));
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  ctx.show(t("cases"), form, results);
  load();
}
