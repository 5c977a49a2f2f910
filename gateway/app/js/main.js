// The app shell: configuration, sign-in, navigation per role, and the hash router (#/register, #/person/<id>).
import { claims, devSignIn, finishOidc, signOut, startOidc } from "./auth.js";
import { h, field, notice, showProblem } from "./ui.js";
import { ApiError } from "./api.js";
import { addCodeLabels, getLang, roleLabel, setLang, t, translatePage } from "./i18n.js";
import * as intake from "./screens/intake.js";
import * as person from "./screens/person.js";
import * as privacy from "./screens/privacy.js";
import * as cases from "./screens/cases.js";
import * as casework from "./screens/casework.js";
import * as team from "./screens/team.js";
import * as partner from "./screens/partner.js";
import * as analytics from "./screens/analytics.js";

export let config = null;
const main = document.getElementById("main");

/** The screens each role has, in the navigation's order: [route, i18n key, roles]. */
const NAV = [
  ["#/worklist", "nav.worklist", ["case_manager"]],
  ["#/team", "nav.team", ["team_lead", "district_admin"]],
  ["#/inbox", "nav.inbox", ["partner"]],
  ["#/analytics", "nav.analytics", ["analyst", "district_admin", "team_lead"]],
  ["#/register", "nav.register", ["intake_officer", "team_lead", "district_admin"]],
  ["#/search", "nav.search", ["intake_officer", "case_manager", "team_lead"]],
  ["#/cases", "nav.cases", ["case_manager", "team_lead", "district_admin", "intake_officer"]],
  ["#/audit", "nav.audit", ["data_protection_officer", "district_admin"]],
  ["#/privacy", "nav.privacy", ["data_protection_officer", "district_admin", "team_lead"]],
];

const ROUTES = [
  [/^#\/register$/, (ctx) => intake.register(ctx)],
  [/^#\/search$/, (ctx) => intake.search(ctx)],
  [/^#\/person\/([0-9a-f-]{36})$/, (ctx, id) => person.page(ctx, id)],
  [/^#\/household\/([0-9a-f-]{36})$/, (ctx, id) => person.household(ctx, id)],
  [/^#\/cases$/, (ctx) => cases.list(ctx)],
  [/^#\/worklist$/, (ctx) => casework.worklist(ctx)],
  [/^#\/case\/([0-9a-f-]{36})$/, (ctx, id) => casework.casePage(ctx, id)],
  [/^#\/team$/, (ctx) => team.page(ctx)],
  [/^#\/inbox$/, (ctx) => partner.inbox(ctx)],
  [/^#\/inbox\/([0-9a-f-]{36})$/, (ctx, id) => partner.referral(ctx, id)],
  [/^#\/analytics$/, (ctx) => analytics.page(ctx)],
  [/^#\/audit$/, (ctx) => privacy.audit(ctx)],
  [/^#\/privacy$/, (ctx) => privacy.page(ctx)],
  [/^#\/privacy\/([0-9a-f-]{36})$/, (ctx, id) => privacy.page(ctx, id)],
];

function navFor(role) { return NAV.filter(([, , roles]) => roles.includes(role)); }

function renderNav(user) {
  const nav = document.getElementById("nav");
  nav.replaceChildren();
  if (!user) return;
  nav.append(h("ul", {}, navFor(user.role).map(([href, key]) =>
    h("li", {}, h("a", { href, "aria-current": location.hash.startsWith(href) ? "page" : undefined }, t(key))))));
}

function renderHeader(user) {
  translatePage();
  document.getElementById("who").textContent = user ? t("signed_in_as", { sub: user.sub, role: roleLabel(user.role) }) : "";
  document.getElementById("signout").hidden = !user;
  renderNav(user);
}

/** Puts a screen into <main>: its h1 becomes the page title, focus moves to main (screen readers hear it). */
let rendered = false;
export function show(title, ...content) {
  document.title = `${title} – KIM`;
  main.replaceChildren(h("h1", {}, title), ...content);
  if (rendered) main.focus(); // not on the first load: the first Tab then reaches the skip link
  rendered = true;
}

function signInScreen(message) {
  const parts = [];
  if (message) parts.push(notice("warn", message));
  if (config.oidc) {
    parts.push(h("p", {}, h("button", { type: "button", id: "oidc-signin", onclick: () => startOidc(config.oidc).catch((e) =>
      main.prepend(notice("error", `${t("signin_failed")} ${e.message}`))) }, t("signin_oidc"))));
  }
  if (config.dev_signin) {
    const form = h("form", { class: "signin", novalidate: true },
      h("fieldset", {}, h("legend", {}, t("signin_dev")), h("p", { class: "hint" }, t("signin_dev_hint")),
        h("div", { class: "grid" },
          field("role", { label: t("role"), required: true, options: config.roles.map((r) => [r, roleLabel(r)]), value: "intake_officer" }),
          field("municipalities", { label: t("municipality"), required: true, options: config.municipalities.map((m) => [m.ags, `${m.name} (${m.ags})`]), value: config.municipalities[0]?.ags }),
          field("sub", { label: t("username"), hint: "z. B. asiebel" }),
          field("provider_id", { label: t("provider_id") }),
          field("team", { label: t("team_optional") }))),
      h("button", { type: "submit" }, t("signin")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      const result = await devSignIn({ ...data, municipality: data.municipalities });
      if (result.ok) { start(); return; }
      showProblem(form, new ApiError(result.problem.status || 422, result.problem));
    });
    parts.push(form);
  }
  if (!config.oidc && !config.dev_signin) parts.push(notice("error", t("signin_none")));
  show(t("signin"), ...parts);
}

function home(user) {
  show(t("home"), h("p", {}, t("home_intro")),
    h("ul", {}, navFor(user.role).map(([href, key]) => h("li", {}, h("a", { href }, t(key))))));
}

let routeGeneration = 0;

async function route() {
  const user = claims();
  renderHeader(user);
  if (!user) {
    const expired = sessionStorage.getItem("kim.expired");
    sessionStorage.removeItem("kim.expired");
    return signInScreen(expired ? t("session_expired") : null);
  }
  const hash = location.hash || "#/";
  // a screen that loads its data shows itself later: only if it is still the current one (a quicker
  // navigation meanwhile must not be overwritten by a slower, older screen)
  const generation = ++routeGeneration;
  const current = () => generation === routeGeneration;
  const showIfCurrent = (...args) => { if (current()) show(...args); };
  for (const [pattern, screen] of ROUTES) {
    const match = hash.match(pattern);
    if (match) return screen({ user, config, show: showIfCurrent, current }, ...match.slice(1));
  }
  return home(user);
}

async function start() {
  if (!config) {
    config = await (await fetch("/app/config.json")).json();
    addCodeLabels(config.labels);
  }
  if (config.oidc) {
    try { await finishOidc(config.oidc); } catch (e) {
      renderHeader(null); signInScreen(`${t("signin_failed")} ${e.code ? t(`oidc_${e.code}`) : e.message}`); return;
    }
  }
  await route();
}

document.getElementById("lang").addEventListener("click", () => { setLang(getLang() === "de" ? "en" : "de"); route(); });
document.getElementById("signout").addEventListener("click", () => { signOut(); location.hash = "#/"; route(); });
window.addEventListener("hashchange", route);
start();
