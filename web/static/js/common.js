// Shared helpers of the Callboard pages: messages, locale formatting, API calls, safe DOM building.
//
// Every CRM value reaches the page as text: through el() (textContent / text nodes) or as an
// attribute value set with setAttribute. Nothing here assigns innerHTML, so a name such as
// "<img src=x onerror=alert(1)>" is shown exactly as written and never becomes markup.

const body = document.body;
const messageNode = document.getElementById("cb-messages");
const messages = messageNode ? JSON.parse(messageNode.textContent) : {};

export const lang = body.dataset.lang || "en";
export const userId = Number(body.dataset.userId || 0);
export const timeZone = validTimeZone(body.dataset.timeZone);

function validTimeZone(name) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name || "UTC" });
    return name || "UTC";
  } catch {
    return "UTC";
  }
}

/** The message `key` in the user's language with its {placeholders} filled in. */
export function t(key, values = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole,
  );
}

const dateTimeFormat = new Intl.DateTimeFormat(lang, {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone,
});
const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeZone: "UTC" });
const timeFormat = new Intl.DateTimeFormat(lang, { timeStyle: "short", timeZone });
const numberFormat = new Intl.NumberFormat(lang);

/** An instant (ISO 8601) as date and time in the user's locale and time zone. */
export function fmtDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateTimeFormat.format(d);
}

/** An instant as a time of day in the user's time zone. */
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : timeFormat.format(d);
}

/** A calendar date (YYYY-MM-DD) in the user's locale; no time-zone shift. */
export function fmtDate(isoDate) {
  if (!isoDate) return "";
  const d = new Date(`${String(isoDate).slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? String(isoDate) : dateFormat.format(d);
}

/** A decimal amount (string) in a currency, in the user's locale. */
export function fmtMoney(amount, currency) {
  try {
    return new Intl.NumberFormat(lang, { style: "currency", currency }).format(Number(amount));
  } catch {
    return `${amount} ${currency}`;
  }
}

/** A whole number in the user's locale. */
export function fmtNumber(n) {
  return numberFormat.format(n);
}

/** The CSRF token of this session (given by the server in the page). */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") || "" : "";
}

/** An API answer that is not a success: status, code and the server's message. */
export class ApiError extends Error {
  constructor(status, data) {
    const err = (data && data.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "";
    this.details = err.details || {};
  }
}

/** Call the JSON API; state-changing calls carry the X-CSRF-Token header. */
export async function api(method, path, payload) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(payload);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    throw new ApiError(0, { error: { code: "network", message: t("error.network") } });
  }
  if (resp.status === 401 && body.dataset.page !== "login") {
    const next = encodeURIComponent(location.pathname + location.search);
    location.assign(`/login?next=${next}`);
  }
  if (resp.status === 204) return null;
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json() : null;
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** Build an element: attributes via setAttribute, children as nodes or text (never HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Remove every child of `node`. */
export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

/** Say `text` to screen-reader users (polite), or at once when `urgent`. */
export function announce(text, urgent = false) {
  const region = document.getElementById(urgent ? "alert-region" : "announcer");
  if (!region) return;
  region.textContent = "";
  // A new text node is announced even when the same text repeats.
  region.append(document.createTextNode(text));
}

/** Show `text` in a form's feedback line (role=status), as an error when `isError`. */
export function feedback(target, text, isError = false) {
  const line = target.matches(".feedback") ? target : target.querySelector(".feedback");
  if (!line) return;
  line.textContent = text;
  line.classList.toggle("error", isError);
}

/** A click-to-dial button for a phone number; the agent's phone rings first. */
export function dialButton(number, contact = {}) {
  const button = el(
    "button",
    {
      type: "button",
      class: "dial",
      "aria-label": t("dial.button", { number }),
      dataset: { dial: number },
    },
    el("span", { class: "dial-icon", "aria-hidden": "true", text: "☎" }),
    el("span", { class: "number", dir: "ltr", text: number }),
  );
  button.addEventListener("click", async () => {
    const payload = { to: number };
    if (contact.kind && contact.id) {
      payload.contact_kind = contact.kind;
      payload.contact_id = contact.id;
    }
    button.disabled = true;
    try {
      await api("POST", "/api/calls", payload);
      showStatus(t("dial.calling", { number }));
    } catch (err) {
      showStatus(t("dial.failed", { number, message: err.message }), true);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

// International numbers (+30 210 ...), as the platform writes them; invoice or ticket numbers
// such as 2026-000123 are left alone.
const PHONE_RE = /\+\d[\d ().-]{5,}\d/g;

/** Text in which every phone-number-like run becomes a click-to-dial button. */
export function textWithPhones(text, contact = {}) {
  const frag = document.createDocumentFragment();
  const value = String(text ?? "");
  let last = 0;
  for (const match of value.matchAll(PHONE_RE)) {
    const digits = match[0].replace(/\D/g, "");
    if (digits.length < 7) continue;
    frag.append(value.slice(last, match.index));
    frag.append(dialButton(match[0], contact));
    last = match.index + match[0].length;
  }
  frag.append(value.slice(last));
  return frag;
}

/** A page-level message (the status line near the top), also announced. */
export function showStatus(text, isError = false) {
  const line = document.getElementById("page-error");
  if (line) {
    line.textContent = text;
    line.hidden = false;
    line.classList.toggle("error", isError);
    line.classList.toggle("notice", !isError);
    line.setAttribute("role", isError ? "alert" : "status");
  }
  announce(text, isError);
}

/** A link to a person's or company's page. */
export function contactLink(kind, id, name) {
  const path = kind === "company" ? "companies" : "persons";
  return el("a", { href: `/${path}/${Number(id)}`, text: name });
}

/** The timeline of a contact rendered into `list` (an <ol>). */
export async function loadTimeline(list, kind, id) {
  clear(list);
  const path = kind === "company" ? "companies" : "persons";
  let data;
  try {
    data = await api("GET", `/api/${path}/${Number(id)}/timeline?limit=20`);
  } catch (err) {
    list.append(el("li", { class: "error", text: t("error.generic", { message: err.message }) }));
    return;
  }
  if (!data.items.length) {
    list.append(el("li", { class: "muted", text: t("contact.no_timeline") }));
    return;
  }
  for (const item of data.items) {
    const parts = [
      el("time", { datetime: item.at, text: fmtDateTime(item.at) }),
      " ",
      el("span", { class: "tl-kind", text: t(`timeline.${item.kind}`) }),
      " ",
      el("span", { class: "tl-title" }, textWithPhones(item.title, { kind, id })),
    ];
    if (item.status) parts.push(" ", el("span", { class: "badge", text: item.status }));
    if (item.amount !== null && item.amount !== undefined && item.currency) {
      parts.push(" ", el("span", { class: "amount", text: fmtMoney(item.amount, item.currency) }));
    }
    list.append(el("li", { dataset: { kind: item.kind, id: String(item.id) } }, parts));
  }
}

function wireChrome() {
  const signOut = document.getElementById("sign-out");
  if (signOut) {
    signOut.addEventListener("click", async () => {
      try {
        await api("POST", "/api/auth/logout");
      } finally {
        location.assign("/login");
      }
    });
  }
}

wireChrome();
