// The case manager's screens: the worklist (GET /v1/worklist) and the case page (status and transitions,
// assessment grid with history, plan, contacts, barriers, offer suggestions and referrals). Everything through
// the public API with the user's token; every state is said in words, never by colour alone.
import { api } from "../api.js";
import { addTexts, codeLabel, languageNames, t } from "../i18n.js";
import { announce, field, fmt, fmt as fmtValue, fmtTime, h, notice, readForm, run, table, townName } from "../ui.js";

addTexts({
  de: {
    "nav.worklist": "Arbeitsliste", worklist: "Arbeitsliste", worklist_date: "Stand {date}",
    towns_today: "Heute zuständig für", no_town_today: "Heute keine Kommune laut Einsatzplan.",
    appointments_today: "Termine heute", my_cases: "Meine Fälle", next_due: "Als Nächstes fällig",
    overdue: "überfällig", overdue_count: "Überfällig", no_contact: "Lange kein Kontakt", last_contact: "Letzter Kontakt",
    due_on: "fällig am", kind: "Art", case_page: "Fall", case_status: "Status", transitions: "Status ändern",
    transition_to: "Neuer Status", reason: "Begründung", change_status: "Status ändern", no_transitions: "Keine Statusänderung möglich.",
    assessment: "Bedarfserhebung (Lebensbereiche)", assessment_history: "Verlauf der Bedarfe", need: "Bedarf",
    priority: "Priorität (1 = am wichtigsten)", strengths: "Stärken und Ressourcen", notes: "Notizen",
    area: "Lebensbereich", record_assessment: "Erhebung speichern", no_assessment: "Noch keine Erhebung.",
    plan: "Hilfeplan", goal: "Ziel", goals: "Ziele", add_goal: "Ziel hinzufügen", description: "Beschreibung",
    target_date: "Zieldatum", agreed_with_person: "Mit der Person vereinbart", actions_of: "Aufgaben",
    add_action: "Aufgabe hinzufügen", assignee: "Zuständig", due: "fällig", no_goals: "Noch keine Ziele.",
    contacts: "Kontakte und Termine", record_contact: "Kontakt erfassen", occurred_at: "Zeitpunkt", channel: "Kontaktweg",
    duration_minutes: "Dauer (Minuten)", summary: "Zusammenfassung", follow_up_on: "Wiedervorlage am",
    contact_status: "Art des Eintrags", no_contacts: "Noch keine Kontakte.",
    barriers: "Hürden", barrier: "Hürde", record_barrier: "Hürde erfassen", noted_at: "festgestellt am",
    resolved_at: "gelöst am", how: "Wie gelöst", resolve: "Als gelöst erfassen", open_state: "offen",
    resolved_state: "gelöst", no_barriers: "Keine Hürden erfasst.",
    suggestions: "Passende Angebote", suggestions_hint: "Nach Eignung sortiert; die Kriterien erklären die Reihenfolge.",
    fit_score: "Eignung", eligible: "geeignet", not_eligible: "nicht geeignet", matched: "erfüllt", not_matched: "nicht erfüllt",
    refer: "Vermitteln (Entwurf anlegen und senden)", note_for_provider: "Hinweis für den Träger (keine Gesundheitsdaten)",
    referrals: "Vermittlungen", offer: "Angebot", provider: "Träger", answer_due: "Antwort fällig",
    no_suggestions: "Keine passenden Angebote.", no_referrals: "Noch keine Vermittlungen.", referral_sent: "Die Vermittlung ist gesendet.",
    person_link: "Personendatensatz", saved_ok: "Gespeichert.", status_changed: "Der Status ist geändert.",
    case_manager: "Fallmanager*in", held: "gehalten", planned: "geplant", cancelled: "abgesagt",
    complete_contact: "Termin abschließen",
    "crit.need": "deckt den offenen Bedarf {area} ({level})", "crit.need_none": "deckt keinen offenen Bedarf des Falls",
    "crit.serves": "bietet in {town} an", "crit.serves_not": "bietet nicht in {town} an",
    "crit.shared": "gemeinsame Sprache: {languages}", "crit.not_shared": "keine gemeinsame Sprache (Angebot: {languages})",
    "crit.interpreter": "; Dolmetschung nötig", "crit.open_to_all": "offen für jeden Aufenthaltsstatus",
    "crit.open_to": "offen für {status}", "crit.not_open_to": "nicht offen für {status} (nur {statuses})",
    "crit.no_age_limit": "keine Altersgrenze", "crit.age_unknown": "Alter unbekannt; das Angebot ist für {range} Jahre",
    "crit.age_within": "Alter {age}: innerhalb {range}", "crit.age_outside": "Alter {age}: außerhalb {range}",
    "crit.no_wait": "keine Wartezeit", "crit.wait": "Wartezeit {days} Tage", "crit.barriers": "bearbeitet offene Hürden: {barriers}",
    "crit.active": "aktiv", "crit.paused": "pausiert: nimmt derzeit keine Vermittlungen an", "crit.any_age": "beliebig",
    "due.action": "Aufgabe", "due.goal": "Ziel", "due.follow_up": "Wiedervorlage", "due.appointment": "Termin",
    edit_goal: "Ziel bearbeiten", edit_action: "Aufgabe bearbeiten", goal_status: "Stand des Ziels", action_status: "Stand der Aufgabe",
    no_changes: "Keine Änderung zum Speichern.", edit_conflict: "Inzwischen von jemand anderem geändert",
    edit_conflict_hint: "Der Eintrag wurde geändert, seit Sie die Seite geöffnet haben. Prüfen Sie die Unterschiede.",
    closure: "Fall abschließen", close_case: "Fall abschließen", outcome: "Ergebnis", evaluation: "Bewertung der Ziele",
    evaluation_hint: "Für jedes offene Ziel: erreicht oder nicht; der genauere Stand ist freiwillig.",
    reached: "Erreicht", status_detail: "Genauer Stand (freiwillig)", evaluation_note: "Auswertung des Falls",
    goal_note: "Anmerkung zum Ziel", case_closed: "Der Fall ist abgeschlossen.", no_open_goals: "Keine offenen Ziele zu bewerten.",
    closed_outcome: "Ergebnis des Abschlusses",
  },
  en: {
    "nav.worklist": "Worklist", worklist: "Worklist", worklist_date: "As of {date}",
    towns_today: "Today serving", no_town_today: "No municipality today by the coverage plan.",
    appointments_today: "Today's appointments", my_cases: "My cases", next_due: "Next due",
    overdue: "overdue", overdue_count: "Overdue", no_contact: "No contact for long", last_contact: "Last contact",
    due_on: "due on", kind: "Kind", case_page: "Case", case_status: "Status", transitions: "Change status",
    transition_to: "New status", reason: "Reason", change_status: "Change status", no_transitions: "No status change possible.",
    assessment: "Assessment (life areas)", assessment_history: "Needs over time", need: "Need",
    priority: "Priority (1 = most important)", strengths: "Strengths and resources", notes: "Notes",
    area: "Life area", record_assessment: "Save assessment", no_assessment: "No assessment yet.",
    plan: "Case plan", goal: "Goal", goals: "Goals", add_goal: "Add goal", description: "Description",
    target_date: "Target date", agreed_with_person: "Agreed with the person", actions_of: "Tasks",
    add_action: "Add task", assignee: "Assignee", due: "due", no_goals: "No goals yet.",
    contacts: "Contacts and appointments", record_contact: "Record contact", occurred_at: "When", channel: "Channel",
    duration_minutes: "Duration (minutes)", summary: "Summary", follow_up_on: "Follow up on",
    contact_status: "Kind of entry", no_contacts: "No contacts yet.",
    barriers: "Barriers", barrier: "Barrier", record_barrier: "Record barrier", noted_at: "noted on",
    resolved_at: "resolved on", how: "How resolved", resolve: "Record as resolved", open_state: "open",
    resolved_state: "resolved", no_barriers: "No barriers recorded.",
    suggestions: "Suitable offers", suggestions_hint: "Ranked by fit; the criteria explain the order.",
    fit_score: "Fit", eligible: "eligible", not_eligible: "not eligible", matched: "met", not_matched: "not met",
    refer: "Refer (create draft and send)", note_for_provider: "Note for the provider (no health details)",
    referrals: "Referrals", offer: "Offer", provider: "Provider", answer_due: "Answer due",
    no_suggestions: "No suitable offers.", no_referrals: "No referrals yet.", referral_sent: "The referral is sent.",
    person_link: "Person record", saved_ok: "Saved.", status_changed: "The status is changed.",
    case_manager: "Case manager", held: "held", planned: "planned", cancelled: "cancelled",
    complete_contact: "Complete appointment",
    "crit.need": "addresses the open need {area} ({level})", "crit.need_none": "addresses none of the case's open needs",
    "crit.serves": "serves {town}", "crit.serves_not": "does not serve {town}",
    "crit.shared": "shared language: {languages}", "crit.not_shared": "no shared language (offer: {languages})",
    "crit.interpreter": "; interpreter needed", "crit.open_to_all": "open to every residence status",
    "crit.open_to": "open to {status}", "crit.not_open_to": "not open to {status} (only {statuses})",
    "crit.no_age_limit": "no age limit", "crit.age_unknown": "age unknown; the offer is for ages {range}",
    "crit.age_within": "age {age}: within {range}", "crit.age_outside": "age {age}: outside {range}",
    "crit.no_wait": "no waiting time", "crit.wait": "waiting time {days} days", "crit.barriers": "addresses open barriers: {barriers}",
    "crit.active": "active", "crit.paused": "paused: takes no referrals now", "crit.any_age": "any",
    "due.action": "Task", "due.goal": "Goal", "due.follow_up": "Follow-up", "due.appointment": "Appointment",
    edit_goal: "Edit goal", edit_action: "Edit task", goal_status: "Goal status", action_status: "Task status",
    no_changes: "Nothing changed to save.", edit_conflict: "Changed by someone else meanwhile",
    edit_conflict_hint: "The entry changed since you opened the page. Check the differences.",
    closure: "Close the case", close_case: "Close the case", outcome: "Outcome", evaluation: "Evaluation of the goals",
    evaluation_hint: "For every open goal: reached or not; the finer status is optional.",
    reached: "Reached", status_detail: "Finer status (optional)", evaluation_note: "Evaluation of the case",
    goal_note: "Note on the goal", case_closed: "The case is closed.", no_open_goals: "No open goals to evaluate.",
    closed_outcome: "Outcome of the closing",
  },
});

const today = () => new Date().toISOString().slice(0, 10);

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** An edit form for one record, in a <details> (opened by keyboard like any button). Only changed fields are
 *  sent, with If-Match: the record's version. A 412 (someone changed it meanwhile) shows what changed (read /
 *  stored now / yours) with "apply mine to the new version" or "discard". `toBody(form)` reads the fields. */
export function editForm({ label, summary, controls, extra = [], record, names, path, reread, toBody, onSaved, cls = "", formats = {} }) {
  let current = record;
  const conflictBox = h("div");
  const fmt = (n, v) => (formats[n] ? formats[n](v) : fmtValue(v));
  const f = h("form", { novalidate: true, "aria-label": label, class: `edit-form ${cls}` },
    h("div", { class: "grid" }, ...controls), ...extra, h("button", { type: "submit" }, t("save")));
  const save = (body) => run(f, () => api("PATCH", path, { body, ifMatch: `"${current.version}"` }), (r) => {
    conflictBox.replaceChildren(); announce(t("saved_ok")); onSaved(r.data);
  }, { onConflict: async () => {
    const now = await reread();
    const rows = names.filter((n) => !same(current[n], now[n]) || n in body)
      .map((n) => [t(n), fmt(n, current[n]), fmt(n, now[n]), n in body ? fmt(n, body[n]) : t("none")]);
    const box = h("div", { class: "notice warn conflict", role: "alert", tabindex: "-1" },
      h("p", {}, h("strong", {}, t("edit_conflict"))), h("p", {}, t("edit_conflict_hint")),
      table(t("edit_conflict"), [t("field"), t("you_read"), t("now_value"), t("your_value")], rows),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "apply-mine", onclick: () => { current = now; save(body); } }, t("apply_mine")),
        h("button", { type: "button", class: "secondary", onclick: () => onSaved(now) }, t("discard_mine"))));
    conflictBox.replaceChildren(box);
    box.focus();
  } });
  f.addEventListener("submit", (event) => {
    event.preventDefault();
    const all = toBody(f);
    const body = Object.fromEntries(Object.entries(all).filter(([k, v]) => !same(v, current[k])));
    if (!Object.keys(body).length) { f.querySelector(".no-changes")?.remove(); f.prepend(h("p", { class: "notice warn no-changes", role: "status" }, t("no_changes"))); return; }
    save(body);
  });
  return h("details", { class: `edit ${cls}` }, h("summary", {}, summary), conflictBox, f);
}

/** Emptied fields are sent, not left out: a date as null (cleared), a text as "" (the API says if it may be). */
export function cleared(form, body, { nulls = [], texts = [] }) {
  for (const n of nulls) if (form.querySelector(`[name=${n}]`) && !(n in body)) body[n] = null;
  for (const n of texts) if (form.querySelector(`[name=${n}]`) && !(n in body)) body[n] = "";
  return body;
}

/** "überfällig" in words and a marker (not colour alone). */
export function overdueMark(flag) {
  return flag ? h("strong", { class: "badge overdue" }, `⚠ ${t("overdue")}`) : null;
}

async function personNames(ids) {
  const names = {};
  await Promise.all([...new Set(ids)].slice(0, 50).map(async (id) => {
    try {
      const p = (await api("GET", `/v1/persons/${id}`)).data;
      names[id] = `${p.family_name}, ${p.given_name}`;
    } catch { names[id] = id.slice(0, 8); }
  }));
  return names;
}

// the worklist ------------------------------------------------------------------------------------------------

export async function worklist(ctx) {
  let data;
  try { data = (await api("GET", "/v1/worklist")).data; } catch (error) { ctx.show(t("worklist"), notice("error", error.message)); return; }
  const names = await personNames(data.cases.map((c) => c.person_id));
  const towns = data.municipalities_today.length
    ? h("p", {}, h("strong", {}, `${t("towns_today")}: `), data.municipalities_today.map((a) => townName(ctx.config, a)).join(", "))
    : notice("warn", t("no_town_today"));
  const appointments = data.appointments.length
    ? table(t("appointments_today"), [t("occurred_at"), t("channel"), t("person"), ""],
      data.appointments.map((a) => [fmtTime(a.occurred_at), codeLabel(a.channel), names[a.person_id] || a.person_id.slice(0, 8),
        h("a", { href: `#/case/${a.case_id}` }, t("open"))]))
    : h("p", {}, `${t("appointments_today")}: ${t("none")}`);
  const cases = data.cases.length
    ? table(`${t("my_cases")}: ${data.cases.length}`, [t("person"), t("municipality"), t("case_status"), t("next_due"), t("overdue_count"), t("last_contact"), ""],
      data.cases.map((c) => [names[c.person_id], townName(ctx.config, c.municipality), codeLabel(c.status),
        c.next_due ? h("span", {}, `${t(`due.${c.next_due.kind}`)} ${t("due_on")} ${fmt(c.next_due.due_on)} `, overdueMark(c.next_due.overdue)) : t("none"),
        c.overdue ? h("strong", {}, `⚠ ${c.overdue}`) : "0",
        h("span", {}, fmt(c.last_contact_at?.slice(0, 10)), c.no_contact_flag ? h("strong", { class: "badge" }, ` ⚠ ${t("no_contact")}`) : null),
        h("a", { href: `#/case/${c.case_id}`, class: "open-case" }, t("open"), h("span", { class: "visually-hidden" }, ` ${names[c.person_id]}`))]))
    : notice("ok", t("no_results"));
  ctx.show(t("worklist"), h("p", { class: "hint" }, t("worklist_date", { date: fmt(data.date) })), towns,
    h("h2", {}, t("appointments_today")), appointments, h("h2", {}, t("my_cases")), cases);
}

/** An API timestamp as a datetime-local input's value (the browser's time zone, to the minute). */
function localTime(value) {
  const d = new Date(value);
  return new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

// the case page -----------------------------------------------------------------------------------------------

function section(id, title, ...content) {
  return h("section", { "aria-labelledby": id, class: "case-section" }, h("h2", { id }, title), ...content);
}

function form(label, ...children) {
  return h("form", { novalidate: true, "aria-label": label }, ...children);
}

export async function casePage(ctx, id) {
  const reload = () => { if (ctx.current()) casePage(ctx, id); };
  let c;
  try { c = (await api("GET", `/v1/cases/${id}`)).data; } catch (error) { ctx.show(t("case_page"), notice("error", error.message)); return; }
  const get = (path, query) => api("GET", path, { query }).then((r) => r.data).catch((error) => ({ error }));
  const [person, progress, plan, contacts, barriers, codes, suggestions, referrals] = await Promise.all([
    get(`/v1/persons/${c.person_id}`), get(`/v1/cases/${id}/assessments/progress`), get(`/v1/cases/${id}/plan`),
    get(`/v1/cases/${id}/contacts`, { limit: 50 }), get(`/v1/cases/${id}/barriers`), get("/v1/barrier-codes"),
    get(`/v1/cases/${id}/offer-suggestions`, { limit: 10 }), get("/v1/referrals", { case_id: id, limit: 50 })]);
  const name = person.error ? id.slice(0, 8) : `${person.given_name} ${person.family_name}`;
  const closed = c.status === "closed";

  ctx.show(`${t("case_page")}: ${name}`,
    statusSection(ctx, c, reload),
    assessmentSection(ctx, c, progress, reload),
    planSection(ctx, c, plan, reload),
    contactsSection(ctx, c, contacts, reload),
    barriersSection(ctx, c, barriers, codes, reload),
    referralSection(ctx, c, suggestions, referrals, closed, reload),
    closed ? null : closureSection(ctx, c, plan, reload));
}

/** Closing: the outcome, each open goal evaluated (reached yes/no, optionally finer), an evaluation note. The
 *  API's errors name fields like evaluation.0.reached: the controls carry those names, so they land there. */
function closureSection(ctx, c, plan, reload) {
  const goals = (plan.goals || []).filter((g) => g.status === "open");
  const outcomes = ctx.config.enums.outcome.filter((o) => o !== "consent_withdrawn"); // only by a withdrawal
  const finer = ctx.config.enums.goal_status.filter((s) => s !== "open");
  const evaluation = goals.length ? h("fieldset", { class: "evaluation" }, h("legend", {}, t("evaluation")),
    h("p", { class: "hint" }, t("evaluation_hint")),
    goals.map((g, i) => h("fieldset", { class: "goal-evaluation", "data-goal": g.id }, h("legend", {}, `${t("goal")}: ${g.description}`),
      h("div", { class: "grid" },
        field(`evaluation.${i}.reached`, { label: t("reached"), required: true, options: [["true", t("yes")], ["false", t("no")]] }),
        field(`evaluation.${i}.status`, { label: t("status_detail"), options: finer.map((x) => [x, codeLabel(x)]) }),
        field(`evaluation.${i}.note`, { label: t("goal_note") })))))
    : h("p", {}, t("no_open_goals"));
  const f = form(t("close_case"),
    field("outcome", { label: t("outcome"), required: true, options: outcomes.map((o) => [o, codeLabel(o)]) }),
    evaluation,
    field("note", { label: t("evaluation_note"), type: "textarea" }),
    h("button", { type: "submit" }, t("close_case")));
  f.classList.add("closure");
  f.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = (name) => f.querySelector(`[name="${name}"]`).value.trim();
    const body = { evaluation: goals.map((g, i) => {
      const item = { goal_id: g.id };
      if (value(`evaluation.${i}.reached`)) item.reached = value(`evaluation.${i}.reached`) === "true"; // else the API names it
      if (value(`evaluation.${i}.status`)) item.status = value(`evaluation.${i}.status`);
      if (value(`evaluation.${i}.note`)) item.note = value(`evaluation.${i}.note`);
      return item;
    }) };
    if (value("outcome")) body.outcome = value("outcome");
    if (value("note")) body.note = value("note");
    run(f, () => api("POST", `/v1/cases/${c.id}/closure`, { body }), () => { announce(t("case_closed")); reload(); });
  });
  return section("closure-title", t("closure"), f);
}

function problemNotice(result) {
  return result?.error ? notice("error", result.error.status === 403 ? t("forbidden") : result.error.message) : null;
}

function statusSection(ctx, c, reload) {
  const facts = h("dl", { class: "record" },
    h("dt", {}, t("case_status")), h("dd", { class: "case-status" }, codeLabel(c.status)),
    h("dt", {}, t("municipality")), h("dd", {}, townName(ctx.config, c.municipality)),
    h("dt", {}, t("case_manager")), h("dd", {}, fmt(c.assigned_to)),
    h("dt", {}, t("opened_at")), h("dd", {}, fmtTime(c.opened_at)),
    c.outcome ? [h("dt", {}, t("closed_outcome")), h("dd", { class: "case-outcome" }, codeLabel(c.outcome))] : null,
    c.evaluation ? [h("dt", {}, t("evaluation_note")), h("dd", {}, c.evaluation)] : null,
    h("dt", {}, t("person_link")), h("dd", {}, h("a", { href: `#/person/${c.person_id}` }, t("open"))));
  let change = h("p", {}, t("no_transitions"));
  if (c.allowed_transitions?.length) {
    change = form(t("transitions"),
      h("div", { class: "grid" },
        field("to", { label: t("transition_to"), required: true, options: c.allowed_transitions.map((s) => [s, codeLabel(s)]) }),
        field("reason", { label: t("reason"), type: "textarea" })),
      h("button", { type: "submit" }, t("change_status")));
    change.addEventListener("submit", (event) => {
      event.preventDefault();
      run(change, () => api("POST", `/v1/cases/${c.id}/transitions`, { body: readForm(change) }), () => { announce(t("status_changed")); reload(); });
    });
  }
  return section("status-title", t("case_status"), facts, h("h3", {}, t("transitions")), change);
}

function assessmentSection(ctx, c, progress, reload) {
  const areas = ctx.config.enums.life_area;
  const parts = [];
  if (progress.error) parts.push(problemNotice(progress));
  const history = progress.areas || [];
  const columns = history[0]?.levels || [];
  if (columns.length) {
    parts.push(table(t("assessment_history"), [t("area"), ...columns.map((l, i) => `${i + 1}. ${fmt(l.assessed_at?.slice(0, 10))} (${codeLabel(l.phase)})`)],
      history.map((a) => [codeLabel(a.area), ...columns.map((_, i) => needLabel(a.levels[i]?.need))])));
  } else {
    parts.push(h("p", {}, t("no_assessment")));
  }
  const latest = Object.fromEntries(history.map((a) => [a.area, a.levels[a.levels.length - 1]?.need]));
  const grid = form(t("record_assessment"),
    h("table", { class: "assessment-grid" }, h("caption", {}, t("assessment")),
      h("thead", {}, h("tr", {}, [t("area"), t("need"), t("priority"), t("notes")].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, areas.map((area, i) => h("tr", { "data-area": area },
        h("th", { scope: "row" }, codeLabel(area)),
        h("td", {}, field(`areas.${i}.need`, { label: `${t("need")}: ${codeLabel(area)}`, options: ctx.config.enums.need.map((n) => [n, codeLabel(n)]), value: latest[area] ?? "none", required: true })),
        h("td", {}, field(`areas.${i}.priority`, { label: `${t("priority")}: ${codeLabel(area)}`, type: "number", attrs: { min: 1, max: areas.length } })),
        h("td", {}, field(`areas.${i}.notes`, { label: `${t("notes")}: ${codeLabel(area)}` })))))),
    h("button", { type: "submit" }, t("record_assessment")));
  grid.querySelectorAll(".field label").forEach((label) => label.classList.add("visually-hidden"));
  grid.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { areas: areas.map((area, i) => {
      const value = (n) => grid.querySelector(`[name="areas.${i}.${n}"]`).value.trim();
      const row = { area, need: value("need") };
      if (value("priority")) row.priority = Number.parseInt(value("priority"), 10);
      if (value("notes")) row.notes = value("notes");
      return row;
    }) };
    run(grid, () => api("POST", `/v1/cases/${c.id}/assessments`, { body }), () => { announce(t("saved_ok")); reload(); });
  });
  return section("assessment-title", t("assessment"), ...parts, c.status === "intake" || c.status === "closed" ? null : grid);
}

function needLabel(need) {
  if (!need) return t("none");
  const marks = { none: "○", low: "◔", medium: "◑", high: "◕", urgent: "●" };
  return h("span", { class: `need need-${need}` }, h("span", { "aria-hidden": "true" }, `${marks[need] || ""} `), codeLabel(need));
}

function planSection(ctx, c, plan, reload) {
  const parts = [];
  if (plan.error) return section("plan-title", t("plan"), problemNotice(plan));
  if (!plan.goals?.length) parts.push(h("p", {}, t("no_goals")));
  for (const goal of plan.goals || []) {
    const actions = goal.actions || [];
    const addAction = form(`${t("add_action")}: ${goal.description}`,
      h("div", { class: "grid" },
        field("assignee", { label: t("assignee"), required: true, options: ctx.config.enums.action_assignee.map((a) => [a, codeLabel(a)]), value: "case_manager" }),
        field("description", { label: t("description"), required: true }),
        field("due_on", { label: t("due_on"), type: "date" })),
      h("button", { type: "submit", class: "secondary" }, t("add_action")));
    addAction.addEventListener("submit", (event) => {
      event.preventDefault();
      run(addAction, () => api("POST", `/v1/cases/${c.id}/goals/${goal.id}/actions`, { body: readForm(addAction) }), () => { announce(t("saved_ok")); reload(); });
    });
    const open = c.status !== "closed";
    const reread = async () => (await api("GET", `/v1/cases/${c.id}/plan`)).data.goals.find((g) => g.id === goal.id);
    const editGoal = open ? editForm({
      label: `${t("edit_goal")}: ${goal.description}`, summary: t("edit_goal"), cls: "edit-goal", record: goal,
      names: ["description", "target_date", "status", "agreed_with_person"], path: `/v1/cases/${c.id}/goals/${goal.id}`,
      controls: [field("description", { label: t("description"), required: true, value: goal.description }),
        field("target_date", { label: t("target_date"), type: "date", value: goal.target_date }),
        field("status", { label: t("goal_status"), required: true, options: ctx.config.enums.goal_status.map((x) => [x, codeLabel(x)]), value: goal.status }),
        field("agreed_with_person", { label: t("agreed_with_person"), type: "checkbox", value: goal.agreed_with_person })],
      toBody: (f) => cleared(f, readForm(f), { nulls: ["target_date"], texts: ["description"] }), reread, onSaved: reload }) : null;
    const editAction = (a) => editForm({
      label: `${t("edit_action")}: ${a.description}`, summary: h("span", {}, t("edit_action"), h("span", { class: "visually-hidden" }, `: ${a.description}`)),
      cls: "edit-action", record: a, names: ["description", "assignee", "due_on", "status"], path: `/v1/cases/${c.id}/actions/${a.id}`,
      controls: [field("description", { label: t("description"), required: true, value: a.description }),
        field("assignee", { label: t("assignee"), required: true, options: ctx.config.enums.action_assignee.map((x) => [x, codeLabel(x)]), value: a.assignee }),
        field("due_on", { label: t("due_on"), type: "date", value: a.due_on }),
        field("status", { label: t("action_status"), required: true, options: ctx.config.enums.action_status.map((x) => [x, codeLabel(x)]), value: a.status })],
      toBody: (f) => cleared(f, readForm(f), { nulls: ["due_on"], texts: ["description"] }),
      reread: async () => (await reread()).actions.find((x) => x.id === a.id), onSaved: reload });
    parts.push(h("article", { class: "card goal", "data-goal": goal.id },
      h("h3", {}, `${t("goal")}: ${goal.description}`),
      h("p", {}, `${codeLabel(goal.area)} · ${codeLabel(goal.status)} · ${t("target_date")}: ${fmt(goal.target_date)} `, overdueMark(goal.overdue),
        goal.agreed_with_person ? ` · ${t("agreed_with_person")}` : ""),
      editGoal,
      actions.length ? table(t("actions_of"), [t("description"), t("assignee"), t("due_on"), t("case_status"), ""],
        actions.map((a) => [a.kind === "referral" ? `${t("referrals")}: ${fmt(a.description)}` : fmt(a.description), codeLabel(a.assignee),
          h("span", {}, fmt(a.due_on), " ", overdueMark(a.overdue)), codeLabel(a.status),
          open && a.kind !== "referral" ? editAction(a) : ""])) : null,
      goal.status === "open" && open ? addAction : null));
  }
  const addGoal = form(t("add_goal"),
    h("div", { class: "grid" },
      field("area", { label: t("area"), required: true, options: ctx.config.enums.life_area.map((a) => [a, codeLabel(a)]) }),
      field("description", { label: t("description"), required: true }),
      field("target_date", { label: t("target_date"), type: "date" }),
      field("agreed_with_person", { label: t("agreed_with_person"), type: "checkbox" })),
    h("button", { type: "submit" }, t("add_goal")));
  addGoal.addEventListener("submit", (event) => {
    event.preventDefault();
    run(addGoal, () => api("POST", `/v1/cases/${c.id}/goals`, { body: readForm(addGoal) }), () => { announce(t("saved_ok")); reload(); });
  });
  return section("plan-title", t("plan"), ...parts, c.status === "closed" ? null : h("h3", {}, t("add_goal")), c.status === "closed" ? null : addGoal);
}

function contactsSection(ctx, c, contacts, reload) {
  if (contacts.error) return section("contacts-title", t("contacts"), problemNotice(contacts));
  const items = contacts.items || [];
  const open = c.status !== "closed";
  // a planned appointment is completed once: held (when, how long, what came of it) or cancelled
  const complete = (x) => editForm({
    label: `${t("complete_contact")}: ${fmtTime(x.occurred_at)}`,
    summary: h("span", {}, t("complete_contact"), h("span", { class: "visually-hidden" }, `: ${fmtTime(x.occurred_at)}`)),
    cls: "edit-contact", record: x, names: ["status", "occurred_at", "duration_minutes", "follow_up_on", "summary"],
    path: `/v1/cases/${c.id}/contacts/${x.id}`,
    controls: [field("status", { label: t("contact_status"), required: true, options: [["held", t("held")], ["cancelled", t("cancelled")]], value: "held" }),
      field("occurred_at", { label: t("occurred_at"), type: "datetime-local", required: true, value: localTime(x.occurred_at) }),
      field("duration_minutes", { label: t("duration_minutes"), type: "number", attrs: { "data-type": "int", min: 0 } }),
      field("follow_up_on", { label: t("follow_up_on"), type: "date" }),
      field("summary", { label: t("summary"), type: "textarea" })],
    toBody: (f) => {
      const body = readForm(f);
      if (body.occurred_at) body.occurred_at = new Date(body.occurred_at).toISOString();
      return body;
    },
    formats: { occurred_at: fmtTime },
    reread: async () => (await api("GET", `/v1/cases/${c.id}/contacts`, { query: { limit: 50 } })).data.items.find((y) => y.id === x.id),
    onSaved: reload });
  const list = items.length ? table(t("contacts"), [t("occurred_at"), t("contact_status"), t("channel"), t("duration_minutes"), t("follow_up_on"), ""],
    items.map((x) => [fmtTime(x.occurred_at), t(x.status) || codeLabel(x.status), codeLabel(x.channel), fmt(x.duration_minutes), fmt(x.follow_up_on),
      open && x.status === "planned" ? complete(x) : ""]))
    : h("p", {}, t("no_contacts"));
  const add = form(t("record_contact"),
    h("div", { class: "grid" },
      field("status", { label: t("contact_status"), required: true, options: [["held", t("held")], ["planned", t("planned")]], value: "held" }),
      field("occurred_at", { label: t("occurred_at"), type: "datetime-local", required: true }),
      field("channel", { label: t("channel"), required: true, options: ctx.config.enums.contact_channel.map((x) => [x, codeLabel(x)]) }),
      field("duration_minutes", { label: t("duration_minutes"), type: "number", attrs: { "data-type": "int", min: 0 } }),
      field("follow_up_on", { label: t("follow_up_on"), type: "date" }),
      field("summary", { label: t("summary"), type: "textarea" })),
    h("button", { type: "submit" }, t("record_contact")));
  add.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = readForm(add);
    if (body.occurred_at) body.occurred_at = new Date(body.occurred_at).toISOString();
    run(add, () => api("POST", `/v1/cases/${c.id}/contacts`, { body }), () => { announce(t("saved_ok")); reload(); });
  });
  return section("contacts-title", t("contacts"), list, open ? add : null);
}

function barriersSection(ctx, c, barriers, codes, reload) {
  if (barriers.error) return section("barriers-title", t("barriers"), problemNotice(barriers));
  const items = barriers.items || [];
  const rows = items.map((b) => {
    let resolve = null;
    if (!b.resolved_at && c.status !== "closed") {
      resolve = form(`${t("resolve")}: ${codeLabel(b.code)}`,
        field("resolved_at", { label: t("resolved_at"), type: "date", value: today() }),
        field("how", { label: t("how") }),
        h("button", { type: "submit", class: "secondary" }, t("resolve")));
      resolve.classList.add("inline-form");
      resolve.addEventListener("submit", (event) => {
        event.preventDefault();
        run(resolve, () => api("POST", `/v1/cases/${c.id}/barriers/${b.id}/resolution`, { body: readForm(resolve) }), () => { announce(t("saved_ok")); reload(); });
      });
    }
    return [codeLabel(b.code), codeLabel(b.area), fmt(b.noted_at),
      b.resolved_at ? `✓ ${t("resolved_state")} ${fmt(b.resolved_at)}${b.how ? `: ${b.how}` : ""}` : `● ${t("open_state")}`, resolve || ""];
  });
  const list = items.length ? table(t("barriers"), [t("barrier"), t("area"), t("noted_at"), t("case_status"), ""], rows) : h("p", {}, t("no_barriers"));
  const add = form(t("record_barrier"),
    h("div", { class: "grid" },
      field("code", { label: t("barrier"), required: true, options: (codes.codes || []).map((x) => [x.code, `${codeLabel(x.code)} (${codeLabel(x.area)})`]) }),
      field("noted_at", { label: t("noted_at"), type: "date", value: today() })),
    h("button", { type: "submit" }, t("record_barrier")));
  add.addEventListener("submit", (event) => {
    event.preventDefault();
    run(add, () => api("POST", `/v1/cases/${c.id}/barriers`, { body: readForm(add) }), () => { announce(t("saved_ok")); reload(); });
  });
  return section("barriers-title", t("barriers"), list, c.status === "closed" ? null : add);
}

/** A suggestion's criterion in the user's language, from the `values` it names (the API's English `detail` where
 * a criterion brings none). */
function criterionText(ctx, x) {
  const v = x.values;
  if (!v || !Object.keys(v).length && x.criterion !== "need") return x.detail;
  const range = () => `${v.min_age ?? 0}–${v.max_age ?? t("crit.any_age")}`;
  switch (x.criterion) {
    case "need": return v.area ? t("crit.need", { area: codeLabel(v.area), level: codeLabel(v.level) }) : t("crit.need_none");
    case "municipality": return t(x.matched ? "crit.serves" : "crit.serves_not", { town: townName(ctx.config, v.municipality) });
    case "language": return v.shared ? t("crit.shared", { languages: languageNames(v.shared) })
      : t("crit.not_shared", { languages: languageNames(v.offer_languages) }) + (v.interpreter_needed ? t("crit.interpreter") : "");
    case "residence_status": return !(v.open_to || []).length ? t("crit.open_to_all")
      : t(x.matched ? "crit.open_to" : "crit.not_open_to", { status: codeLabel(v.residence_status), statuses: v.open_to.map(codeLabel).join(", ") });
    case "age": return v.min_age == null && v.max_age == null ? t("crit.no_age_limit") : v.age == null ? t("crit.age_unknown", { range: range() })
      : t(x.matched ? "crit.age_within" : "crit.age_outside", { age: v.age, range: range() });
    case "waiting_time": return v.days ? t("crit.wait", { days: v.days }) : t("crit.no_wait");
    case "barrier": return t("crit.barriers", { barriers: (v.codes || []).map(codeLabel).join(", ") });
    case "status": return t(v.status === "active" ? "crit.active" : "crit.paused");
    default: return x.detail;
  }
}

function referralSection(ctx, c, suggestions, referrals, closed, reload) {
  const parts = [h("h3", {}, t("suggestions")), h("p", { class: "hint" }, t("suggestions_hint"))];
  if (suggestions.error) parts.push(problemNotice(suggestions));
  const items = suggestions.items || [];
  if (!suggestions.error && !items.length) parts.push(h("p", {}, t("no_suggestions")));
  for (const s of items) {
    const send = form(`${t("refer")}: ${s.offer.name} (${s.offer.provider_id})`,
      field("note", { label: t("note_for_provider"), type: "textarea" }),
      h("button", { type: "submit", class: "refer" }, t("refer")));
    send.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { case_id: c.id, offer_id: s.offer.id, area: s.area, ...readForm(send) };
      run(send, async () => {
        const draft = await api("POST", "/v1/referrals", { body });
        return api("POST", `/v1/referrals/${draft.data.id}/send`, { body: {} });
      }, () => { announce(t("referral_sent")); reload(); });
    });
    parts.push(h("article", { class: "card suggestion", "data-offer": s.offer.id },
      h("h4", {}, s.offer.name),
      h("p", {}, `${t("provider")}: ${s.offer.provider_id} · ${t("area")}: ${codeLabel(s.area)} (${t("need")}: ${codeLabel(s.need_level)}) · ${t("fit_score")}: ${Math.round((s.score || 0) * 100) / 100} · `,
        h("strong", {}, s.eligible ? `✓ ${t("eligible")}` : `✗ ${t("not_eligible")}`)),
      h("ul", { class: "criteria" }, (s.criteria || []).map((x) => h("li", {},
        h("strong", {}, x.matched ? `✓ ${t("matched")}` : `✗ ${t("not_matched")}`), ` – ${codeLabel(x.criterion)}: ${criterionText(ctx, x)}`))),
      !closed && s.eligible ? send : null));
  }
  parts.push(h("h3", {}, t("referrals")));
  if (referrals.error) parts.push(problemNotice(referrals));
  else if (!(referrals.items || []).length) parts.push(h("p", {}, t("no_referrals")));
  else {
    const offerNames = Object.fromEntries(items.map((s) => [s.offer.id, s.offer.name]));
    parts.push(table(t("referrals"), [t("offer"), t("provider"), t("area"), t("case_status"), t("answer_due")],
      referrals.items.map((r) => [offerNames[r.offer_id] || r.offer_id.slice(0, 8), r.provider_id, codeLabel(r.area),
        h("span", { class: "referral-status" }, codeLabel(r.status)), fmt(r.answer_due)])));
  }
  return section("referrals-title", t("referrals"), ...parts);
}
