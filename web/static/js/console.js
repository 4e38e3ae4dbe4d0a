// The agent console: status control, the live call with its screen pop and actions, my day.
import {
  announce, api, clear, contactLink, dialButton, el, feedback, fmtDateTime, fmtTime, lang,
  loadTimeline, showStatus, t, timeZone, userId,
} from "./common.js";
import { LiveSocket } from "./live.js";
import { celebrationText, popTitle, renderPop } from "./pop.js";

const calls = new Map(); // call id -> pop
let current = null; // call id shown in the panel
let timelineOf = null; // "person:12" whose timeline is shown

const $ = (id) => document.getElementById(id);
const panel = $("call-panel");

// ---- agent status ---------------------------------------------------------------------------

function showState(state, reason, unknown = "status.unknown") {
  const node = $("agent-state");
  node.dataset.state = state || "";
  const label = state ? t(`state.${state}`) : t(unknown);
  node.textContent = t("status.current", { state: label });
  if (reason) {
    // A pause reason of the list is shown in the user's language; any other as it was given.
    const key = `reason.${reason.replace(/[^a-z_]/g, "_")}`;
    const known = t(key);
    node.append(" ", t("status.reason", { reason: known === key ? reason : known }));
  }
}

async function refreshState() {
  try {
    const data = await api("GET", "/api/agents");
    const mine = data.items.filter((a) => a.user_id === userId);
    showState(mine.length ? mine[0].state : null, mine.length ? mine[0].reason : null);
  } catch (err) {
    // Without the right to list agents (plain agents), the state shows once it changes.
    if (err.status === 403) showState(null, null, "status.unseen");
    else feedback($("status-feedback"), t("error.generic", { message: err.message }), true);
  }
}

for (const button of document.querySelectorAll("[data-state-action]")) {
  button.addEventListener("click", async () => {
    const action = button.dataset.stateAction;
    const payload = { action };
    if (action === "pause") payload.reason = $("pause-reason").value;
    try {
      await api("POST", "/api/agents/me/state", payload);
      // Done on the PBX; show the state asked for (an agent_state_changed push corrects it).
      const state = stateOf(action);
      showState(state, action === "pause" ? $("pause-reason").selectedOptions[0].textContent : null);
      feedback($("status-feedback"), t("status.changed", { state: t(`state.${state}`) }));
    } catch (err) {
      feedback($("status-feedback"), t("error.generic", { message: err.message }), true);
    }
  });
}

function stateOf(action) {
  return { login: "ready", ready: "ready", pause: "paused", wrap_up: "wrap_up", logout: "logged_out" }[action];
}

// ---- calls ----------------------------------------------------------------------------------

function renderCallList() {
  const list = $("call-list");
  clear(list);
  if (calls.size < 2) return;
  for (const [id, pop] of calls) {
    list.append(
      el("button", {
        type: "button",
        "aria-pressed": id === current ? "true" : "false",
        "aria-label": t("call.switch", { number: popTitle(pop) }),
        onclick: () => show(id),
      }, popTitle(pop)),
    );
  }
}

function contactKey(pop) {
  return pop && pop.contact ? `${pop.contact.kind}:${pop.contact.id}` : null;
}

function show(id) {
  current = id;
  const pop = id ? calls.get(id) : null;
  $("no-call").hidden = Boolean(pop);
  panel.hidden = !pop;
  renderCallList();
  if (!pop) return;
  const popNode = clear($("pop"));
  popNode.append(...renderPop(pop));
  if (pop.call.state === "ended") {
    popNode.append(
      el("p", {}, el("button", { type: "button", id: "dismiss-call", onclick: () => dismiss(id) },
        t("call.dismiss"))),
    );
  }
  const candidates = pop.candidates || [];
  const candBox = $("candidates");
  candBox.hidden = pop.contact !== null || candidates.length === 0;
  const candList = clear($("candidate-list"));
  for (const c of candidates) {
    candList.append(
      el("li", {},
        el("button", { type: "button", class: "candidate", onclick: () => linkContact(id, c) },
          t("candidates.choose", { name: c.name })),
        " ", contactLink(c.kind, c.id, t("contact.open")),
        " ", el("span", { class: "muted", text: t(`phone.${c.phone_kind}`) })),
    );
  }
  const newForm = $("new-contact-form");
  const unknown = pop.contact === null && candidates.length === 0;
  if (newForm.hidden !== !unknown || newForm.dataset.call !== id) {
    newForm.hidden = !unknown;
    newForm.dataset.call = id;
    newForm.reset();
    $("nc-phone").value = pop.call.customer_number || pop.call.caller_id || "";
  }
  const cbForm = $("callback-form");
  if (cbForm.dataset.call !== id) {
    cbForm.dataset.call = id;
    cbForm.reset();
    $("cb-phone").value = pop.call.customer_number || "";
    $("cb-date").value = localDate();
    for (const form of panel.querySelectorAll("form")) feedback(form, "");
    loadDispositions(pop.call.campaign_id);
  }
  const key = contactKey(pop);
  $("call-timeline").hidden = !key;
  // A ticket or a follow-up needs the call's contact: shown once the caller is known.
  $("ticket-form").hidden = !key;
  $("followup-form").hidden = !key;
  if (key && key !== timelineOf) {
    timelineOf = key;
    loadTimeline($("timeline"), pop.contact.kind, pop.contact.id);
  }
}

function dismiss(id) {
  calls.delete(id);
  const next = [...calls.keys()].pop() || null;
  timelineOf = null;
  show(next);
}

function localDate() {
  // Today in the user's time zone, as YYYY-MM-DD for <input type=date>.
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(new Date());
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

// A contact linked to the call after the pop (a chosen candidate, a new contact) arrives as
// `linked_contact` {kind, id, name}; its record is fetched to show its phones and timeline.
async function applyLinked(pop) {
  const link = pop.linked_contact;
  if (!link || (pop.contact && pop.contact.id === link.id && pop.contact.kind === link.kind)) return;
  pop.contact = { kind: link.kind, id: link.id, name: link.name, partial: true, phones: [] };
  pop.candidates = [];
  try {
    const path = link.kind === "company" ? "companies" : "persons";
    const record = await api("GET", `/api/${path}/${Number(link.id)}`);
    pop.contact.phones = record.phones || [];
    pop.contact.salutation = record.salutation || null;
  } catch {
    // Shown with its name only.
  }
}

function onPop(pop) {
  if (pop.linked_contact) {
    applyLinked(pop).then(() => {
      if (pop.call.id === current) show(current);
    });
  }
  const id = pop.call.id;
  const isNew = !calls.has(id);
  // A pop sent again for a call already shown (rebuilt after the agent chose the contact):
  // its contact may have changed, so its timeline is loaded again.
  if (!isNew && id === current) timelineOf = null;
  calls.set(id, pop);
  if (isNew) {
    announce(t("call.announce", { name: popTitle(pop) }), true);
    const shown = current ? calls.get(current) : null;
    if (!shown || shown.call.state === "ended") current = id;
  }
  if (id === current || !current) show(id);
  else renderCallList();
}

function onCallUpdate(msg) {
  const pop = calls.get(msg.call_id);
  if (!pop) return;
  for (const [key, value] of Object.entries(msg)) {
    if (key === "type" || key === "call_id") continue;
    if (["contact", "candidates", "masked", "linked_contact"].includes(key)) pop[key] = value;
    else pop.call[key] = value;
  }
  if (msg.linked_contact) {
    timelineOf = null;
    applyLinked(pop).then(() => {
      if (msg.call_id === current) show(current);
    });
  }
  if (msg.call_id === current) {
    // A new contact, or a finished call (stored as an activity before this update is sent):
    // reload the timeline.
    if (msg.contact !== undefined || msg.state === "ended") timelineOf = null;
    show(current);
  } else renderCallList();
}

function currentCall() {
  const pop = current ? calls.get(current) : null;
  if (!pop) throw new Error(t("call.none"));
  return pop;
}

async function act(form, work) {
  const submit = form.querySelector("button[type=submit]");
  if (submit) submit.disabled = true;
  try {
    const text = await work();
    feedback(form, text);
    announce(text);
  } catch (err) {
    feedback(form, t("error.generic", { message: err.message }), true);
  } finally {
    if (submit) submit.disabled = false;
  }
}

// A form about the current call: submitting it runs `work(pop, data, form)` through act(), which
// shows what it returns (or the error) next to the form.
function onCallForm(id, work) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    act(form, async () => work(currentCall(), new FormData(form), form));
  });
}

async function linkContact(id, cand) {
  await act($("candidates"), async () => {
    const payload = cand.kind === "company" ? { company_id: cand.id } : { person_id: cand.id };
    await api("POST", `/api/calls/${id}/contact`, payload);
    return t("candidates.linked", { name: cand.name });
  });
}

onCallForm("new-contact-form", async (pop, data, form) => {
  const person = await api("POST", "/api/persons", {
    given_name: String(data.get("given_name") || ""),
    family_name: String(data.get("family_name") || ""),
    phones: [{ kind: "mobile", number: String(data.get("phone") || "") }],
  });
  try {
    await api("POST", `/api/calls/${pop.call.id}/contact`, { person_id: person.id });
  } catch {
    // The call may have ended before it could be linked: the contact exists all the same.
  }
  return t("newcontact.saved", { name: person.full_name });
});

async function control(path, payload, done) {
  const line = $("control-feedback");
  try {
    const pop = currentCall();
    await api("POST", `/api/calls/active/${pop.call.id}/${path}`, payload);
    feedback(line, done);
    announce(done);
  } catch (err) {
    feedback(line, t("error.generic", { message: err.message }), true);
  }
}

$("hangup").addEventListener("click", () => control("hangup", undefined, t("actions.hung_up")));
$("rec-start").addEventListener("click", () =>
  control("recording", { action: "start" }, t("recording.started")));
$("rec-stop").addEventListener("click", () =>
  control("recording", { action: "stop" }, t("recording.stopped")));
$("rec-pause").addEventListener("click", () =>
  control("recording", { action: "pause" }, t("recording.paused")));
$("rec-resume").addEventListener("click", () =>
  control("recording", { action: "resume" }, t("recording.resumed")));

const targets = { queue: [], agent: [] };

async function loadTargets() {
  try {
    const queues = await api("GET", "/api/queues");
    targets.queue = [...new Set(queues.items.map((q) => q.name))].map((n) => ({ value: n, label: n }));
  } catch {
    targets.queue = [];
  }
  try {
    const agents = await api("GET", "/api/agents");
    targets.agent = agents.items
      .filter((a) => a.user_id && a.user_id !== userId)
      .map((a) => ({ value: String(a.user_id), label: a.display_name || a.username || String(a.user_id) }));
  } catch {
    targets.agent = [];
  }
  fillTargets();
}

function fillTargets() {
  const list = clear($("tr-targets"));
  for (const item of targets[$("tr-type").value] || []) {
    list.append(el("option", { value: item.value, label: item.label }));
  }
}

$("tr-type").addEventListener("change", fillTargets);

onCallForm("transfer-form", async (pop, data, form) => {
  await api("POST", `/api/calls/active/${pop.call.id}/transfer`, {
    target_type: String(data.get("target_type")),
    target: String(data.get("target") || "").trim(),
    mode: String(data.get("mode") || "blind"),
  });
  return t("transfer.done");
});

async function loadDispositions(campaignId) {
  const select = $("dispo-code");
  const query = campaignId ? `?campaign_id=${Number(campaignId)}` : "";
  try {
    const data = await api("GET", `/api/dispositions${query}`);
    while (select.options.length > 1) select.remove(1);
    for (const code of data.items.filter((c) => c.active !== false)) {
      select.append(el("option", { value: code.code, dataset: { callback: String(code.requires_callback) } },
        code.label));
    }
  } catch (err) {
    feedback($("disposition-form"), t("error.generic", { message: err.message }), true);
  }
}

onCallForm("disposition-form", async (pop, data, form) => {
  const payload = { code: String(data.get("code")), notes: String(data.get("notes") || "") };
  if (pop.call.campaign_id) payload.campaign_id = pop.call.campaign_id;
  const saved = await api("POST", `/api/calls/${pop.call.id}/disposition`, payload);
  const option = $("dispo-code").selectedOptions[0];
  if (option && option.dataset.callback === "true") $("cb-date").focus();
  return t("disposition.saved", { code: saved.label || saved.code });
});

onCallForm("callback-form", async (pop, data, form) => {
  const payload = {
    call_id: pop.call.id,
    phone: String(data.get("phone") || "").trim(),
    due_local: `${data.get("date")}T${data.get("time")}`,
    notes: String(data.get("notes") || ""),
  };
  if (pop.contact) payload[`${pop.contact.kind}_id`] = pop.contact.id;
  const zone = String(data.get("time_zone") || "").trim();
  if (zone) payload.time_zone = zone;
  if (data.get("assignee") === "anyone") payload.assigned_user_id = null;
  const cb = await api("POST", "/api/callbacks", payload);
  const when = new Intl.DateTimeFormat(lang, {
    dateStyle: "medium", timeStyle: "short", timeZone: cb.time_zone,
  }).format(new Date(cb.due_at));
  loadToday();
  return t("callback.saved", { when, tz: cb.time_zone, mine: fmtDateTime(cb.due_at) });
});

onCallForm("ticket-form", async (pop, data, form) => {
  const ticket = await api("POST", `/api/calls/${pop.call.id}/ticket`, {
    subject: String(data.get("subject") || ""),
    description: String(data.get("description") || ""),
    priority: String(data.get("priority") || "normal"),
  });
  form.reset();
  timelineOf = null;
  show(current);
  return t("ticket.saved", { id: ticket.id });
});

onCallForm("followup-form", async (pop, data, form) => {
  const payload = {
    type: String(data.get("type") || "task"),
    subject: String(data.get("subject") || ""),
    notes: String(data.get("notes") || ""),
  };
  const due = String(data.get("due") || "");
  // datetime-local is the agent's wall-clock time; send it as an instant.
  if (due) payload.due_at = new Date(due).toISOString();
  await api("POST", `/api/calls/${pop.call.id}/activity`, payload);
  form.reset();
  loadToday();
  return t("followup.saved");
});

// ---- my day ---------------------------------------------------------------------------------

const dueCallbacks = new Set(); // ids of callbacks whose callback_due arrived

function callbackItem(cb) {
  const due = dueCallbacks.has(cb.id);
  const ref = cb.person_id
    ? { kind: "person", id: cb.person_id }
    : cb.company_id ? { kind: "company", id: cb.company_id } : {};
  const item = el(
    "li",
    { class: due ? "callback due" : "callback", dataset: { id: String(cb.id) } },
    el("time", { datetime: cb.due_at, text: fmtTime(cb.due_at) }),
    " ",
    dialButton(cb.phone, ref),
    cb.notes ? el("span", { class: "notes", text: ` ${cb.notes}` }) : null,
    cb.assigned_user_id === null ? el("span", { class: "badge", text: t("common.anyone") }) : null,
    " ",
    ref.kind ? contactLink(ref.kind, ref.id, t("contact.open")) : null,
    " ",
  );
  item.append(
    el("button", {
      type: "button",
      onclick: async () => {
        try {
          await api("POST", `/api/callbacks/${Number(cb.id)}/done`);
          item.remove();
        } catch (err) {
          showStatus(t("error.generic", { message: err.message }), true);
        }
      },
    }, t("today.done")),
  );
  return item;
}

function fillList(list, items, render) {
  clear(list);
  if (!items.length) list.append(el("li", { class: "muted", text: t("today.empty") }));
  for (const item of items) list.append(render(item));
}

async function loadToday() {
  let data;
  try {
    data = await api("GET", "/api/me/today");
  } catch (err) {
    const line = $("today-error");
    line.textContent = t("today.unavailable", { message: err.message });
    line.hidden = false;
    return;
  }
  $("today-error").hidden = true;
  fillList($("today-callbacks"), data.callbacks || [], (cb) => callbackItem(cb));
  fillList($("today-tasks"), data.tasks || [], (task) => {
    const who = (task.participants || []).find((p) => p.person_id || p.company_id);
    return el("li", {},
      el("time", { datetime: task.starts_at || "", text: fmtTime(task.starts_at) }), " ",
      el("span", { text: task.subject }), " ",
      who ? contactLink(who.person_id ? "person" : "company", who.person_id || who.company_id,
        t("contact.open")) : null);
  });
  fillList($("today-celebrations"), data.celebrations || [], (c) =>
    el("li", {}, contactLink("person", c.person_id, c.display_name), " ",
      el("span", { class: "muted", text: celebrationText(c) })));
}

function onCallbackDue(cb) {
  const list = $("today-callbacks");
  const existing = list.querySelector(`li[data-id="${Number(cb.id)}"]`);
  if (existing) existing.remove();
  const empty = list.querySelector("li.muted");
  if (empty) empty.remove();
  dueCallbacks.add(cb.id);
  list.prepend(callbackItem(cb));
  announce(t("callback.due", { who: cb.phone }), true);
}

// ---- live stream ----------------------------------------------------------------------------

function onMessage(msg) {
  switch (msg.type) {
    case "hello":
      // The snapshot that follows re-sends the calls in progress; keep finished ones to wrap up.
      for (const [id, pop] of calls) if (pop.call.state !== "ended") calls.delete(id);
      if (current && !calls.has(current)) current = null;
      show(current);
      break;
    case "screen_pop":
      onPop(msg);
      break;
    case "call_update":
      onCallUpdate(msg);
      break;
    case "agent_state_changed":
      showState(msg.state, msg.reason);
      break;
    case "callback_due":
      onCallbackDue(msg.callback || msg);
      break;
    default:
      break;
  }
}

let connects = 0;

function onSocketState(state) {
  const node = $("ws-status");
  node.dataset.state = state;
  if (state === "live") node.dataset.connects = String(++connects);
  node.textContent = t(state === "live" ? "ws.live" : state === "offline" ? "ws.offline" : "ws.connecting");
}

show(null);
new LiveSocket(onMessage, onSocketState).connect();
refreshState();
loadTargets();
loadToday();
loadDispositions(null);
