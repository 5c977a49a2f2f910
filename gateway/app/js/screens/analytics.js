// The analyst's (and district admin's) screen: barrier ranking, referral funnel, workload and outcomes from
// GET /v1/analytics/{barriers,referrals,caseload,outcomes} as bars WITH their values in text. A cell the API
// suppresses (fewer than min_cell cases) is shown as "gesperrt", never dropped or drawn as zero. Filter by
// town and period; the steering report (GET /v1/analytics/report) is fetched with the token and downloaded.
import { api, ApiError } from "../api.js";
import { getToken } from "../auth.js";
import { addTexts, codeLabel, getLang, t } from "../i18n.js";
import { field, h, readForm, run, showProblem, table, townName } from "../ui.js";
import { bar } from "./team.js";

addTexts({
  de: {
    "nav.analytics": "Auswertung", analytics: "Auswertung", suppressed: "gesperrt", suppressed_hint: "„gesperrt“: weniger als {k} Fälle – zum Schutz der Personen nicht ausgewiesen.",
    all_towns: "alle Kommunen", period_from: "von", period_to: "bis", show: "Anzeigen",
    barrier_ranking: "Hürden: Rangfolge (je 100 offene Fälle)", open_count: "Offen", per_100: "je 100 offene Fälle",
    change: "Veränderung zum Vorzeitraum", median_days: "Median Tage ungelöst", funnel: "Vermittlungen: Verlauf",
    stage: "Stufe", count: "Anzahl", workload: "Fallbelastung", utilisation: "Auslastung", outcomes: "Fallabschlüsse nach Ergebnis",
    outcome: "Ergebnis", report: "Bericht für die Steuerungsgruppe", period: "Zeitraum (z. B. 2026-Q4, 2026-11, 2026)",
    download_html: "Bericht herunterladen (HTML)", download_pdf: "Bericht herunterladen (PDF)", no_data: "Keine Daten im Zeitraum.",
    total: "Summe", offer_area: "Angebot / Lebensbereich",
  },
  en: {
    "nav.analytics": "Analytics", analytics: "Analytics", suppressed: "suppressed", suppressed_hint: "“suppressed”: fewer than {k} cases – not shown to protect the persons.",
    all_towns: "all municipalities", period_from: "from", period_to: "to", show: "Show",
    barrier_ranking: "Barriers: ranking (per 100 open cases)", open_count: "Open", per_100: "per 100 open cases",
    change: "Change to previous period", median_days: "Median days unresolved", funnel: "Referrals: funnel",
    stage: "Stage", count: "Count", workload: "Workload", utilisation: "Utilisation", outcomes: "Closed cases by outcome",
    outcome: "Outcome", report: "Steering group report", period: "Period (e.g. 2026-Q4, 2026-11, 2026)",
    download_html: "Download report (HTML)", download_pdf: "Download report (PDF)", no_data: "No data in the period.",
    total: "Total", offer_area: "Offer / life area",
  },
});

/** A published cell {value, suppressed}: its text (suppressed says so). */
function cellText(cell, suffix = "") {
  if (!cell) return t("none");
  if (cell.suppressed) return h("span", { class: "suppressed" }, `▨ ${t("suppressed")}`);
  if (cell.value === null || cell.value === undefined) return t("none");
  return `${cell.value}${suffix}`;
}

function cellBar(cell, max, suffix = "") {
  if (!cell || cell.suppressed || cell.value == null) return cellText(cell);
  return bar(cell.value, max, `${cell.value}${suffix}`);
}

const maxOf = (cells) => Math.max(1, ...cells.filter((c) => c && !c.suppressed && typeof c.value === "number").map((c) => c.value));

function barrierRanking(data) {
  const rows = data.ranking || [];
  if (!rows.length) return h("p", {}, t("no_data"));
  const max = maxOf(rows.map((r) => r.per_100_open_cases));
  return table(t("barrier_ranking"), [t("barrier"), t("open_count"), t("per_100"), t("change"), t("median_days")],
    rows.map((r) => [codeLabel(r.code), cellText(r.open), cellBar(r.per_100_open_cases, max),
      cellText(r.change?.per_100_open_cases), cellText(r.median_days_unresolved)]));
}

function funnel(data) {
  const f = data.funnel;
  if (!f) return h("p", {}, t("no_data"));
  const totals = f.columns.map((c) => f.total?.[c]);
  const max = maxOf(totals);
  const parts = [table(t("funnel"), [t("stage"), t("count")], f.columns.map((c, i) => [codeLabel(c), cellBar(totals[i], max)]))];
  if (f.rows.length) {
    parts.push(table(`${t("funnel")}: ${t("offer_area")}`, [t("offer_area"), ...f.columns.map(codeLabel)],
      f.rows.map((r) => [Array.isArray(r.key) ? r.key.map(codeLabel).join(" / ") : codeLabel(r.key), ...f.columns.map((c) => cellText(r.cells[c]))])));
  }
  return parts;
}

function workload(data) {
  const rows = data.case_managers || [];
  if (!rows.length) return h("p", {}, t("no_data"));
  const max = maxOf(rows.map((r) => r.open_cases));
  return table(t("workload"), [t("case_manager"), t("active_cases"), t("capacity"), t("utilisation")],
    rows.map((r) => [r.username ?? r.case_manager_id ?? "–", cellBar(r.open_cases, max), r.capacity ?? t("none"), cellText(r.utilisation_percent, " %")]));
}

function genericTable(caption, tab, config) {
  if (!tab || !tab.rows.length) return h("p", {}, `${caption}: ${t("no_data")}`);
  const max = maxOf(tab.rows.flatMap((r) => tab.columns.map((c) => r.cells[c])));
  const head = (c) => (/^\d{8}$/.test(c) ? townName(config, c) : codeLabel(c));
  return table(caption, [t("outcome"), ...tab.columns.map(head)],
    tab.rows.map((r) => [codeLabel(Array.isArray(r.key) ? r.key.join(" / ") : r.key), ...tab.columns.map((c) => cellBar(r.cells[c], max))]));
}

async function download(form, format) {
  const query = new URLSearchParams({ format, lang: getLang() });
  for (const [k, v] of Object.entries(readForm(form))) if (k === "municipality" || k === "period") query.set(k, v);
  const response = await fetch(`/v1/analytics/report?${query}`, { headers: { Authorization: `Bearer ${getToken()}` }, credentials: "omit", cache: "no-store" });
  if (!response.ok) { showProblem(form, new ApiError(response.status, await response.json().catch(() => ({})))); return; }
  const url = URL.createObjectURL(await response.blob());
  const a = h("a", { href: url, download: `kim-bericht.${format}` });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function page(ctx) {
  const towns = ctx.config.municipalities.filter((m) => !ctx.user.municipalities || ctx.user.municipalities.includes(m.ags));
  const filter = h("form", { novalidate: true, "aria-label": t("analytics"), class: "analytics-filter" },
    h("div", { class: "grid" },
      field("municipality", { label: t("municipality"), options: towns.map((m) => [m.ags, m.name]) }),
      field("from", { label: t("period_from"), type: "date" }), field("to", { label: t("period_to"), type: "date" })),
    h("button", { type: "submit" }, t("show")));
  const results = h("div", { "aria-live": "polite", class: "analytics-results" });
  const load = () => run(filter, async () => {
    const query = readForm(filter);
    const [barriers, referrals, caseload, outcomes] = await Promise.all(["barriers", "referrals", "caseload", "outcomes"]
      .map((name) => api("GET", `/v1/analytics/${name}`, { query }).then((r) => r.data)));
    return { barriers, referrals, caseload, outcomes };
  }, (r) => {
    const b = r.barriers;
    results.replaceChildren(
      h("p", { class: "hint" }, `${b.from} – ${b.to} · ${query_towns(ctx.config, b.municipalities)} · `, t("suppressed_hint", { k: b.min_cell })),
      h("section", { "aria-labelledby": "ranking-title" }, h("h2", { id: "ranking-title" }, t("barrier_ranking")), barrierRanking(b)),
      h("section", { "aria-labelledby": "funnel-title" }, h("h2", { id: "funnel-title" }, t("funnel")), funnel(r.referrals)),
      h("section", { "aria-labelledby": "workload-title" }, h("h2", { id: "workload-title" }, t("workload")), workload(r.caseload)),
      h("section", { "aria-labelledby": "outcomes-title" }, h("h2", { id: "outcomes-title" }, t("outcomes")),
        genericTable(t("outcomes"), r.outcomes.tables?.closed_by_outcome, ctx.config)));
  });
  filter.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  const report = h("form", { novalidate: true, "aria-label": t("report"), class: "report" },
    h("div", { class: "grid" }, field("municipality", { label: t("municipality"), options: towns.map((m) => [m.ags, m.name]) }),
      field("period", { label: t("period") })),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => download(report, "html") }, t("download_html")),
      h("button", { type: "button", class: "secondary", onclick: () => download(report, "pdf") }, t("download_pdf"))));
  ctx.show(t("analytics"), filter, results,
    h("section", { "aria-labelledby": "report-title" }, h("h2", { id: "report-title" }, t("report")), report));
  load();
}

function query_towns(config, list) {
  return (list || []).map((a) => townName(config, a)).join(", ") || t("all_towns");
}
