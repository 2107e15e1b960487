// The agent desk: login, the three panes, live updates. Entry module of index.html.

import { api, onUnauthorised, token } from "./api.js";
import { confirmDialog } from "./confirm.js";
import { byId, debounce, h } from "./dom.js";
import { drafts } from "./drafts.js";
import { attachmentKind } from "./limits.js";
import { applyStatic, errorText, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import { createConversation, heldByOther } from "./conversation.js";
import { createForm } from "./form.js";
import { createHistory } from "./history.js";
import { createList, lastMessageOf } from "./list.js";
import { Live } from "./live.js";
import { statusMayMove } from "./messages.js";
import { createSupervisor } from "./supervisor.js";

const CHANNELS = ["messenger", "instagram"];
const CHANNEL_KEY = "desk.channel";
const SELECTED_KEY = "desk.selected"; // "<agent id>:<attention id>": a reload opens it again
const WINDOW_OPENING_KINDS = new Set(["text", "attachment", "reaction", "postback", "referral", "unsupported"]);
const DAY_MS = 86_400_000;

function rememberSelection(id) {
  try {
    if (id === null || id === undefined || !state.agent) window.sessionStorage.removeItem(SELECTED_KEY);
    else window.sessionStorage.setItem(SELECTED_KEY, `${state.agent.id}:${id}`);
  } catch {
    /* storage disabled: a reload starts with nothing selected */
  }
}

/** The attention this agent had on screen before a reload, if any. */
function savedSelection(agent) {
  try {
    const [agentId, attentionId] = (window.sessionStorage.getItem(SELECTED_KEY) || "").split(":");
    return agentId === String(agent.id) && /^\d+$/.test(attentionId || "") ? Number(attentionId) : null;
  } catch {
    return null;
  }
}

function savedChannel() {
  try {
    const saved = window.sessionStorage.getItem(CHANNEL_KEY);
    return CHANNELS.includes(saved) ? saved : "messenger";
  } catch {
    return "messenger";
  }
}

const state = {
  agent: null,
  channel: savedChannel(),
  lang: language(),
  items: new Map(), // attention id -> Summary (both channels)
  search: { query: "", results: null },
  selectedId: null,
  current: null, // {id, detail, messages (oldest first), hasMore} of the open attention on screen
  labels: null,
  terminating: null, // the attention whose Terminar atención is on its way
  terminatedShown: null,
};

// -- feedback ---------------------------------------------------------------------------

function toast(message, kind = "info") {
  const element = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  byId("toasts").append(element);
  setTimeout(() => element.classList.add("is-leaving"), 4500);
  setTimeout(() => element.remove(), 5000);
}

function reportError(problem) {
  if (!problem) return;
  if (problem.status === 401) return; // the login screen takes over
  toast(errorText(problem), "error"); // the catalogue's words for the API's code, never its English
}

// -- the summaries ----------------------------------------------------------------------

function defined(object) {
  return Object.fromEntries(Object.entries(object || {}).filter(([, value]) => value !== undefined));
}

/** Merge an attention from the server into the lists, or drop it: its `list` ("queued",
 * "open" or null) is the server's word on where it belongs for this agent (handoff.visibility). */
function upsert(attention, { keepUnread = true } = {}) {
  changedLive.add(attention.id);
  const existing = state.items.get(attention.id);
  if (!attention.list) {
    state.items.delete(attention.id);
    return null;
  }
  const merged = { ...(existing || {}), ...defined(attention) };
  if (existing && keepUnread) merged.unread = existing.unread;
  if (!merged.customer) merged.customer = { id: "", name: "" };
  state.items.set(attention.id, merged);
  return merged;
}

function updateCounts() {
  let queuedAll = 0;
  for (const channel of CHANNELS) {
    const queued = [...state.items.values()].filter((item) => item.channel === channel && item.list === "queued").length;
    queuedAll += queued;
    const badge = document.querySelector(`[data-channel-count="${channel}"]`);
    badge.hidden = queued === 0;
    badge.textContent = String(queued);
  }
  document.title = `${queuedAll ? `(${queuedAll}) ` : ""}${t("product")}`;
}

function renderList() {
  list.render();
  updateCounts();
}

/** Every summary of this agent's list, both channels in one answer (no channel filter). */
async function fetchSummaries() {
  return (await api.attentions()).attentions || [];
}

/** The open attentions among `items` that are this agent's own. */
function heldByMe(items) {
  return items.filter((item) => item.state === "open" && item.agent_id === state.agent?.id);
}

let listSerial = 0;
// Attentions a live frame changed (or removed) while a list request was on its way: the
// frame is newer than that answer, so the answer does not overwrite them.
const changedLive = new Set();
async function loadLists() {
  const serial = ++listSerial;
  changedLive.clear();
  const summaries = await fetchSummaries();
  if (serial !== listSerial) return;
  const previous = state.items;
  const unread = new Map([...previous.values()].map((item) => [item.id, item.unread]));
  state.items = new Map();
  for (const summary of summaries) {
    if (changedLive.has(summary.id)) {
      if (previous.has(summary.id)) state.items.set(summary.id, previous.get(summary.id));
      continue;
    }
    state.items.set(summary.id, { ...summary, unread: summary.unread ?? unread.get(summary.id) ?? 0 });
  }
  for (const id of changedLive) if (previous.has(id) && !state.items.has(id)) state.items.set(id, previous.get(id));
  changedLive.clear();
  // Drafts of attentions that are no longer mine (ended, transferred while away) go.
  drafts.keepOnly(state.agent?.id, heldByMe([...state.items.values()]).map((item) => item.id));
  renderList();
}

const reloadLists = debounce(() => loadLists().catch(reportError), 300);

// -- selection and the centre -------------------------------------------------------------

let selectSerial = 0;
const arrivedWhileLoading = new Map(); // attention id -> messages that came before its conversation was on screen

async function select(id, { force = false } = {}) {
  if (!force && state.selectedId === id && (state.current?.id === id || state.items.get(id)?.state === "queued")) return;
  const serial = ++selectSerial;
  state.selectedId = id;
  rememberSelection(id);
  const summary = state.items.get(id);
  renderList();
  if (!summary) {
    state.current = null;
    conversation.showEmpty(t("attentionGone", { id }));
    form.clear();
    return;
  }
  if (summary.state === "queued") {
    state.current = null;
    conversation.showQueued(summary);
    form.clear();
    return;
  }
  await loadOpen(id, serial);
}

async function loadOpen(id, serial = ++selectSerial) {
  try {
    const answer = await api.attention(id, { limit: 50, lang: state.lang });
    if (serial !== selectSerial) return;
    const detail = answer.attention;
    if (!upsert(detail)) {
      openGone(id); // in none of my lists now (ended, or moved away), as the server says
      return;
    }
    state.selectedId = id;
    const messages = answer.messages || [];
    // Messages that arrived live while this load was on its way (the answer may predate them).
    const known = new Set(messages.map((message) => message.id));
    for (const message of arrivedWhileLoading.get(id) || []) {
      if (!known.has(message.id) && (!messages.length || Number(message.id) > Number(messages[0].id))) messages.push(message);
    }
    arrivedWhileLoading.delete(id);
    messages.sort((a, b) => Number(a.id) - Number(b.id));
    state.current = { id, detail, messages, hasMore: Boolean(answer.has_more) };
    renderList();
    conversation.showOpen();
    form.render(detail);
  } catch (problem) {
    if (serial !== selectSerial) return;
    if (problem.status === 404 || problem.status === 403) openGone(id);
    else reportError(problem);
  }
}

function openGone(id) {
  state.items.delete(id);
  state.current = null;
  state.selectedId = null;
  renderList();
  conversation.showEmpty(t("attentionGone", { id }));
  form.clear();
}

async function take(id) {
  const summary = state.items.get(id);
  try {
    const answer = await api.open(id, state.lang);
    upsert(answer.attention);
    state.selectedId = id;
    await loadOpen(id);
  } catch (problem) {
    if (problem.status === 409 || problem.status === 404) {
      // The code says why: another agent took it, the customer cancelled, it ended.
      state.items.delete(id);
      if (state.selectedId === id) {
        state.current = null;
        conversation.showTaken(summary, errorText(problem));
        form.clear();
      }
      renderList();
      toast(errorText(problem), "warning");
    } else {
      reportError(problem);
    }
  }
}

function leaveSelection(notice) {
  arrivedWhileLoading.clear();
  state.current = null;
  state.selectedId = null;
  rememberSelection(null);
  conversation.showEmpty(notice);
  form.clear();
}

/** The agent pressed Terminar atención: its own "terminated" event is then no surprise. */
function terminating(id) {
  state.terminating = id;
}

function terminated(id) {
  if (state.terminatedShown === id) return;
  state.terminatedShown = id;
  state.terminating = null;
  state.items.delete(id);
  drafts.save(state.agent?.id, id, ""); // its draft has nobody to go to now
  if (state.selectedId === id) leaveSelection(t("terminated", { id }));
  renderList();
  list.refreshSearch();
  toast(t("terminated", { id }), "success");
}

// -- messages -----------------------------------------------------------------------------

function advanceWindow(detail, message) {
  if (message.direction !== "in" || message.author !== "customer" || !WINDOW_OPENING_KINDS.has(message.kind)) return false;
  const at = Date.parse(message.sent_at || message.created_at || "");
  if (!Number.isFinite(at)) return false;
  const window_ = { ...(detail.window || {}) };
  const until = at + DAY_MS;
  if (window_.response_until && Date.parse(window_.response_until) >= until) return false;
  window_.last_customer_message_at = new Date(at).toISOString();
  window_.response_until = new Date(until).toISOString();
  if (window_.human_agent_allowed) window_.human_agent_until = new Date(at + 7 * DAY_MS).toISOString();
  detail.window = window_;
  return true;
}

/** A message from the API or the WebSocket: into the conversation on screen and the list. */
function messageArrived(message, { isNew = true } = {}) {
  if (!message || message.attention_id === undefined) return;
  const current = state.current;
  let shownOpen = false;
  if (state.selectedId === message.attention_id && (!current || current.id !== message.attention_id)) {
    const waiting = arrivedWhileLoading.get(message.attention_id) || [];
    waiting.push(message);
    arrivedWhileLoading.set(message.attention_id, waiting.slice(-200));
  }
  if (current && current.id === message.attention_id) {
    shownOpen = true;
    const index = current.messages.findIndex((known) => known.id === message.id);
    if (index >= 0) {
      const previous = current.messages[index];
      if (statusMayMove(previous.status, message.status)) {
        current.messages[index] = { ...previous, ...defined(message) };
        conversation.updated(current.messages[index]);
      }
    } else {
      current.messages.push(message);
      current.messages.sort((a, b) => Number(a.id) - Number(b.id));
      if (advanceWindow(current.detail, message)) conversation.relock();
      conversation.added(message);
    }
  }
  const item = state.items.get(message.attention_id);
  if (item && isNew) {
    changedLive.add(item.id);
    const last = item.last_message;
    const lastAt = Date.parse(last?.at || "") || 0;
    const at = message.created_at || new Date().toISOString();
    if (!last || Date.parse(at) >= lastAt || last.id === message.id) {
      item.last_message = lastMessageOf(message, at);
    }
    const seen = shownOpen && document.visibilityState === "visible";
    if (message.direction === "in" && !seen && !item._counted?.has(message.id)) {
      item._counted = item._counted || new Set();
      item._counted.add(message.id);
      item.unread = (Number(item.unread) || 0) + 1;
    }
    renderList();
  }
}

async function send(id, content) {
  try {
    const answer = await api.send(id, content);
    for (const message of answer.messages) messageArrived(message, { isNew: true }); // the file, then its caption
    return answer;
  } catch (problem) {
    if (problem.status === 409 && problem.body.window_closed && state.current?.id === id) {
      state.current.detail.window = { ...(state.current.detail.window || {}), response_until: new Date(0).toISOString(), human_agent_until: null };
      conversation.relock();
      toast(t("windowClosed"), "warning");
    } else if (problem.status === 409) {
      toast(t("conflict"), "warning");
      await select(id, { force: true });
    } else {
      toast(t("sendFailed", { reason: errorText(problem) }), "error");
    }
    return false;
  }
}

/** The type the upload was stored as (uploads.kind_of), else what the file's type says. */
function attachmentType(file, uploaded) {
  if (uploaded && ["image", "video", "audio", "file"].includes(uploaded.type)) return uploaded.type;
  return attachmentKind(file);
}

/** Upload the file, then send it with its caption (the server sends the caption as the next
 * text message). {captionSent} when the file went out; null when nothing was sent. */
async function sendFile(id, file, caption = "") {
  let uploaded;
  try {
    uploaded = await api.upload(file);
  } catch (problem) {
    toast(t("uploadFailed", { reason: errorText(problem) }), "error");
    return null;
  }
  const content = { attachment: { type: attachmentType(file, uploaded), url: uploaded.url, filename: file.name } };
  if (caption) content.text = caption;
  const answer = await send(id, content);
  if (!answer) return null;
  return { captionSent: !caption || answer.messages.length > 1 };
}

async function retry(message) {
  try {
    const answer = await api.retry(message.id);
    messageArrived(answer.message, { isNew: false });
  } catch (problem) {
    if (problem.status === 409 && problem.body.window_closed) toast(t("windowClosed"), "warning");
    else reportError(problem);
  }
}

function clearUnread(id) {
  const item = state.items.get(id);
  if (item && item.unread) {
    item.unread = 0;
    renderList();
  }
}

// -- labels -------------------------------------------------------------------------------

async function labels() {
  try {
    const answer = await api.labels();
    state.labels = answer.labels || [];
  } catch (problem) {
    reportError(problem);
  }
  return state.labels || [];
}

async function toggleLabel(id, labelId, apply) {
  try {
    const answer = apply ? await api.applyLabel(id, labelId) : await api.removeLabel(id, labelId);
    const detail = answer.attention;
    upsert(detail);
    if (state.current?.id === id) {
      state.current.detail = { ...state.current.detail, labels: detail.labels || [] };
      conversation.labelsChanged();
    }
    renderList();
  } catch (problem) {
    reportError(problem);
  }
}

/** A supervisor changed the labels: the next label menu reads them again. */
function labelsChanged() {
  state.labels = null;
}

// -- transfer and outbound ------------------------------------------------------------------

/** Transferir: {campaign_id} (back to that campaign's queue) or {agent_id}. */
async function transfer(id, target) {
  try {
    const answer = await api.transfer(id, target);
    const after = upsert(answer.attention);
    if (!after || after.agent_id !== state.agent?.id) drafts.save(state.agent?.id, id, ""); // no longer mine to answer
    if (state.selectedId === id) {
      if (!after) leaveSelection(t("transferredAway", { id }));
      else select(id, { force: true });
    }
    renderList();
    list.refreshSearch();
    toast(t("transferDone", { id }), "success");
    return true;
  } catch (problem) {
    if (problem.status === 409 || problem.status === 400 || problem.status === 422) toast(t("transferFailed", { reason: errorText(problem) }), "warning");
    else reportError(problem);
    return false;
  }
}

/** "Nueva atención" from a history item: the server opens it for me (errors go to the caller).
 * It writes to a customer who did not ask, so it asks first; null when the agent cancels. */
async function startOutbound(historyId, item = null) {
  const name = item?.customer?.name || item?.customer?.id || "";
  const sure = await confirmDialog({
    id: "outbound-dialog",
    title: t("outboundConfirmTitle"),
    subject: name ? t("outboundConfirmSubject", { name, id: historyId }) : `#${historyId}`,
    body: t("outboundConfirmBody"),
    actions: [
      { value: "cancel", label: t("cancel"), focus: true },
      { value: "confirm", label: t("outboundConfirm"), kind: "primary", id: "outbound-confirm" },
    ],
  });
  if (!sure) return null;
  const answer = await api.startOutbound(historyId);
  const detail = answer.attention;
  upsert(detail);
  if (detail.channel !== state.channel) setChannel(detail.channel);
  renderList();
  await select(detail.id, { force: true });
  toast(t("outboundStarted", { id: detail.id }), "success");
  return detail;
}

// -- live events ----------------------------------------------------------------------------

function attentionEvent(event) {
  const attention = event.attention;
  if (!attention || attention.id === undefined) {
    reloadLists();
    return;
  }
  if (event.type === "attention.terminated" && state.terminating === attention.id) {
    terminated(attention.id);
    return;
  }
  const before = state.items.get(attention.id);
  const after = upsert(attention);
  if (after && !before && !attention.customer) reloadLists(); // a bare attention: fetch its summary
  const me = state.agent?.id;
  // No longer mine to answer (transferred, released, returned): its draft goes now, whether
  // this frame or the action's own answer comes first.
  if (before && before.agent_id === me && after?.agent_id !== me) drafts.save(me, attention.id, "");
  // What this agent did is told once, by the action's own handler (transfer, logout...), not
  // a second time when its live event comes back.
  const mine = me !== undefined && event.actor?.agent_id === me;
  if (after && after.state === "open" && event.type === "attention.transferred" && after.agent_id === me && before?.agent_id !== me && !mine) {
    toast(t("transferredToYou", { id: attention.id }), "info");
  }
  if (after && after.state === "queued" && event.type === "attention.returned" && !before && !mine) {
    toast(t("attentionBackInQueue", { id: attention.id }), "warning");
  }
  if (state.selectedId === attention.id) {
    if (!after) {
      if (event.type === "attention.opened" && attention.agent_id !== me) {
        state.current = null;
        conversation.showTaken(before || attention);
        form.clear();
      } else if (event.type === "attention.terminated" && event.reason === "customer_cancelled") {
        // The customer gave up waiting: said so where the Tomar button was, not "taken".
        state.current = null;
        state.selectedId = null;
        conversation.showTaken(before || attention, t("error.attention.cancelled_by_customer"));
        form.clear();
      } else if (event.type !== "attention.terminated" || state.current) {
        leaveSelection(t("attentionGone", { id: attention.id }));
      }
    } else if (after.state === "queued") {
      if (state.current) {
        state.current = null;
        form.clear();
        if (!mine) toast(t("attentionReturned", { id: attention.id }), "warning");
      }
      conversation.showQueued(after);
    } else if (after.state === "open" && state.current?.id === attention.id) {
      const detail = state.current.detail;
      const wasReadOnly = heldByOther(detail, state.agent);
      state.current.detail = { ...detail, ...defined(attention), campaign: detail.campaign, window: detail.window,
        context: detail.context, customer: attention.customer || detail.customer, form: detail.form };
      if (wasReadOnly !== heldByOther(state.current.detail, state.agent)) {
        // It became (or stopped being) this supervisor's own: composer and form follow.
        conversation.showOpen();
        form.render(state.current.detail);
      } else {
        conversation.labelsChanged();
      }
    } else if (after.state === "open" && !state.current) {
      select(attention.id, { force: true });
    }
  }
  renderList();
  list.refreshSearch();
}

function liveEvent(event) {
  if (event.type === "message.added") messageArrived(event.message, { isNew: true });
  else if (event.type === "message.updated") messageArrived(event.message, { isNew: false });
  else if (event.type.startsWith("attention.")) attentionEvent(event);
  else if (event.type === "resync") reloadLists(); // the server dropped frames for this tab
  else if (event.type === "ready") {
    // The server subscribes this socket just before "ready": read the list again so nothing
    // that happened between the first load and the subscription is missing.
    loadLists().catch(reportError);
  }
}

function liveStatus(status) {
  const element = byId("live-status");
  element.dataset.state = status;
  element.textContent = status === "live" ? t("live") : status === "off" ? "" : t("reconnecting");
}

const live = new Live({
  onEvent: liveEvent,
  onStatus: liveStatus,
  onResync: () => {
    loadLists()
      .then(() => {
        if (state.selectedId !== null) select(state.selectedId, { force: true });
      })
      .catch(reportError);
  },
  onAuthFailed: (code) => sessionOver(code && code !== "auth.unauthorized" ? errorText({ code }) : t("sessionExpired")),
});

// -- channel, language, screens -------------------------------------------------------------

function setChannel(channel) {
  if (!CHANNELS.includes(channel)) return;
  state.channel = channel;
  try {
    window.sessionStorage.setItem(CHANNEL_KEY, channel);
  } catch {
    /* ignore */
  }
  document.body.dataset.channel = channel;
  for (const tab of document.querySelectorAll("[data-channel-choice]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.channelChoice === channel));
  }
  list.resetSearch();
  const selected = state.selectedId !== null ? state.items.get(state.selectedId) : null;
  if (!selected || selected.channel !== channel) leaveSelection();
  form.setTitle();
  renderList();
}

function showScreen(name) {
  document.body.dataset.screen = name;
  byId("login-screen").hidden = name !== "login";
  byId("desk-screen").hidden = name !== "desk";
}

function showLogin(message) {
  showScreen("login");
  const error = byId("login-error");
  error.hidden = !message;
  error.textContent = message || "";
  byId("login-password").value = "";
  byId("login-username").focus();
}

function showRole(agent) {
  const supervisor = agent?.role === "supervisor";
  for (const element of document.querySelectorAll(".supervisor-only")) element.hidden = !supervisor;
}

function closePanels() {
  history.close();
  supervisor.close();
}

function resetState() {
  state.agent = null;
  state.items = new Map();
  state.current = null;
  state.selectedId = null;
  state.labels = null;
  state.search = { query: "", results: null };
  showRole(null);
  closePanels();
}

function sessionOver(message) {
  live.stop();
  api.forget();
  resetState();
  conversation.stopTimer();
  showLogin(message);
}

async function startDesk(agent) {
  state.agent = agent;
  byId("agent-name-text").textContent = agent.display_name || agent.username || "";
  byId("agent-name").title = `${agent.username || ""}${agent.role === "supervisor" ? " · supervisor" : ""}`;
  showRole(agent);
  showScreen("desk");
  const before = savedSelection(agent); // read before leaveSelection forgets it
  setChannel(state.channel);
  leaveSelection();
  try {
    await loadLists();
  } catch (problem) {
    reportError(problem);
  }
  live.start();
  // A reload opens the attention that was on screen (its draft comes back with its composer).
  const saved = before !== null ? state.items.get(before) : null;
  if (saved) {
    if (saved.channel !== state.channel) setChannel(saved.channel);
    await select(saved.id);
  }
}

/** A display name for an agent id (supervisors' read-only view says whose attention it is). */
const agentNames = new Map();
async function agentName(id) {
  if (id === null || id === undefined) return null;
  if (!agentNames.has(id) && state.agent?.role === "supervisor") {
    try {
      for (const agent of (await api.agents()).agents || []) agentNames.set(agent.id, agent.display_name || agent.username);
    } catch {
      return null; // the notice keeps "another agent"
    }
  }
  return agentNames.get(id) || null;
}

async function login(event) {
  event.preventDefault();
  const username = byId("login-username").value.trim();
  const password = byId("login-password").value;
  const button = byId("login-submit");
  const error = byId("login-error");
  if (!username || !password) {
    error.hidden = false;
    error.textContent = t("loginFailed");
    return;
  }
  button.disabled = true;
  button.textContent = t("signingIn");
  try {
    const answer = await api.login(username, password);
    error.hidden = true;
    await startDesk(answer.agent);
  } catch (problem) {
    error.hidden = false;
    error.textContent = problem.status === 401 ? t("loginFailed") : problem.status === 429 ? t("loginThrottled") : errorText(problem);
  } finally {
    button.disabled = false;
    button.textContent = t("signIn");
  }
}

/** Salir. With open attentions the agent chooses: hand them back to the queue and leave,
 * leave anyway (they stay theirs until the campaign's orphan timeout), or stay. */
async function logout() {
  const me = state.agent?.id;
  // Counted from the server's lists, not whatever is on screen: a click right after a
  // reload, before the lists arrive, must still warn about the attentions it leaves.
  let listed = [...state.items.values()];
  try {
    listed = await fetchSummaries();
  } catch {
    /* offline: what is on screen is the best count there is */
  }
  const held = heldByMe(listed);
  let returnToQueue = false;
  if (held.length) {
    const choice = await confirmDialog({
      id: "logout-dialog",
      title: t("logoutConfirmTitle"),
      subject: t(held.length === 1 ? "logoutHeldOne" : "logoutHeldMany", { n: held.length }),
      body: t("logoutConfirmBody"),
      note: t("logoutConfirmNote"),
      actions: [
        { value: "return", label: t("logoutReturn"), kind: "primary", id: "logout-return" },
        { value: "leave", label: t("logoutAnyway"), id: "logout-anyway" },
        { value: "cancel", label: t("logoutStay"), id: "logout-stay", focus: true },
      ],
    });
    if (!choice) return;
    returnToQueue = choice === "return";
  }
  if (returnToQueue) {
    try {
      await api.logout(true);
    } catch (problem) {
      // Nothing was handed back: the agent is still here, and decides again.
      if (problem.status !== 401) toast(t("logoutReturnFailed", { reason: errorText(problem) }), "error");
      return;
    }
    live.stop();
  } else {
    live.stop();
    try {
      await api.logout();
    } catch {
      api.forget();
    }
  }
  drafts.forget(me);
  rememberSelection(null);
  resetState();
  conversation.stopTimer();
  showLogin();
}

// -- wiring ---------------------------------------------------------------------------------

// Each pane gets the state and only the actions it uses.
const list = createList({ state, reportError, select });
const conversation = createConversation({
  state, reportError, toast, take, send, sendFile, retry, labels, toggleLabel, clearUnread, transfer, agentName,
});
const form = createForm({ state, reportError, terminating, terminated });
const history = createHistory({ state, startOutbound });
const supervisor = createSupervisor({ state, reportError, toast, labelsChanged });

onUnauthorised(() => {
  if (state.agent) sessionOver(t("sessionExpired"));
});

onLanguageChange(async (lang) => {
  state.lang = lang;
  liveStatus(byId("live-status").dataset.state);
  history.languageChanged();
  supervisor.languageChanged();
  form.setTitle();
  renderList();
  if (state.current) {
    const current = state.current;
    try {
      const answer = await api.attention(current.id, { limit: 1, lang });
      if (state.current !== current) return;
      current.detail = { ...current.detail, campaign: answer.attention.campaign };
    } catch (problem) {
      reportError(problem);
    }
    conversation.showOpen();
    form.relabel(current.detail);
  } else if (state.selectedId !== null && state.items.get(state.selectedId)?.state === "queued") {
    conversation.showQueued(state.items.get(state.selectedId));
  } else if (document.body.dataset.screen === "desk") {
    conversation.showEmpty();
    form.clear();
  }
});

for (const button of document.querySelectorAll("[data-lang-choice]")) {
  button.addEventListener("click", () => setLanguage(button.dataset.langChoice));
}
for (const tab of document.querySelectorAll("[data-channel-choice]")) {
  tab.addEventListener("click", () => setChannel(tab.dataset.channelChoice));
}
byId("login-form").addEventListener("submit", login);
byId("logout-button").addEventListener("click", logout);
byId("history-button").addEventListener("click", () => history.open());
byId("supervisor-button").addEventListener("click", () => supervisor.open());
byId("labels-admin-button").addEventListener("click", () => supervisor.openLabels());
for (const button of document.querySelectorAll("dialog [data-close]")) {
  button.addEventListener("click", () => button.closest("dialog").close());
}

async function boot() {
  applyStatic(document);
  document.body.dataset.channel = state.channel;
  form.clear();
  conversation.showEmpty();
  if (!token()) {
    showLogin();
    return;
  }
  try {
    const answer = await api.me();
    await startDesk(answer.agent);
  } catch (problem) {
    api.forget();
    showLogin(problem.status === 401 ? t("sessionExpired") : null);
  }
}

boot();
