// The screen pop: the caller's record as pushed by the server, rendered as text nodes only.
import {
  contactLink, dialButton, el, fmtDate, fmtDateTime, fmtMoney, fmtNumber, t,
} from "./common.js";

/** The name to show and announce for a pop. */
export function popTitle(pop) {
  if (pop.contact) return pop.contact.name;
  const number = pop.call.customer_number || pop.call.caller_id || "";
  return t("call.unknown_caller", { number });
}

function row(label, ...value) {
  return [el("dt", { text: label }), el("dd", {}, ...value)];
}

function celebrationText(c) {
  if (c.kind === "birthday") return t("celebration.birthday", { years: c.years ?? "" });
  if (c.kind === "name_day") return t("celebration.name_day", { name: c.name ?? "" });
  return t("celebration.anniversary", { label: c.label || c.type || "", years: c.years ?? "" });
}

export { celebrationText };

function balanceList(contact, masked) {
  if (masked.includes("balance_due")) return el("span", { class: "muted", text: t("contact.masked") });
  const items = contact.balance_due || [];
  if (!items.length) return el("span", { class: "muted", text: t("contact.none") });
  return el(
    "ul",
    { class: "plain balances" },
    items.map((b) =>
      el(
        "li",
        { dataset: { currency: b.currency } },
        el("strong", { class: "amount", text: fmtMoney(b.amount, b.currency) }),
        " ",
        el("span", {
          class: b.days_overdue > 0 ? "overdue" : "muted",
          text:
            b.days_overdue > 0
              ? t("contact.overdue_days", { days: fmtNumber(b.days_overdue) })
              : t("contact.not_overdue"),
        }),
      ),
    ),
  );
}

function invoiceLine(contact, masked) {
  if (masked.includes("last_invoice")) return el("span", { class: "muted", text: t("contact.masked") });
  const inv = contact.last_invoice;
  if (!inv) return el("span", { class: "muted", text: t("contact.none") });
  return el("span", {
    class: "invoice",
    text: t("contact.invoice_line", {
      number: inv.number,
      date: fmtDate(inv.date),
      due: inv.due_date ? fmtDate(inv.due_date) : "–",
      amount: fmtMoney(inv.amount, inv.currency),
      status: inv.status,
    }),
  });
}

/** The pop as a DOM subtree. */
export function renderPop(pop) {
  const call = pop.call;
  const contact = pop.contact;
  const masked = pop.masked || [];
  const number = call.customer_number || call.caller_id || call.called || "";
  const ref = contact ? { kind: contact.kind, id: contact.id } : {};
  const head = el(
    "header",
    { class: "pop-head" },
    el("h3", { class: "pop-name", id: "pop-name", text: popTitle(pop) }),
    contact ? el("span", { class: "badge", text: t(`kind.${contact.kind}`) }) : null,
    el("span", { class: `badge state-${call.state || "ringing"}`, id: "call-state",
      text: t(`call.state.${call.state || "ringing"}`) }),
  );
  const facts = el(
    "dl",
    { class: "details" },
    row(t("call.number"), number ? dialButton(number, ref) : "–"),
    row(t("call.direction"), t(`call.direction.${call.direction}`)),
    call.queue ? row(t("call.queue"), call.queue) : [],
    call.started_at
      ? row(t("call.started"), el("time", { datetime: call.started_at, text: fmtDateTime(call.started_at) }))
      : [],
  );
  const parts = [head, facts];
  if (contact) {
    const details = el(
      "dl",
      { class: "details contact-details" },
      contact.company ? row(t("contact.company"), contact.company) : [],
      contact.salutation ? row(t("contact.salutation"), contact.salutation) : [],
      row(
        t("contact.phones"),
        contact.phones && contact.phones.length
          ? el(
              "ul",
              { class: "plain phones" },
              contact.phones.map((p) =>
                el("li", {}, el("span", { class: "muted", text: t(`phone.${p.kind}`) }), " ",
                  dialButton(p.number, ref)),
              ),
            )
          : el("span", { class: "muted", text: t("contact.no_phones") }),
      ),
      contact.partial ? [] : row(t("contact.last_invoice"), invoiceLine(contact, masked)),
      contact.partial ? [] : row(t("contact.balance"), balanceList(contact, masked)),
      contact.partial ? [] : row(
        t("contact.tickets"),
        contact.open_tickets && contact.open_tickets.length
          ? el(
              "ul",
              { class: "plain tickets" },
              contact.open_tickets.map((tk) =>
                el("li", {}, `#${tk.id} `, el("span", { text: tk.subject }), " ",
                  el("span", { class: `badge priority-${tk.priority}`, text: t(`priority.${tk.priority}`) }),
                  " ", el("span", { class: "muted", text: tk.status })),
              ),
            )
          : el("span", { class: "muted", text: t("contact.no_tickets") }),
      ),
      contact.last_activity
        ? row(
            t("contact.last_activity"),
            el(
              "div",
              { class: "last-activity" },
              el("time", { datetime: contact.last_activity.at, text: fmtDateTime(contact.last_activity.at) }),
              " · ",
              el("span", { text: t(`atype.${contact.last_activity.type}`) }),
              " · ",
              el("strong", { text: contact.last_activity.subject }),
              contact.last_activity.user ? el("span", { class: "muted", text: ` (${contact.last_activity.user})` }) : null,
              contact.last_activity.notes ? el("p", { class: "notes", text: contact.last_activity.notes }) : null,
            ),
          )
        : [],
      contact.categories && contact.categories.length
        ? row(
            t("contact.categories"),
            contact.categories.map((c) =>
              el("span", { class: "badge", text: typeof c === "string" ? c : c.name || String(c.id) }),
            ),
          )
        : [],
      contact.celebrations_today && contact.celebrations_today.length
        ? row(
            t("contact.celebrations"),
            el("ul", { class: "plain celebrations" },
              contact.celebrations_today.map((c) => el("li", { text: celebrationText(c) }))),
          )
        : [],
    );
    parts.push(details, el("p", {}, contactLink(contact.kind, contact.id, t("contact.open"))));
  }
  return parts;
}
