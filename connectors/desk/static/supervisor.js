// Supervisors only: "Supervisión" (per campaign the queue and its oldest wait, open
// attentions per agent, who is online; agents: create, activate, deactivate) and the
// "Etiquetas" admin dialog (create with a colour, rename, recolour, retire, restore).
// The server checks the role on every call; the page only hides what an agent cannot use.

import { api } from "./api.js";
import { byId, clear, h, labelChip } from "./dom.js";
import { clockTime, errorText, fieldErrorTexts, t } from "./i18n.js";

const REFRESH_MS = 10_000;
const COLOUR = /^#[0-9a-f]{6}$/i;

/** A waiting time in seconds as "45 s", "12 min", "2 h 05 min". */
export function waited(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
  const total = Math.max(0, Math.floor(Number(seconds)));
  if (total < 60) return `${total} s`;
  if (total < 3600) return `${Math.floor(total / 60)} min`;
  return `${Math.floor(total / 3600)} h ${String(Math.floor((total % 3600) / 60)).padStart(2, "0")} min`;
}

function problemText(problem) {
  const fields = Object.values(fieldErrorTexts(problem));
  return fields.length ? fields.join(" ") : errorText(problem);
}

function table(className, headings, rows) {
  return h("table", { class: `data-table ${className}` },
    h("thead", {}, h("tr", {}, headings.map((heading) => h("th", {}, heading)))),
    h("tbody", {}, rows));
}

export function createSupervisor(ctx) {
  const { state } = ctx;
  const dialog = byId("supervisor-dialog");
  const overviewBox = byId("overview");
  const agentsBox = byId("agents-admin");
  const agentForm = byId("agent-form");
  const agentError = byId("agent-form-error");
  const labelsDialog = byId("labels-dialog");
  const labelsBox = byId("labels-admin");
  const labelForm = byId("label-form");
  const labelError = byId("label-form-error");
  let timer = null;
  let campaigns = [];

  // -- overview ------------------------------------------------------------------------

  async function refreshOverview() {
    let view;
    try {
      view = await api.overview();
    } catch (problem) {
      ctx.reportError(problem);
      return;
    }
    const campaignRows = (view.campaigns || []).map((campaign) => h("tr", { "data-id": campaign.id },
      h("th", { class: "cell-name" }, campaign.name || campaign.id),
      h("td", { class: "cell-queued", "data-value": campaign.queued }, String(campaign.queued ?? 0)),
      h("td", { class: "cell-oldest" }, campaign.queued ? waited(campaign.oldest_waiting_seconds) : "—"),
      h("td", { class: "cell-open" }, String(campaign.open ?? 0)),
      h("td", { class: "cell-online" }, String(campaign.agents_online ?? 0)),
      h("td", { class: "cell-agents" }, (campaign.agents || []).map((agent) => h("span", { class: `agent-pill ${agent.online ? "is-online" : ""}`, "data-id": agent.id },
        agent.display_name || `#${agent.id}`, h("b", {}, String(agent.open ?? 0)))))));
    const agentRows = (view.agents || []).filter((agent) => agent.active).map((agent) => h("tr", { "data-id": agent.id },
      h("th", { class: "cell-name" }, agent.display_name || agent.username),
      h("td", { class: "cell-presence" }, h("span", { class: `presence ${agent.online ? "is-online" : ""}` }, agent.online ? t("online") : t("offlineAgent"))),
      h("td", { class: "cell-open", "data-value": agent.open }, String(agent.open ?? 0)),
      h("td", { class: "cell-campaigns" }, (agent.campaigns || []).map(campaignName).join(", ") || "—")));
    const online = (view.agents || []).filter((agent) => agent.active && agent.online).length;
    clear(overviewBox).append(
      h("div", { class: "overview-totals" },
        h("span", { class: "total" }, t("totalQueued"), h("b", { id: "overview-queued" }, String((view.campaigns || []).reduce((sum, c) => sum + (c.queued || 0), 0)))),
        h("span", { class: "total" }, t("totalOpen"), h("b", { id: "overview-open" }, String((view.campaigns || []).reduce((sum, c) => sum + (c.open || 0), 0)))),
        h("span", { class: "total" }, t("agentsOnline"), h("b", { id: "overview-online" }, String(online))),
        h("span", { class: "overview-at" }, t("updatedAt", { time: clockTime(view.at) }))),
      h("h4", {}, t("perCampaign")),
      table("overview-campaigns", [t("campaign"), t("queuedCount"), t("oldestWaiting"), t("openCount"), t("agentsOnline"), t("openPerAgent")], campaignRows),
      h("h4", {}, t("perAgent")),
      table("overview-agents", [t("agent"), t("presence"), t("openCount"), t("campaigns")], agentRows),
    );
  }

  // -- agents --------------------------------------------------------------------------

  function campaignName(id) {
    return campaigns.find((campaign) => campaign.id === id)?.name || id;
  }

  async function refreshAgents() {
    let answer;
    try {
      answer = await api.agents();
    } catch (problem) {
      ctx.reportError(problem);
      return;
    }
    const rows = (answer.agents || []).map((agent) => {
      const toggle = h("button", { type: "button", class: "button small-button", "data-action": agent.active ? "deactivate" : "activate",
        disabled: agent.id === state.agent?.id && agent.active }, agent.active ? t("deactivate") : t("activate"));
      toggle.addEventListener("click", async () => {
        toggle.disabled = true;
        try {
          await api.updateAgent(agent.id, { active: !agent.active });
          ctx.toast(agent.active ? t("agentDeactivated", { name: agent.display_name || agent.username }) : t("agentActivated", { name: agent.display_name || agent.username }), "success");
        } catch (problem) {
          ctx.toast(problemText(problem), "error");
        }
        await refreshAgents();
      });
      return h("tr", { "data-id": agent.id, "data-state": agent.active ? "active" : "inactive" },
        h("th", { class: "cell-name" }, agent.display_name || agent.username),
        h("td", { class: "cell-username" }, agent.username),
        h("td", { class: "cell-role" }, agent.role === "supervisor" ? t("roleSupervisor") : t("roleAgent")),
        h("td", { class: "cell-campaigns" }, (agent.campaigns || []).map(campaignName).join(", ") || "—"),
        h("td", { class: "cell-active" }, agent.active ? t("active") : t("inactive")),
        h("td", {}, toggle));
    });
    clear(agentsBox).append(table("agents-table", [t("agent"), t("username"), t("role"), t("campaigns"), t("status"), ""], rows));
  }

  function fillCampaignChoices() {
    const box = byId("agent-campaigns");
    clear(box).append(...campaigns.map((campaign) => h("label", { class: "check-option" },
      h("input", { type: "checkbox", name: "campaigns", value: campaign.id }), h("span", {}, campaign.name || campaign.id))));
  }

  agentForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    agentError.hidden = true;
    const data = new FormData(agentForm);
    const account = {
      username: String(data.get("username") || "").trim(),
      password: String(data.get("password") || ""),
      display_name: String(data.get("display_name") || "").trim() || undefined,
      role: String(data.get("role") || "agent"),
      campaigns: data.getAll("campaigns").map(String),
    };
    const submit = byId("agent-create");
    submit.disabled = true;
    try {
      const answer = await api.createAgent(account);
      agentForm.reset();
      ctx.toast(t("agentCreated", { name: answer.agent.display_name || answer.agent.username }), "success");
      await Promise.all([refreshAgents(), refreshOverview()]);
    } catch (problem) {
      agentError.hidden = false;
      agentError.textContent = problem.status === 422 || problem.status === 400 ? t("agentInvalid", { reason: problemText(problem) }) : problemText(problem);
    } finally {
      submit.disabled = false;
    }
  });

  async function open() {
    if (state.agent?.role !== "supervisor") return;
    if (!dialog.open) dialog.showModal();
    try {
      campaigns = (await api.campaigns()).campaigns || [];
    } catch (problem) {
      ctx.reportError(problem);
    }
    fillCampaignChoices();
    await Promise.all([refreshOverview(), refreshAgents()]);
    dialog.querySelector(".panel-modal-body").scrollTop = 0;
    clearInterval(timer);
    timer = setInterval(() => {
      if (dialog.open) refreshOverview();
      else clearInterval(timer);
    }, REFRESH_MS);
  }

  dialog.addEventListener("close", () => clearInterval(timer));
  byId("overview-refresh").addEventListener("click", () => refreshOverview());

  // -- labels --------------------------------------------------------------------------

  async function refreshLabels() {
    let answer;
    try {
      answer = await api.allLabels();
    } catch (problem) {
      ctx.reportError(problem);
      return;
    }
    const labels = answer.labels || [];
    clear(labelsBox);
    if (!labels.length) {
      labelsBox.append(h("li", { class: "history-note" }, t("noLabelsYet")));
      return;
    }
    for (const label of labels) {
      const name = h("input", { type: "text", class: "label-name-input", value: label.name, maxlength: "60", "aria-label": t("labelName") });
      const colour = h("input", { type: "color", class: "label-colour-input", value: COLOUR.test(label.colour || "") ? label.colour : "#888888", "aria-label": t("labelColour") });
      const save = h("button", { type: "button", class: "button small-button", "data-action": "save" }, t("save"));
      const retire = h("button", { type: "button", class: "button small-button", "data-action": label.retired ? "restore" : "retire" }, label.retired ? t("restore") : t("retire"));
      async function change(changes) {
        save.disabled = retire.disabled = true;
        try {
          await api.updateLabel(label.id, changes);
          ctx.labelsChanged();
        } catch (problem) {
          labelError.hidden = false;
          labelError.textContent = t("labelInvalid", { reason: problemText(problem) });
        }
        await refreshLabels();
      }
      save.addEventListener("click", () => {
        const changes = {};
        if (name.value.trim() && name.value.trim() !== label.name) changes.name = name.value.trim();
        if (colour.value.toLowerCase() !== String(label.colour || "").toLowerCase()) changes.colour = colour.value;
        if (Object.keys(changes).length) change(changes);
      });
      retire.addEventListener("click", () => change({ retired: !label.retired }));
      labelsBox.append(h("li", { class: "label-admin-row", "data-label-id": label.id, "data-state": label.retired ? "retired" : "active" },
        labelChip(label), name, colour, save, retire, label.retired ? h("span", { class: "history-note" }, t("retired")) : null));
    }
  }

  labelForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    labelError.hidden = true;
    const name = byId("label-new-name").value.trim();
    const colour = byId("label-new-colour").value;
    if (!name) {
      labelError.hidden = false;
      labelError.textContent = t("labelNameRequired");
      return;
    }
    try {
      const answer = await api.createLabel(name, colour);
      byId("label-new-name").value = "";
      ctx.toast(t("labelCreated", { name: answer.label.name }), "success");
      ctx.labelsChanged();
      await refreshLabels();
    } catch (problem) {
      labelError.hidden = false;
      labelError.textContent = t("labelInvalid", { reason: problemText(problem) });
    }
  });

  async function openLabels() {
    if (state.agent?.role !== "supervisor") return;
    labelError.hidden = true;
    if (!labelsDialog.open) labelsDialog.showModal();
    await refreshLabels();
  }

  /** The language changed: what is on screen is drawn again. */
  function languageChanged() {
    if (dialog.open) {
      fillCampaignChoices();
      refreshOverview();
      refreshAgents();
    }
    if (labelsDialog.open) refreshLabels();
  }

  function close() {
    clearInterval(timer);
    if (dialog.open) dialog.close();
    if (labelsDialog.open) labelsDialog.close();
  }

  return { open, openLabels, close, languageChanged };
}
