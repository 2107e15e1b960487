// Historial: terminated attentions, searched by one keyword plus filters (dates, campaign,
// label, agent), paged with "Cargar más". Each item opens its detail (the bot's context,
// the messages, the form with its labels, the audit trail) and, on Messenger, starts a new
// outbound attention with the same customer (Instagram does not let a business write first).

import { api } from "./api.js";
import { avatar, byId, clear, h, icon, labelChip } from "./dom.js";
import { errorText, fullTime, t } from "./i18n.js";
import { renderContextEntry, renderMessage } from "./messages.js";

const PAGE_SIZE = 20;

function option(value, label, selected) {
  const element = h("option", { value }, label);
  if (selected) element.selected = true;
  return element;
}

function valueText(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** One audit-trail line as text: what happened, who did it. */
export function trailText(entry, item) {
  const actor = entry.actor || {};
  const who = actor.name || (actor.kind === "bot" ? t("author_bot") : actor.kind === "system" ? t("system") : actor.agent_id ? `#${actor.agent_id}` : t("system"));
  switch (entry.action) {
    case "queued": {
      // Which routing rule of data/campaigns.yml chose the campaign (older attentions: unknown).
      const campaign = entry.campaign_name || item.campaign_name || item.campaign_id || "";
      const detail = entry.detail || {};
      if (Number.isInteger(detail.routing_rule)) return t("trail_queued_by_rule", { campaign, rule: detail.routing_rule });
      if ("routing_rule" in detail) return t("trail_queued_by_default", { campaign });
      return t("trail_queued", { campaign });
    }
    case "open":
      return t("trail_open", { who });
    case "transfer_to_agent":
      return t("trail_transfer_agent", { from: entry.from_agent_name || "—", to: entry.to_agent_name || "—", who });
    case "transfer_to_campaign":
      return t("trail_transfer_campaign", { from: entry.from_campaign_name || "—", to: entry.to_campaign_name || "—", who });
    case "release":
      return t("trail_release", { who });
    case "return_orphan":
      return t("trail_return_orphan", { from: entry.from_agent_name || "—" });
    case "terminate":
      return entry.reason === "customer_cancelled" ? t("trail_customer_cancelled") : t("trail_terminate", { who });
    case "label_applied":
      return t("trail_label_applied", { label: entry.detail?.label || "", who });
    case "label_removed":
      return t("trail_label_removed", { label: entry.detail?.label || "", who });
    case "form_saved":
      return t("trail_form_saved", { who });
    case "started_outbound":
      return t("trail_outbound", { who });
    default:
      return `${entry.action} · ${who}`;
  }
}

export function createHistory(ctx) {
  const { state } = ctx;
  const dialog = byId("history-dialog");
  const filters = byId("history-filters");
  const list = byId("history-list");
  const more = byId("history-more");
  const empty = byId("history-empty");
  const errorBox = byId("history-error");
  const searchView = byId("history-search-view");
  const detailView = byId("history-detail");
  let cursor = null;
  let serial = 0;
  let optionsLoaded = false;
  let detailId = null;

  function query() {
    return {
      q: byId("history-q").value.trim(),
      from: byId("history-from").value,
      to: byId("history-to").value,
      campaign_id: byId("history-campaign").value,
      label_id: byId("history-label").value,
      agent_id: state.agent?.role === "supervisor" ? byId("history-agent").value : "",
    };
  }

  function showError(message) {
    errorBox.hidden = !message;
    errorBox.textContent = message || "";
  }

  async function loadOptions() {
    const supervisor = state.agent?.role === "supervisor";
    byId("history-agent-filter").hidden = !supervisor;
    const [campaigns, labels, agents] = await Promise.all([
      api.campaigns().catch(() => ({ campaigns: [] })),
      api.labels().catch(() => ({ labels: [] })),
      supervisor ? api.agents().catch(() => ({ agents: [] })) : Promise.resolve({ agents: [] }),
    ]);
    const mine = (campaigns.campaigns || []).filter((campaign) => supervisor || (state.agent?.campaigns || []).includes(campaign.id));
    const keep = (select) => select.value;
    const campaignSelect = byId("history-campaign");
    const labelSelect = byId("history-label");
    const agentSelect = byId("history-agent");
    const [campaignNow, labelNow, agentNow] = [keep(campaignSelect), keep(labelSelect), keep(agentSelect)];
    clear(campaignSelect).append(option("", t("allCampaigns")), ...mine.map((campaign) => option(campaign.id, campaign.name || campaign.id, campaign.id === campaignNow)));
    clear(labelSelect).append(option("", t("allLabels")), ...(labels.labels || []).map((label) => option(String(label.id), label.name, String(label.id) === labelNow)));
    clear(agentSelect).append(option("", t("allAgents")), ...(agents.agents || []).map((agent) => option(String(agent.id), agent.display_name || agent.username, String(agent.id) === agentNow)));
    optionsLoaded = true;
  }

  function typeBadge(direction) {
    return h("span", { class: "history-type", "data-value": direction }, direction === "outbound" ? t("outbound") : t("inbound"));
  }

  function outboundControl(item, { large = false } = {}) {
    if (item.channel !== "messenger") {
      return h("span", { class: "history-no-outbound", title: t("outboundInstagram") }, icon("lock", "icon small"), h("span", {}, t("outboundMessengerOnly")));
    }
    const button = h("button", { type: "button", class: `button ${large ? "primary" : ""} history-outbound`, "data-action": "outbound", title: t("newAttentionHint") },
      icon("send", "icon small"), h("span", {}, t("newAttention")));
    button.addEventListener("click", async (event) => {
      event.stopPropagation();
      button.disabled = true;
      showError(null);
      try {
        if (await ctx.startOutbound(item.id, item)) close(); // null: the agent did not confirm
      } catch (problem) {
        const message = errorText(problem); // outbound.window_closed, customer.busy, …
        showError(message);
        if (!detailView.hidden) byId("history-detail-error").textContent = message;
        if (!detailView.hidden) byId("history-detail-error").hidden = false;
      } finally {
        if (button.isConnected) button.disabled = false;
      }
    });
    return button;
  }

  function renderItem(item) {
    const customer = item.customer || {};
    const view = h("button", { type: "button", class: "button history-view", "data-action": "detail" }, t("viewDetail"));
    view.addEventListener("click", () => showDetail(item.id));
    return h("li", { class: "history-item", "data-id": item.id, "data-channel": item.channel },
      avatar(customer),
      h("div", { class: "history-main" },
        h("div", { class: "history-name-row" },
          h("span", { class: "history-name" }, customer.name || customer.id || "—"),
          h("span", { class: "history-id" }, `#${item.id}`)),
        h("div", { class: "history-meta" },
          h("span", { class: "history-campaign" }, item.campaign_name || item.campaign_id || ""),
          h("span", { class: "history-channel", "data-channel": item.channel }, icon(item.channel === "instagram" ? "instagram" : "messenger", "icon small"), h("span", {}, t(item.channel))),
          typeBadge(item.direction),
          item.agent ? h("span", { class: "history-agent" }, icon("user", "icon small"), h("span", {}, item.agent.display_name || "")) : null),
        (item.labels || []).length ? h("div", { class: "chips" }, item.labels.map((label) => labelChip(label))) : null),
      h("div", { class: "history-side" },
        h("time", { class: "history-ended", datetime: item.ended_at || "", title: t("endedAt") }, fullTime(item.ended_at)),
        h("div", { class: "history-actions" }, view, outboundControl(item))));
  }

  async function search({ append = false } = {}) {
    const mine = ++serial;
    showError(null);
    more.disabled = true;
    try {
      if (!optionsLoaded) await loadOptions();
      const answer = await api.history({ ...query(), cursor: append ? cursor : null, limit: PAGE_SIZE });
      if (mine !== serial) return;
      if (!append) clear(list);
      list.append(...(answer.items || []).map(renderItem));
      cursor = answer.next_cursor ?? null;
      more.hidden = cursor === null;
      empty.hidden = list.children.length > 0;
    } catch (problem) {
      if (mine !== serial) return;
      showError(problem.status === 400 ? t("historyBadFilter", { reason: errorText(problem) }) : errorText(problem));
    } finally {
      more.disabled = false;
    }
  }

  async function showDetail(id) {
    detailId = id;
    searchView.hidden = true;
    detailView.hidden = false;
    clear(detailView).append(h("p", { class: "popover-empty" }, t("loading")));
    let answer;
    try {
      answer = await api.historyItem(id, state.lang);
    } catch (problem) {
      clear(detailView).append(backButton(), h("p", { class: "form-error", role: "alert" }, errorText(problem)));
      return;
    }
    const item = answer.item;
    const customer = item.customer || {};
    const transcript = h("div", { class: "timeline history-timeline", id: "history-transcript" });
    if ((item.context || []).length) {
      transcript.append(h("section", { class: "context", "aria-label": t("contextTitle") },
        h("div", { class: "context-title" }, icon("bot", "icon small"), h("span", {}, t("contextTitle"))),
        item.context.map(renderContextEntry)));
      transcript.append(h("div", { class: "human-divider" }, h("span", {}, t("humanTitle"))));
    }
    if (answer.has_more) transcript.append(h("p", { class: "history-note" }, t("historyTruncated")));
    for (const message of answer.messages || []) transcript.append(renderMessage(message));
    if (!(answer.messages || []).length) transcript.append(h("p", { class: "history-note" }, t("historyNoMessages")));

    // value_label: a choice shown by its option's label ("Cotización"), not its stored id.
    const fields = item.form_fields || [];
    const form = h("dl", { class: "history-form", id: "history-form-values" },
      fields.map((field) => h("div", { class: "history-field", "data-field": field.id },
        h("dt", {}, field.label || field.id), h("dd", {}, valueText(field.value_label ?? field.value)))));
    const trail = h("ol", { class: "history-trail", id: "history-trail" },
      (item.trail || []).map((entry) => h("li", { "data-action": entry.action },
        h("time", { datetime: entry.at || "" }, fullTime(entry.at)),
        h("span", { class: "trail-text" }, trailText(entry, item)),
        entry.detail?.note ? h("span", { class: "trail-note" }, `“${entry.detail.note}”`) : null)));

    clear(detailView).append(
      backButton(),
      h("header", { class: "history-detail-head", "data-id": item.id },
        avatar(customer, "lg"),
        h("div", { class: "history-main" },
          h("div", { class: "history-name-row" }, h("h3", { class: "history-name" }, customer.name || customer.id || "—"), h("span", { class: "history-id" }, `#${item.id}`)),
          h("div", { class: "history-meta" },
            h("span", { class: "history-campaign" }, item.campaign_name || item.campaign_id || ""),
            h("span", { class: "history-channel", "data-channel": item.channel }, icon(item.channel === "instagram" ? "instagram" : "messenger", "icon small"), h("span", {}, t(item.channel))),
            typeBadge(item.direction),
            h("span", { class: "history-ended" }, t("endedOn", { time: fullTime(item.ended_at) }))),
          (item.labels || []).length ? h("div", { class: "chips" }, item.labels.map((label) => labelChip(label))) : null),
        h("div", { class: "history-actions" }, outboundControl(item, { large: true }))),
      h("p", { class: "form-error", id: "history-detail-error", role: "alert", hidden: true }),
      h("div", { class: "history-detail-grid" },
        h("section", { class: "history-section history-transcript-box" }, h("h4", {}, t("transcript")), transcript),
        h("div", { class: "history-side-col" },
          h("section", { class: "history-section" }, h("h4", {}, t("formValues")), fields.length ? form : h("p", { class: "history-note" }, t("formNone"))),
          h("section", { class: "history-section" }, h("h4", {}, t("auditTrail")), trail))),
    );
  }

  function backButton() {
    const back = h("button", { type: "button", class: "button ghost history-back", id: "history-back" }, `← ${t("backToHistory")}`);
    back.addEventListener("click", () => {
      detailId = null;
      detailView.hidden = true;
      clear(detailView);
      searchView.hidden = false;
    });
    return back;
  }

  function open() {
    detailId = null;
    detailView.hidden = true;
    searchView.hidden = false;
    showError(null);
    optionsLoaded = false;
    if (!dialog.open) dialog.showModal();
    search();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  byId("history-reset").addEventListener("click", () => {
    filters.reset();
    search();
  });
  for (const id of ["history-campaign", "history-label", "history-agent", "history-from", "history-to"]) {
    byId(id).addEventListener("change", () => search());
  }
  more.addEventListener("click", () => search({ append: true }));

  /** The language changed: labels of the options, the items and the detail follow. */
  function languageChanged() {
    optionsLoaded = false;
    if (!dialog.open) return;
    if (!detailView.hidden && detailId !== null) showDetail(detailId);
    else search();
  }

  return { open, close, languageChanged };
}
