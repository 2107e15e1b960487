// What the agent is writing, per attention, kept in sessionStorage: a reload (or switching to
// another attention and back) finds it again; closing the tab or logging out forgets it (a
// shared computer keeps no customer text). Keyed by agent, so a second login in the same tab
// never sees the first one's drafts. Attached files are not kept (a File cannot be stored).

const PREFIX = "desk.drafts.";

function read(agentId) {
  try {
    const parsed = JSON.parse(window.sessionStorage.getItem(PREFIX + agentId) || "{}");
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

function write(agentId, drafts) {
  try {
    if (Object.keys(drafts).length) window.sessionStorage.setItem(PREFIX + agentId, JSON.stringify(drafts));
    else window.sessionStorage.removeItem(PREFIX + agentId);
  } catch {
    /* storage full or disabled: the draft lives as long as the page */
  }
}

export const drafts = {
  get(agentId, attentionId) {
    if (agentId === undefined || agentId === null) return "";
    const value = read(agentId)[attentionId];
    return typeof value === "string" ? value : "";
  },
  save(agentId, attentionId, text) {
    if (agentId === undefined || agentId === null) return;
    const all = read(agentId);
    if (text && text.trim()) all[attentionId] = text;
    else delete all[attentionId];
    write(agentId, all);
  },
  /** Drop the drafts of attentions that are no longer the agent's (ended, transferred). */
  keepOnly(agentId, attentionIds) {
    if (agentId === undefined || agentId === null) return;
    const keep = new Set([...attentionIds].map(String));
    const all = read(agentId);
    for (const id of Object.keys(all)) if (!keep.has(id)) delete all[id];
    write(agentId, all);
  },
  forget(agentId) {
    try {
      window.sessionStorage.removeItem(PREFIX + agentId);
    } catch {
      /* ignore */
    }
  },
};
