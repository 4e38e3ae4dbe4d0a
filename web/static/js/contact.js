// A person's or company's page: details, phones with click-to-dial, and the timeline.
import {
  api, clear, contactLink, dialButton, el, fmtDate, loadTimeline, t,
} from "./common.js";

const article = document.getElementById("contact");
const kind = article.dataset.kind === "company" ? "company" : "person";
const id = Number(article.dataset.id);
const nameNode = document.getElementById("contact-name");
const details = document.getElementById("contact-details");
const phones = document.getElementById("contact-phones");

function detail(label, ...value) {
  details.append(el("dt", { text: label }), el("dd", {}, ...value));
}

async function run() {
  let record;
  try {
    record = await api("GET", `/api/${kind === "company" ? "companies" : "persons"}/${id}`);
  } catch (err) {
    nameNode.textContent = err.status === 404 ? t("contact.not_found") : err.message;
    return;
  }
  const name = kind === "company" ? record.name : record.full_name;
  nameNode.textContent = name;
  document.title = `${name} · ${t("app.name")}`;
  clear(details);
  if (kind === "person") {
    if (record.salutation) detail(t("contact.salutation"), record.salutation);
    if (record.birth_date) detail("🎂", fmtDate(record.birth_date));
    if (record.companies && record.companies.length) {
      const names = await Promise.all(
        record.companies.map(async (e) => {
          try {
            const c = await api("GET", `/api/companies/${Number(e.company_id)}`);
            return contactLink("company", c.id, c.name);
          } catch {
            return null;
          }
        }),
      );
      detail(t("contact.companies"), ...names.filter(Boolean).flatMap((n) => [n, " "]));
    }
  } else if (record.code) {
    detail("#", record.code);
  }
  if (record.emails && record.emails.length) {
    detail(t("contact.emails"), record.emails.map((e) => e.address).join(", "));
  }
  clear(phones);
  if (!record.phones.length) phones.append(el("li", { class: "muted", text: t("contact.no_phones") }));
  for (const p of record.phones) {
    phones.append(
      el("li", {}, el("span", { class: "muted", text: t(`phone.${p.kind}`) }), " ",
        dialButton(p.number, { kind, id })),
    );
  }
  await loadTimeline(document.getElementById("timeline"), kind, id);
}

run();
