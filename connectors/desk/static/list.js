// Left pane: counters, search and the attentions list (queued first, newest first).

import { api } from "./api.js";
import { avatar, byId, clear, debounce, h, icon, labelChip } from "./dom.js";
import { shortTime, t } from "./i18n.js";
import { agentNameOf } from "./messages.js";

const MIN_QUERY = 3;

function newest(a, b) {
  const at = Date.parse(a.created_at || "") || 0;
  const bt = Date.parse(b.created_at || "") || 0;
  return bt - at || Number(b.id) - Number(a.id);
}

/** Queued first, then open; newest first inside each group. */
export function ordered(items) {
  const queued = items.filter((item) => item.state === "queued").sort(newest);
  const open = items.filter((item) => item.state !== "queued").sort(newest);
  return { queued, open };
}

const KIND_PREVIEW = {
  attachment: "attachment",
  deleted: "deleted",
  unsupported: "unsupported",
  referral: "referral",
};

// Attachment types Meta sends, by their catalogue names ("Imagen", not "Adjunto").
const ATTACHMENT_NAMES = {
  image: "image", video: "video", audio: "audio", file: "file", sticker: "sticker", location: "location",
  share: "share", template: "template", reel: "reel", ig_reel: "reel", story_mention: "storyMention",
};

function attachmentsText(last) {
  const types = last.attachment_types || [];
  return types.map((type) => t(ATTACHMENT_NAMES[type] || "attachment")).join(", ");
}

/** The one-line preview of an attention's last message; `me` is the agent looking (their
 * own lines say "Usted", anyone else's say who wrote them). */
export function previewOf(last, me = null) {
  if (!last) return "";
  // The note itself has its own line on the card (cardNotes): the preview only says who.
  if (last.kind === "transfer") return t("transferPreview", { by: (last.payload || {}).by_agent_name || t("someAgent") });
  let text = (last.text || "").replace(/\s+/g, " ").trim();
  if (last.kind === "reaction") text = t("reacted", { emoji: last.text || "" });
  else if (last.kind === "deleted") text = t("deleted");
  else if (last.kind === "attachment") text = [attachmentsText(last) || t("attachment"), text].filter(Boolean).join(" · ");
  else if (!text && KIND_PREVIEW[last.kind]) text = t(KIND_PREVIEW[last.kind]);
  if (last.author === "agent") {
    const mine = me && last.agent && last.agent.id === me.id;
    return `${mine ? t("you") : agentNameOf(last)}: ${text}`;
  }
  if (last.author === "bot") return `${t("author_bot")}: ${text}`;
  return text;
}

/** A live message as the list's `last_message`, the shape the API gives (serializers.last_message_json). */
export function lastMessageOf(message, at) {
  const payload = message.payload || {};
  const attachments = Array.isArray(payload.attachments) ? payload.attachments : [];
  return {
    text: message.text, kind: message.kind, author: message.author, agent: message.agent || null,
    attachment_types: attachments.map((item) => String(item.type || "unsupported")),
    payload: message.kind === "transfer" ? payload : null, at,
  };
}

/** What a card says beyond the last message: the customer's reason while queued, and the
 * note of the transfer that brought it here. */
export function cardNotes(summary) {
  const notes = [];
  const transfer = summary.transfer;
  if (transfer && transfer.note) notes.push({ kind: "transfer", label: t("transferNoteFrom", { by: transfer.by_agent_name || t("someAgent") }), text: transfer.note });
  if (summary.reason && summary.state === "queued") notes.push({ kind: "reason", label: t("customerReason"), text: summary.reason });
  return notes;
}

export function createList(ctx) {
  const { state } = ctx;
  const listElement = byId("attention-list");
  const searchInput = byId("search-input");
  const hint = byId("search-hint");
  let searchSerial = 0;

  const runSearch = debounce(async () => {
    const query = state.search.query;
    if (query.length < MIN_QUERY) return;
    const serial = ++searchSerial;
    try {
      const answer = await api.attentions(state.channel, query);
      if (serial !== searchSerial || state.search.query !== query) return;
      state.search.results = (answer.attentions || []).filter((item) => item.state !== "queued");
      render();
    } catch (problem) {
      ctx.reportError(problem);
    }
  }, 250);

  searchInput.addEventListener("input", () => {
    const query = searchInput.value.trim();
    state.search.query = query;
    if (query.length >= MIN_QUERY) {
      runSearch();
    } else {
      searchSerial++;
      state.search.results = null;
      render();
    }
  });

  listElement.addEventListener("click", (event) => {
    const item = event.target.closest("li[data-id]");
    if (item) ctx.select(Number(item.dataset.id));
  });
  listElement.addEventListener("keydown", (event) => {
    const item = event.target.closest("li[data-id]");
    if (!item) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      ctx.select(Number(item.dataset.id));
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const items = [...listElement.querySelectorAll("li[data-id]")];
      const next = items[items.indexOf(item) + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) next.focus();
    }
  });

  function itemElement(summary) {
    const queued = summary.state === "queued";
    const customer = summary.customer || {};
    const name = customer.name || customer.id || "—";
    const last = summary.last_message;
    const selected = state.selectedId === summary.id;
    const unread = Number(summary.unread) || 0;
    const li = h("li", {
      class: `attention-item${queued ? " is-queued" : ""}${selected ? " is-selected" : ""}`,
      role: "option",
      tabindex: "0",
      "aria-selected": String(selected),
      "data-id": summary.id,
      "data-state": summary.state,
      "data-channel": summary.channel,
    });
    const top = h("div", { class: "item-top" },
      h("span", { class: "item-name", title: name }, name),
      queued ? h("span", { class: "bell", title: t("queuedBell"), "aria-label": t("queuedBell"), role: "img" }, icon("bell")) : null,
      h("time", { class: "item-time", datetime: (last && last.at) || summary.created_at || "" }, shortTime((last && last.at) || summary.created_at)),
    );
    const sub = h("div", { class: "item-sub" },
      h("span", { class: "item-campaign" }, summary.campaign_name || summary.campaign_id || ""),
      h("span", { class: "item-id" }, `#${summary.id}`),
    );
    const preview = previewOf(last, state.agent);
    const notes = cardNotes(summary).map((note) =>
      h("div", { class: `item-note note-${note.kind}`, title: `${note.label}: ${note.text}` },
        h("span", { class: "note-label" }, `${note.label}: `), h("span", { class: "note-text" }, note.text)));
    const bottom = h("div", { class: "item-bottom" },
      h("span", { class: "item-preview", title: preview }, preview),
      unread > 0 ? h("span", { class: "badge", title: t("unread", { n: unread }), "aria-label": t("unread", { n: unread }) }, unread > 99 ? "99+" : String(unread)) : null,
    );
    const labels = (summary.labels || []).length
      ? h("div", { class: "item-labels" }, (summary.labels || []).map((label) => labelChip(label)))
      : null;
    li.append(avatar(customer, "md"), h("div", { class: "item-body" }, top, sub, ...notes, bottom, labels));
    return li;
  }

  function group(title, items, className) {
    if (!items.length) return [];
    return [h("li", { class: `list-group ${className}`, role: "presentation" }, title), ...items.map(itemElement)];
  }

  function render() {
    const all = [...state.items.values()].filter((item) => item.channel === state.channel);
    const openCount = all.filter((item) => item.state === "open").length;
    const queuedCount = all.filter((item) => item.state === "queued").length;
    byId("count-open").textContent = String(openCount);
    byId("count-queued").textContent = String(queuedCount);
    document.querySelector(".counter-queued").classList.toggle("has-queued", queuedCount > 0);

    const query = state.search.query;
    const searching = query.length >= MIN_QUERY;
    hint.hidden = !(query.length > 0 && !searching);
    hint.textContent = t("searchHint");
    clear(listElement);
    if (searching) {
      const results = (state.search.results || [])
        .map((found) => state.items.get(found.id) || found)
        .filter((item) => item.channel === state.channel && item.state === "open");
      if (state.search.results === null) {
        listElement.append(h("li", { class: "list-empty", role: "presentation" }, t("loading")));
      } else if (!results.length) {
        listElement.append(h("li", { class: "list-empty", role: "presentation" }, t("noResults")));
      } else {
        listElement.append(...group(t("searchResults"), results.sort(newest), "group-search"));
      }
      return;
    }
    const { queued, open } = ordered(all);
    if (!queued.length && !open.length) {
      listElement.append(h("li", { class: "list-empty", role: "presentation" }, icon("inbox", "icon empty-icon"), h("span", {}, t("emptyList"))));
      return;
    }
    listElement.append(...group(t("queuedGroup"), queued, "group-queued"), ...group(t("openGroup"), open, "group-open"));
  }

  function resetSearch() {
    searchInput.value = "";
    state.search.query = "";
    state.search.results = null;
    searchSerial++;
  }

  /** Re-run the active search (after live changes). */
  function refreshSearch() {
    if (state.search.query.length >= MIN_QUERY) runSearch();
  }

  return { render, resetSearch, refreshSearch };
}
