// DOM helpers: elements, labelled form fields, and how every API error is shown (next to the field it names,
// a retry for 503, the differences for 412).
import { ApiError } from "./api.js";
import { codeLabel, getLang, problemTitle, t } from "./i18n.js";

let seq = 0;
export const uid = (prefix = "f") => `${prefix}-${++seq}`;

/** h("p", {class: "x", onclick: fn}, "text", child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function announce(text) {
  const status = document.getElementById("status");
  status.textContent = "";
  setTimeout(() => { status.textContent = text; }, 50);
}

/** A labelled input; `name` is the API's (dotted) field name, so a problem's `errors` find it. */
export function field(name, { label, type = "text", required = false, options, value, hint, attrs = {} } = {}) {
  const id = uid(name.replace(/\W/g, "-"));
  const hintId = hint ? `${id}-hint` : undefined;
  let control;
  if (options) {
    control = h("select", { id, name, required, "aria-describedby": hintId, ...attrs },
      required ? h("option", { value: "" }, t("choose")) : h("option", { value: "" }, t("none")),
      options.map((o) => {
        const [v, text] = Array.isArray(o) ? o : [o, codeLabel(o)];
        return h("option", { value: v, selected: String(value ?? "") === String(v) }, text);
      }));
  } else if (type === "checkbox") {
    control = h("input", { id, name, type, checked: Boolean(value), "aria-describedby": hintId, ...attrs });
    return h("div", { class: "field check" }, control, h("label", { for: id }, label || t(name)),
             hint ? h("span", { id: hintId, class: "hint" }, hint) : null);
  } else if (type === "textarea") {
    control = h("textarea", { id, name, required, "aria-describedby": hintId, rows: 3, ...attrs });
    if (value != null) control.value = value;
  } else {
    control = h("input", { id, name, type, required, value: value ?? undefined, "aria-describedby": hintId, ...attrs });
  }
  return h("div", { class: "field" },
    h("label", { for: id }, label || t(name), required ? h("span", { "aria-hidden": "true" }, " *") : null),
    hint ? h("span", { id: hintId, class: "hint" }, hint) : null, control);
}

export function clearErrors(form) {
  form.querySelectorAll(".field-error, .form-problem").forEach((el) => el.remove());
  form.querySelectorAll("[aria-invalid]").forEach((el) => {
    el.removeAttribute("aria-invalid");
    const ids = (el.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && !x.endsWith("-err"));
    if (ids.length) el.setAttribute("aria-describedby", ids.join(" ")); else el.removeAttribute("aria-describedby");
  });
}

/** The control of a (dotted) field name: exact, else its nearest named parent ("address.city" -> "address"). */
function controlFor(form, name) {
  let key = name;
  while (key) {
    const el = form.querySelector(`[name="${CSS.escape(key)}"]`);
    if (el) return el;
    key = key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "";
  }
  return null;
}

function problemBox(error, extra = []) {
  const p = error.problem || {};
  return h("div", { class: "notice error form-problem", role: "alert", tabindex: "-1" },
    h("p", {}, h("strong", {}, `${problemTitle(error.status, p.title) || t("error")} (${error.status}): `), p.detail ? error.message : ""),
    extra, p.request_id ? h("p", { class: "hint" }, `${t("request_id")}: ${p.request_id}`) : null);
}

/** Shows an ApiError on a form: each named field gets its message; the rest goes into a box at the top. */
export function showProblem(form, error) {
  clearErrors(form);
  const unplaced = [];
  let first = null;
  for (const [name, messages] of Object.entries(error.fields || {})) {
    const control = controlFor(form, name);
    const said = messages.join("; ");
    if (!control) { unplaced.push(`${name}: ${said}`); continue; }
    const id = `${control.id || uid("c")}-err`;
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", [control.getAttribute("aria-describedby"), id].filter(Boolean).join(" "));
    const label = control.name === name ? "" : `${name}: `;
    control.closest(".field, fieldset")?.append(h("p", { id, class: "field-error" }, label + said));
    first ||= control;
  }
  const list = unplaced.length ? h("ul", {}, unplaced.map((m) => h("li", {}, m))) : null;
  const box = problemBox(error, [first ? h("p", {}, t("form_errors")) : null, list]);
  form.prepend(box);
  (first || box).focus();
  return box;
}

/** Runs `call` (an API call); on success `done(result)`. Errors land on `form`: fields, a retry for 503 (the
 *  same request again, same Idempotency-Key), and `onConflict(error)` for a 412. */
export async function run(form, call, done, { onConflict, onError } = {}) {
  clearErrors(form);
  const submit = form.querySelector("[type=submit]");
  if (submit) submit.disabled = true;
  const handle = async (promise) => {
    try {
      const result = await promise;
      clearErrors(form);
      await done(result);
    } catch (error) {
      if (!(error instanceof ApiError)) { console.error(error); showProblem(form, new ApiError(0, { detail: String(error) })); return; }
      if (error.status === 503 && error.retry) {
        const again = h("button", { type: "button", class: "retry" }, t("retry"));
        const box = problemBox(error, [h("p", {}, t("unavailable")), h("p", { class: "hint" }, t("retry_hint")), again]);
        clearErrors(form);
        form.prepend(box);
        again.addEventListener("click", () => { box.remove(); handle(error.retry()); });
        again.focus();
      } else if (error.status === 412 && onConflict) {
        clearErrors(form);
        await onConflict(error);
      } else if (onError && (await onError(error))) {
        // handled by the screen (e.g. a 409 with candidates)
      } else {
        showProblem(form, error);
      }
    } finally {
      if (submit) submit.disabled = false;
    }
  };
  return handle(call());
}

/** Reads a form into the API's body shape: dotted names nest ("address.city"), data-type casts. */
export function readForm(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.dataset.skip !== undefined || el.tagName === "FIELDSET" || el.tagName === "BUTTON") continue;
    let value;
    if (el.type === "checkbox") { if (!el.checked && el.dataset.optional !== undefined) continue; value = el.checked; }
    else { value = el.value.trim(); if (value === "") continue; }
    if (el.dataset.type === "list") value = value.split(",").map((s) => s.trim()).filter(Boolean);
    if (el.dataset.type === "upper-list") value = value.split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
    if (el.dataset.type === "int") value = Number.parseInt(value, 10);
    const path = el.name.split(".");
    let target = body;
    path.slice(0, -1).forEach((p) => { target = target[p] ||= {}; });
    target[path[path.length - 1]] = value;
  }
  return body;
}

export function table(caption, columns, rows) {
  return h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c === "" ? h("span", { class: "visually-hidden" }, t("actions")) : c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((cell) => h("td", {}, cell))))));
}

export function notice(kind, ...children) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, h("p", {}, ...children));
}

const ISO_DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A value as the screens show it; a day as the user writes it: 15.12.2026 in German, ISO in English. */
export function fmt(value) {
  if (value === null || value === undefined || value === "") return t("none");
  const day = typeof value === "string" && ISO_DAY.exec(value);
  if (day) return getLang() === "de" ? `${day[3]}.${day[2]}.${day[1]}` : value;
  if (Array.isArray(value)) return value.length ? value.join(", ") : t("none");
  if (typeof value === "boolean") return value ? t("yes") : t("no");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A timestamp of the API in the browser's time zone, to the minute. */
export function fmtTime(value) {
  if (!value) return t("none");
  return new Date(value).toLocaleString(getLang() === "de" ? "de-DE" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
}

/** A municipality's name by its AGS code (the instance's towns, from /app/config.json). */
export function townName(config, ags) {
  return config.municipalities.find((m) => m.ags === ags)?.name || ags;
}
