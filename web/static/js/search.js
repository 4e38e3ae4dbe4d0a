// The search page: persons and companies matching the query, with click-to-dial on their phones.
import { api, clear, contactLink, dialButton, el, fmtNumber, showStatus, t } from "./common.js";

const list = document.getElementById("search-results");
const count = document.getElementById("search-count");
const query = new URLSearchParams(location.search).get("q") || "";

async function phonesOf(hit) {
  const path = hit.type === "company" ? "companies" : "persons";
  try {
    const record = await api("GET", `/api/${path}/${Number(hit.id)}`);
    return record.phones || [];
  } catch {
    return [];
  }
}

async function run() {
  if (!query.trim()) return;
  let data;
  try {
    data = await api("GET", `/api/search?q=${encodeURIComponent(query)}&limit=20`);
  } catch (err) {
    showStatus(t("error.generic", { message: err.message }), true);
    return;
  }
  clear(list);
  const shown = data.items.length
    ? t("search.results", { count: fmtNumber(data.items.length) })
    : t("search.none");
  // The server examined only part of the matches (a common name): ask for a narrower text.
  count.textContent = data.truncated ? `${shown} · ${t("search.more")}` : shown;
  const phones = await Promise.all(data.items.map(phonesOf));
  data.items.forEach((hit, i) => {
    const contact = { kind: hit.type, id: hit.id };
    const item = el(
      "li",
      { class: "result", dataset: { kind: hit.type, id: String(hit.id) } },
      el("span", { class: "badge", text: t(`kind.${hit.type}`) }),
      " ",
      contactLink(hit.type, hit.id, hit.display_name),
      hit.code ? el("span", { class: "muted", text: ` (${hit.code})` }) : null,
    );
    if (phones[i].length) {
      item.append(
        el(
          "ul",
          { class: "phones" },
          phones[i].map((p) =>
            el("li", {}, el("span", { class: "muted", text: t(`phone.${p.kind}`) }), " ",
              dialButton(p.number, contact)),
          ),
        ),
      );
    }
    list.append(item);
  });
}

run();
