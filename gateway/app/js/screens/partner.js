// The partner's (provider's) screens: its referral inbox (GET /v1/partner/referrals) and one referral with the
// contact data the person's consent allows (GET /v1/partner/referrals/{id}); accept, decline with a reason,
// start, complete with an outcome: the steps the API says are allowed.
import { api } from "../api.js";
import { addTexts, codeLabel, languageNames, t } from "../i18n.js";
import { announce, field, fmt, h, notice, readForm, run, table } from "../ui.js";

addTexts({
  de: {
    "nav.inbox": "Eingang", inbox: "Vermittlungen an Ihren Träger", referral: "Vermittlung", sent_at: "gesendet am",
    interpreter: "Dolmetscher", contact_data: "Kontaktdaten (laut Einwilligung)", no_contact_consent: "Keine Einwilligung zur Weitergabe der Kontaktdaten.",
    step_accept: "Annehmen", step_decline: "Ablehnen", step_start: "Begonnen", step_complete: "Abschließen", step_cancel: "Zurückziehen",
    decline_reason: "Ablehnungsgrund", referral_outcome: "Ergebnis", inbox_empty: "Keine Vermittlungen.", steps: "Nächste Schritte",
    status_filter: "Status", referral_updated: "Die Vermittlung ist aktualisiert.",
  },
  en: {
    "nav.inbox": "Inbox", inbox: "Referrals to your organisation", referral: "Referral", sent_at: "sent on",
    interpreter: "Interpreter", contact_data: "Contact data (as the consent allows)", no_contact_consent: "No consent to share the contact data.",
    step_accept: "Accept", step_decline: "Decline", step_start: "Started", step_complete: "Complete", step_cancel: "Withdraw",
    decline_reason: "Reason for declining", referral_outcome: "Outcome", inbox_empty: "No referrals.", steps: "Next steps",
    status_filter: "Status", referral_updated: "The referral is updated.",
  },
});

export async function inbox(ctx) {
  const results = h("div", { "aria-live": "polite" });
  const filter = h("form", { novalidate: true, role: "search", "aria-label": t("inbox") },
    h("div", { class: "grid" }, field("status", { label: t("status_filter"), options: ["sent", "accepted", "declined", "in_progress", "completed", "cancelled", "expired"] })),
    h("button", { type: "submit" }, t("search_button")));
  const load = () => run(filter, () => api("GET", "/v1/partner/referrals", { query: { ...readForm(filter), limit: 100 } }), (r) => {
    const items = r.data.items || [];
    results.replaceChildren(items.length ? table(`${t("inbox")}: ${items.length}`, [t("referral"), t("area"), t("case_status"), t("sent_at"), t("answer_due"), t("languages"), t("interpreter")],
      items.map((x) => [h("a", { href: `#/inbox/${x.id}`, class: "open-referral" }, `${t("open")} ${x.id.slice(0, 8)}`), codeLabel(x.area),
        h("span", { class: "referral-status" }, codeLabel(x.status)), fmt(x.sent_at?.slice(0, 10)), fmt(x.answer_due), languageNames(x.languages), fmt(x.interpreter_needed)]))
      : notice("ok", t("inbox_empty")));
  });
  filter.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  ctx.show(t("inbox"), filter, results);
  load();
}

export async function referral(ctx, id) {
  let r, contactProblem = null;
  try { r = (await api("GET", `/v1/partner/referrals/${id}`)).data; } catch (error) {
    if (error.status !== 409) { ctx.show(t("referral"), notice("error", error.status === 403 ? t("forbidden") : error.message)); return; }
    contactProblem = error;  // no referral_sharing consent: the referral without contact data
    const list = (await api("GET", "/v1/partner/referrals", { query: { limit: 100 } })).data.items || [];
    r = list.find((x) => x.id === id);
    if (!r) { ctx.show(t("referral"), notice("error", error.message)); return; }
  }
  const reload = () => { if (ctx.current()) referral(ctx, id); };
  const facts = h("dl", { class: "record" },
    h("dt", {}, t("case_status")), h("dd", { class: "referral-status" }, codeLabel(r.status)),
    h("dt", {}, t("area")), h("dd", {}, codeLabel(r.area)),
    h("dt", {}, t("sent_at")), h("dd", {}, fmt(r.sent_at?.slice(0, 10))),
    h("dt", {}, t("answer_due")), h("dd", {}, fmt(r.answer_due)),
    h("dt", {}, t("languages")), h("dd", {}, fmt(r.languages)),
    h("dt", {}, t("interpreter")), h("dd", {}, fmt(r.interpreter_needed)),
    h("dt", {}, t("note_for_provider")), h("dd", {}, fmt(r.note)),
    r.decline_reason ? [h("dt", {}, t("decline_reason")), h("dd", {}, codeLabel(r.decline_reason))] : null,
    r.outcome ? [h("dt", {}, t("referral_outcome")), h("dd", {}, codeLabel(r.outcome))] : null);
  const c = r.contact;
  const contact = c ? h("dl", { class: "record contact" },
    h("dt", {}, t("name")), h("dd", {}, `${c.given_name} ${c.family_name}`),
    h("dt", {}, t("phone")), h("dd", {}, fmt(c.phone)), h("dt", {}, t("email")), h("dd", {}, fmt(c.email)),
    h("dt", {}, t("preferred_channel")), h("dd", {}, codeLabel(c.preferred_channel)),
    h("dt", {}, t("languages")), h("dd", {}, languageNames(c.languages)))
    : notice("warn", contactProblem ? contactProblem.message : t("no_contact_consent"));

  const steps = (r.allowed_steps || []).filter((s) => ["accept", "decline", "start", "complete"].includes(s)).map((step) => {
    const extra = step === "decline" ? field("reason", { label: t("decline_reason"), required: true, options: ctx.config.enums.decline_reason.map((x) => [x, codeLabel(x)]) })
      : step === "complete" ? field("outcome", { label: t("referral_outcome"), required: true, options: ctx.config.enums.referral_outcome.map((x) => [x, codeLabel(x)]) }) : null;
    const f = h("form", { novalidate: true, class: `step step-${step}`, "aria-label": t(`step_${step}`) }, extra,
      h("button", { type: "submit", class: step === "decline" ? "secondary" : undefined }, t(`step_${step}`)));
    f.addEventListener("submit", (event) => {
      event.preventDefault();
      run(f, () => api("POST", `/v1/referrals/${id}/${step}`, { body: readForm(f) }), () => { announce(t("referral_updated")); reload(); });
    });
    return f;
  });
  ctx.show(`${t("referral")} ${id.slice(0, 8)}`, facts,
    h("section", { "aria-labelledby": "contact-title" }, h("h2", { id: "contact-title" }, t("contact_data")), contact),
    h("section", { "aria-labelledby": "steps-title" }, h("h2", { id: "steps-title" }, t("steps")),
      steps.length ? h("div", { class: "steps" }, steps) : h("p", {}, t("none"))),
    h("p", {}, h("a", { href: "#/inbox" }, t("inbox"))));
}
