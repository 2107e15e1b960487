// The desk's REST API (docs/desk-api.md): one fetch wrapper with the agent's token.

export const BASE = "/webhooks/desk";
const API = `${BASE}/api`;
const TOKEN_KEY = "desk.token";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }

  /** Per-field messages of a 422 ({field id: message}). */
  get fields() {
    return this.body.fields && typeof this.body.fields === "object" ? this.body.fields : {};
  }

  /** What happened, for the catalogue (i18n.js errorText): a stable code and its parameters. */
  get code() {
    return typeof this.body.code === "string" ? this.body.code : null;
  }

  get params() {
    return this.body.params && typeof this.body.params === "object" ? this.body.params : {};
  }

  /** Per-field errors of a 422 as codes ({field id: {code, params}}). */
  get fieldErrors() {
    return this.body.field_errors && typeof this.body.field_errors === "object" ? this.body.field_errors : {};
  }
}

let unauthorisedHandler = () => {};

export function onUnauthorised(handler) {
  unauthorisedHandler = handler;
}

export function token() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(value) {
  try {
    if (value) window.sessionStorage.setItem(TOKEN_KEY, value);
    else window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the session lasts for this page */
  }
}

async function request(method, path, { body, form, auth = true, query } = {}) {
  const headers = { Accept: "application/json" };
  if (auth) {
    const current = token();
    if (current) headers.Authorization = `Bearer ${current}`;
  }
  let payload;
  if (form) {
    payload = form;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let url = `${API}${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
  } catch (problem) {
    throw new ApiError(0, { error: problem.message || "network error" });
  }
  let data = null;
  if (response.status !== 204) {
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { error: text.slice(0, 200) };
      }
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && auth) unauthorisedHandler(error);
    throw error;
  }
  return data;
}

export const api = {
  async login(username, password) {
    const answer = await request("POST", "/login", { body: { username, password }, auth: false });
    storeToken(answer.token);
    return answer;
  },
  /** Log out; returnToQueue first hands the agent's open attentions back to their queues. */
  async logout(returnToQueue = false) {
    if (returnToQueue) {
      // On failure the agent is still signed in (nothing was handed back) and may try again.
      await request("POST", "/logout", { body: { return_to_queue: true } });
      storeToken(null);
      return;
    }
    try {
      await request("POST", "/logout");
    } finally {
      storeToken(null);
    }
  },
  forget() {
    storeToken(null);
  },
  me: () => request("GET", "/me"),
  attentions: (channel, q) => request("GET", "/attentions", { query: { channel, q } }),
  attention: (id, { before, limit, lang } = {}) => request("GET", `/attentions/${encodeURIComponent(id)}`, { query: { before, limit, lang } }),
  open: (id, lang) => request("POST", `/attentions/${encodeURIComponent(id)}/open`, { body: {}, query: { lang } }),
  send: (id, content) => request("POST", `/attentions/${encodeURIComponent(id)}/messages`, { body: content }),
  upload(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    return request("POST", "/uploads", { form });
  },
  retry: (messageId) => request("POST", `/messages/${encodeURIComponent(messageId)}/retry`, { body: {} }),
  saveForm: (id, values) => request("PUT", `/attentions/${encodeURIComponent(id)}/form`, { body: { values } }),
  terminate: (id, values) => request("POST", `/attentions/${encodeURIComponent(id)}/terminate`, { body: { values } }),
  markRead: (id, upTo) => request("POST", `/attentions/${encodeURIComponent(id)}/read`, { body: { up_to_message_id: upTo } }),
  labels: () => request("GET", "/labels"),
  applyLabel: (id, labelId) => request("POST", `/attentions/${encodeURIComponent(id)}/labels/${encodeURIComponent(labelId)}`),
  transferTargets: (id) => request("GET", `/attentions/${encodeURIComponent(id)}/transfer-targets`),
  transfer: (id, target) => request("POST", `/attentions/${encodeURIComponent(id)}/transfer`, { body: target }),
  history: (filters = {}) => request("GET", "/history", { query: filters }),
  historyItem: (id, lang) => request("GET", `/history/${encodeURIComponent(id)}`, { query: { lang } }),
  startOutbound: (id, campaignId) => request("POST", `/history/${encodeURIComponent(id)}/outbound`, { body: campaignId ? { campaign_id: campaignId } : {} }),
  allLabels: () => request("GET", "/labels", { query: { all: "true" } }),
  createLabel: (name, colour) => request("POST", "/labels", { body: { name, colour } }),
  updateLabel: (id, changes) => request("PATCH", `/labels/${encodeURIComponent(id)}`, { body: changes }),
  campaigns: () => request("GET", "/campaigns"),
  agents: () => request("GET", "/agents"),
  createAgent: (account) => request("POST", "/agents", { body: account }),
  updateAgent: (id, changes) => request("PATCH", `/agents/${encodeURIComponent(id)}`, { body: changes }),
  overview: () => request("GET", "/supervisor/overview"),
  removeLabel: (id, labelId) => request("DELETE", `/attentions/${encodeURIComponent(id)}/labels/${encodeURIComponent(labelId)}`),
};

/** The WebSocket URL for live updates (same host, ws/wss by the page's scheme). No token:
 * URLs end up in proxies' logs, so it goes in the socket's first frame (live.js). */
export function liveUrl() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${BASE}/ws`;
}
