// The team lead's screen: caseload against capacity, the unassigned queue, (re)assignment with a reason, and
// absences with deputies. GET /v1/teams/{team}/caseload (a token with a team) or each case manager's caseload.
import { api } from "../api.js";
import { addTexts, codeLabel, languageNames, t } from "../i18n.js";
import { announce, field, fmt, h, notice, readForm, run, table, townName } from "../ui.js";
import { cleared, editForm } from "./casework.js";

addTexts({
  de: {
    "nav.team": "Team", team: "Team und Fallverteilung", team_optional: "Team (optional)", caseload: "Fallbelastung",
    active_cases: "Aktive Fälle", capacity: "Kapazität", load: "Auslastung", absent_today: "Heute abwesend",
    unassigned: "Nicht zugewiesene Fälle", unassigned_count: "Warteschlange der Kommune: {n}", assign: "Zuweisen",
    reassign: "Fall neu zuweisen", no_case_managers: "Noch keine Fallmanager*innen.",
    absences: "Abwesenheiten und Vertretungen", absence_from: "von", absence_to: "bis", deputy: "Vertretung",
    absence_kind: "Art", add_absence: "Abwesenheit eintragen", queue_empty: "Keine Fälle ohne Zuständigkeit.",
    over_capacity: "über Kapazität",
    profiles: "Profile der Fallmanager*innen", edit_profile: "Profil bearbeiten", hours_per_week: "Wochenstunden",
    capacity_hint: "Leer: aus den Wochenstunden berechnet", team_lead_flag: "Leitet das Team", active: "Aktiv",
    coverage: "Einsatzplan", coverage_row: "Einsatz {n}", weekdays: "Wochentage", coverage_new: "Neuer Einsatz (optional)",
    town_hours: "Wochenstunden in dieser Kommune", town_hours_hint: "Leer: Anteil der Wochenstunden nach Wochentagen",
    "wd.mon": "Mo", "wd.tue": "Di", "wd.wed": "Mi", "wd.thu": "Do", "wd.fri": "Fr", "wd.sat": "Sa", "wd.sun": "So",
    inactive: "inaktiv",
  },
  en: {
    "nav.team": "Team", team: "Team and assignment", team_optional: "Team (optional)", caseload: "Caseload",
    active_cases: "Active cases", capacity: "Capacity", load: "Load", absent_today: "Absent today",
    unassigned: "Unassigned cases", unassigned_count: "The municipality's queue: {n}", assign: "Assign",
    reassign: "Reassign a case", no_case_managers: "No case managers yet.",
    absences: "Absences and deputies", absence_from: "from", absence_to: "to", deputy: "Deputy",
    absence_kind: "Kind", add_absence: "Record absence", queue_empty: "No unassigned cases.",
    over_capacity: "over capacity",
    profiles: "Case managers' profiles", edit_profile: "Edit profile", hours_per_week: "Hours per week",
    capacity_hint: "Empty: computed from the hours", team_lead_flag: "Leads the team", active: "Active",
    coverage: "Coverage", coverage_row: "Coverage {n}", weekdays: "Weekdays", coverage_new: "New coverage (optional)",
    town_hours: "Hours per week in this town", town_hours_hint: "Empty: a share of the hours by weekdays",
    "wd.mon": "Mon", "wd.tue": "Tue", "wd.wed": "Wed", "wd.thu": "Thu", "wd.fri": "Fri", "wd.sat": "Sat", "wd.sun": "Sun",
    inactive: "inactive",
  },
});

/** A bar with its value in text: the width carries nothing the text does not say. */
export function bar(value, max, label) {
  const width = max > 0 ? Math.max(0, Math.min(1, value / max)) * 200 : 0;
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("width", "204"); svg.setAttribute("height", "14"); svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "bar");
  const frame = document.createElementNS(svgNS, "rect");
  for (const [k, v] of Object.entries({ x: 1, y: 1, width: 202, height: 12, class: "bar-frame" })) frame.setAttribute(k, v);
  const fill = document.createElementNS(svgNS, "rect");
  for (const [k, v] of Object.entries({ x: 2, y: 2, width: width.toFixed(1), height: 10, class: "bar-fill" })) fill.setAttribute(k, v);
  svg.append(frame, fill);
  return h("span", { class: "bar-cell" }, svg, h("span", {}, ` ${label}`));
}

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** A capacity computed from the hours shows (and compares) as empty: saving unchanged sends nothing. */
const asEdited = (m) => ({ ...m, capacity: m.capacity_from_hours ? null : m.capacity });

/** One case manager's profile, edited with If-Match (PATCH /v1/case-managers/{id}; coverage replaces the list). */
function profileForm(ctx, m, reload) {
  // the towns of the user's token: a profile may name no other (the API says so, too)
  const towns = ctx.config.municipalities.filter((x) => !ctx.user.municipalities?.length || ctx.user.municipalities.includes(x.ags))
    .map((x) => [x.ags, `${x.name} (${x.ags})`]);
  const rows = [...m.coverage, null].map((cov, i) => h("fieldset", { class: "coverage-row", "data-row": i },
    h("legend", {}, cov ? t("coverage_row", { n: i + 1 }) : t("coverage_new")),
    field(`coverage.${i}.municipality`, { label: t("municipality"), options: towns, value: cov?.municipality, attrs: { "data-skip": "" } }),
    h("fieldset", { class: "weekdays" }, h("legend", {}, t("weekdays")),
      WEEKDAYS.map((d) => field(`coverage.${i}.weekdays`, { label: t(`wd.${d}`), type: "checkbox", value: cov?.weekdays.includes(d),
        attrs: { value: d, "data-skip": "" } }))),
    field(`coverage.${i}.hours_per_week`, { label: t("town_hours"), type: "number", value: cov?.hours_per_week, hint: t("town_hours_hint"),
      attrs: { step: "0.5", min: 0, max: 60, "data-skip": "" } })));
  const toBody = (f) => {
    const body = cleared(f, readForm(f), { texts: ["name"] });
    body.languages ||= [];
    if (body.hours_per_week !== undefined) body.hours_per_week = Number.parseFloat(String(body.hours_per_week).replace(",", "."));
    if (body.capacity === undefined) body.capacity = null; // empty: from the hours again
    if (body.team === undefined) body.team = null;
    body.coverage = [...m.coverage, null].flatMap((cov, i) => {
      const town = f.querySelector(`[name="coverage.${i}.municipality"]`).value;
      const days = [...f.querySelectorAll(`[name="coverage.${i}.weekdays"]`)].filter((x) => x.checked).map((x) => x.value);
      const hours = f.querySelector(`[name="coverage.${i}.hours_per_week"]`).value.trim();
      if (!town && !days.length && !hours) return [];
      // empty: the API splits the total hours by weekdays
      return [{ municipality: town, weekdays: days, hours_per_week: hours ? Number.parseFloat(hours.replace(",", ".")) : null }];
    });
    return body;
  };
  return editForm({
    label: `${t("edit_profile")}: ${m.name}`, summary: h("span", {}, t("edit_profile"), h("span", { class: "visually-hidden" }, `: ${m.name}`)),
    cls: "edit-profile", record: asEdited(m), path: `/v1/case-managers/${m.id}`,
    names: ["name", "languages", "hours_per_week", "capacity", "team", "team_lead", "active", "coverage"],
    controls: [field("name", { label: t("name"), required: true, value: m.name }),
      field("languages", { label: t("languages"), value: m.languages.join(", "), hint: t("codes_hint", { example: "de, uk" }), attrs: { "data-type": "list" } }),
      field("hours_per_week", { label: t("hours_per_week"), type: "number", value: m.hours_per_week, attrs: { step: "0.5", min: 1, max: 60 } }),
      field("capacity", { label: t("capacity"), type: "number", value: m.capacity_from_hours ? null : m.capacity, hint: t("capacity_hint"), attrs: { "data-type": "int", min: 0 } }),
      field("team", { label: t("team_optional"), value: m.team }),
      field("team_lead", { label: t("team_lead_flag"), type: "checkbox", value: m.team_lead }),
      field("active", { label: t("active"), type: "checkbox", value: m.active })],
    extra: [h("div", { class: "coverage" }, h("p", {}, h("strong", {}, t("coverage"))), h("div", { class: "grid" }, rows))],
    formats: { coverage: (list) => (list || []).map((c) => `${townName(ctx.config, c.municipality)}: ${c.weekdays.map((d) => t(`wd.${d}`)).join(", ")}`
      + (c.hours_per_week != null ? ` (${c.hours_per_week} h)` : "")).join("; ") || t("none") },
    toBody, reread: async () => asEdited((await api("GET", `/v1/case-managers/${m.id}`)).data), onSaved: reload });
}

async function caseload(user) {
  if (user.team) {
    try {
      const data = (await api("GET", `/v1/teams/${encodeURIComponent(user.team)}/caseload`)).data;
      return { rows: data.case_managers, unassigned: data.unassigned_cases };
    } catch (error) {
      if (error.status !== 404) throw error;  // a team without case managers yet: the town's case managers
    }
  }
  const managers = (await api("GET", "/v1/case-managers", { query: { municipality: user.municipalities?.[0], limit: 100 } })).data.items;
  const loads = await Promise.all(managers.map((m) => api("GET", `/v1/case-managers/${m.id}/caseload`).then((r) => r.data).catch(() => null)));
  const rows = loads.flatMap((l) => l?.case_managers || []);
  return { rows, unassigned: loads.find(Boolean)?.unassigned_cases, managers };
}

export async function page(ctx) {
  const town = ctx.user.municipalities?.[0];
  let load, queue, managers;
  try {
    [load, queue, managers] = await Promise.all([caseload(ctx.user),
      api("GET", "/v1/cases", { query: { unassigned: "true", municipality: town, limit: 50 } }).then((r) => r.data.items),
      api("GET", "/v1/case-managers", { query: { municipality: town, limit: 100 } }).then((r) => r.data.items)]);
  } catch (error) { ctx.show(t("team"), notice("error", error.status === 403 ? t("forbidden") : error.message)); return; }
  const reload = () => { if (ctx.current()) page(ctx); };
  const options = managers.map((m) => [m.id, `${m.name} (${m.username})`]);

  const rows = load.rows.map((r) => [r.name || r.username, String(r.active_cases), fmt(r.capacity),
    bar(r.active_cases, r.capacity || 1, r.load == null ? t("none") : `${Math.round(r.load * 100)} %${r.load > 1 ? ` ⚠ ${t("over_capacity")}` : ""}`),
    r.absent_today ? `⚠ ${t("absent_today")}` : t("no")]);
  const loadTable = rows.length ? table(t("caseload"), [t("case_manager"), t("active_cases"), t("capacity"), t("load"), t("absent_today")], rows)
    : h("p", {}, t("no_case_managers"));

  const assignForm = (caseId) => {
    const f = h("form", { novalidate: true, class: "inline-form assign", "aria-label": `${t("assign")} ${caseId.slice(0, 8)}` },
      field("case_manager_id", { label: t("case_manager"), required: true, options }),
      field("reason", { label: t("reason"), required: true }),
      h("button", { type: "submit", class: "secondary" }, t("assign")));
    f.addEventListener("submit", (event) => {
      event.preventDefault();
      run(f, () => api("POST", `/v1/cases/${caseId}/assignment`, { body: readForm(f) }), () => { announce(t("saved_ok")); reload(); });
    });
    return f;
  };
  const queueTable = queue.length ? table(`${t("unassigned")}: ${queue.length}`, [t("case_id"), t("municipality"), t("opened_at"), t("case_status"), t("assign")],
    queue.map((c) => [h("a", { href: `#/case/${c.id}` }, c.id.slice(0, 8)), townName(ctx.config, c.municipality), fmt(c.opened_at?.slice(0, 10)), codeLabel(c.status), assignForm(c.id)]))
    : notice("ok", t("queue_empty"));

  const reassign = h("form", { novalidate: true, "aria-label": t("reassign") },
    h("div", { class: "grid" }, field("case_id", { label: t("case_id"), required: true, attrs: { "data-skip": "" } }),
      field("case_manager_id", { label: t("case_manager"), required: true, options }),
      field("reason", { label: t("reason"), required: true })),
    h("button", { type: "submit" }, t("reassign")));
  reassign.addEventListener("submit", (event) => {
    event.preventDefault();
    const caseId = reassign.querySelector("[name=case_id]").value.trim();
    run(reassign, () => api("POST", `/v1/cases/${encodeURIComponent(caseId)}/assignment`, { body: readForm(reassign) }), () => { announce(t("saved_ok")); reload(); });
  });

  const absence = h("form", { novalidate: true, "aria-label": t("add_absence") },
    h("div", { class: "grid" },
      field("case_manager", { label: t("case_manager"), required: true, options, attrs: { "data-skip": "" } }),
      field("from", { label: t("absence_from"), type: "date", required: true }),
      field("to", { label: t("absence_to"), type: "date", required: true }),
      field("deputy_id", { label: t("deputy"), options }),
      field("kind", { label: t("absence_kind"), options: ctx.config.enums.absence_kind.map((k) => [k, codeLabel(k)]), value: "holiday" })),
    h("button", { type: "submit" }, t("add_absence")));
  const absenceList = h("div", { "aria-live": "polite" });
  absence.addEventListener("submit", (event) => {
    event.preventDefault();
    const who = absence.querySelector("[name=case_manager]").value;
    if (!who) { absence.querySelector("[name=case_manager]").focus(); return; }
    run(absence, () => api("POST", `/v1/case-managers/${who}/absences`, { body: readForm(absence) }), () => { announce(t("saved_ok")); showAbsences(); });
  });
  const names = Object.fromEntries(managers.map((m) => [m.id, m.name]));
  const showAbsences = async () => {
    const lists = await Promise.all(managers.map((m) => api("GET", `/v1/case-managers/${m.id}/absences`).then((r) => r.data.items).catch(() => [])));
    const items = lists.flat();
    absenceList.replaceChildren(items.length ? table(t("absences"), [t("case_manager"), t("absence_from"), t("absence_to"), t("absence_kind"), t("deputy")],
      items.map((a) => [names[a.case_manager_id] || a.case_manager_id, fmt(a.from), fmt(a.to), codeLabel(a.kind), fmt(names[a.deputy_id])])) : h("p", {}, `${t("absences")}: ${t("none")}`));
  };

  ctx.show(t("team"),
    h("section", { "aria-labelledby": "caseload-title" }, h("h2", { id: "caseload-title" }, t("caseload")), loadTable,
      load.unassigned != null ? h("p", {}, t("unassigned_count", { n: load.unassigned })) : null),
    h("section", { "aria-labelledby": "profiles-title" }, h("h2", { id: "profiles-title" }, t("profiles")),
      managers.length ? h("ul", { class: "profiles" }, managers.map((m) => h("li", { "data-case-manager": m.id },
        h("strong", {}, `${m.name} (${m.username})`), ` · ${t("capacity")}: ${fmt(m.capacity)} · ${t("languages")}: ${languageNames(m.languages)}`,
        m.active ? "" : ` · ${t("inactive")}`, profileForm(ctx, m, reload)))) : h("p", {}, t("no_case_managers"))),
    h("section", { "aria-labelledby": "queue-title" }, h("h2", { id: "queue-title" }, t("unassigned")), queueTable),
    h("section", { "aria-labelledby": "reassign-title" }, h("h2", { id: "reassign-title" }, t("reassign")), reassign),
    h("section", { "aria-labelledby": "absences-title" }, h("h2", { id: "absences-title" }, t("absences")), absence, absenceList));
  showAbsences();
}
