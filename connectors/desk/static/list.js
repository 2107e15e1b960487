// Left pane: counters, search and the attentions list (queued first, newest first).

import { api } from "./api.js";
import { avatar, byId, debounce, h, icon, labelChip } from "./dom.js";
import { shortTime, t } from "./i18n.js";
import { agentNameOf } from "./messages.js";

const MIN_QUERY = 3;

function newest(a, b) {
  const at = Date.parse(a.created_at || "") || 0;
  const bt = Date.parse(b.created_at || "") || 0;
  return bt - at || Number(b.id) - Number(a.id);
}

/** Queued first, then open, as the server placed them (`list`); newest first inside each group. */
export function ordered(items) {
  const queued = items.filter((item) => item.list === "queued").sort(newest);
  const open = items.filter((item) => item.list === "open").sort(newest);
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
      state.search.results = (answer.attentions || []).filter((item) => item.list === "open");
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

  // Keyed rendering: one <li> per attention id (and per header or notice), kept across
  // renders and rebuilt only when what it shows changed; the rest are moved, added or removed.
  // Rebuilding every card on each render swallowed clicks under load (a card replaced between
  // mousedown and mouseup gets no click).
  const rows = new Map(); // key -> {element, signature}

  /** Everything a card shows, as plain data: equal views, equal cards. */
  function cardView(summary) {
    const customer = summary.customer || {};
    const last = summary.last_message;
    const at = (last && last.at) || summary.created_at || "";
    const unread = Number(summary.unread) || 0;
    return {
      id: summary.id, state: summary.state, channel: summary.channel, queued: summary.list === "queued",
      selected: state.selectedId === summary.id, name: customer.name || customer.id || "—",
      customer: { id: customer.id, name: customer.name, picture_url: customer.picture_url },
      at, time: shortTime(at), campaign: summary.campaign_name || summary.campaign_id || "",
      preview: previewOf(last, state.agent), notes: cardNotes(summary), unread,
      unreadText: unread > 0 ? t("unread", { n: unread }) : "", bell: t("queuedBell"),
      labels: (summary.labels || []).map((label) => ({ id: label.id, name: label.name, colour: label.colour })),
    };
  }

  function fillCard(li, view) {
    li.className = `attention-item${view.queued ? " is-queued" : ""}${view.selected ? " is-selected" : ""}`;
    li.setAttribute("aria-selected", String(view.selected));
    li.dataset.state = view.state;
    li.dataset.channel = view.channel;
    const top = h("div", { class: "item-top" },
      h("span", { class: "item-name", title: view.name }, view.name),
      view.queued ? h("span", { class: "bell", title: view.bell, "aria-label": view.bell, role: "img" }, icon("bell")) : null,
      h("time", { class: "item-time", datetime: view.at }, view.time),
    );
    const sub = h("div", { class: "item-sub" },
      h("span", { class: "item-campaign" }, view.campaign),
      h("span", { class: "item-id" }, `#${view.id}`),
    );
    const notes = view.notes.map((note) =>
      h("div", { class: `item-note note-${note.kind}`, title: `${note.label}: ${note.text}` },
        h("span", { class: "note-label" }, `${note.label}: `), h("span", { class: "note-text" }, note.text)));
    const bottom = h("div", { class: "item-bottom" },
      h("span", { class: "item-preview", title: view.preview }, view.preview),
      view.unread > 0 ? h("span", { class: "badge", title: view.unreadText, "aria-label": view.unreadText }, view.unread > 99 ? "99+" : String(view.unread)) : null,
    );
    const labels = view.labels.length ? h("div", { class: "item-labels" }, view.labels.map((label) => labelChip(label))) : null;
    li.replaceChildren(avatar(view.customer, "md"), h("div", { class: "item-body" }, top, sub, ...notes, bottom, labels));
  }

  /** The row for `key`, reused when `signature` is unchanged, rebuilt in place otherwise. */
  function row(key, signature, make, fill) {
    let kept = rows.get(key);
    if (!kept) {
      kept = { element: make(), signature: null };
      rows.set(key, kept);
    }
    if (kept.signature !== signature) {
      fill(kept.element);
      kept.signature = signature;
    }
    return kept.element;
  }

  function card(summary) {
    const view = cardView(summary);
    return row(`card:${summary.id}`, JSON.stringify(view),
      () => h("li", { class: "attention-item", role: "option", tabindex: "0", "data-id": summary.id }),
      (li) => fillCard(li, view));
  }

  function notice(key, className, ...children) {
    const signature = JSON.stringify([className, children.map((child) => (typeof child === "string" ? child : child.outerHTML))]);
    return row(key, signature, () => h("li", { role: "presentation" }), (li) => {
      li.className = className;
      li.replaceChildren(...children);
    });
  }

  function group(title, items, className) {
    if (!items.length) return [];
    return [notice(`group:${className}`, `list-group ${className}`, title), ...items.map(card)];
  }

  /** Make the list exactly `wanted`, in order, touching only the rows that moved or changed. */
  function place(wanted) {
    const keep = new Set(wanted);
    for (const [key, kept] of rows) {
      if (!keep.has(kept.element)) {
        kept.element.remove();
        rows.delete(key);
      }
    }
    let cursor = listElement.firstChild;
    for (const element of wanted) {
      if (element === cursor) cursor = cursor.nextSibling;
      else listElement.insertBefore(element, cursor);
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
  }

  function render() {
    const all = [...state.items.values()].filter((item) => item.channel === state.channel);
    const openCount = all.filter((item) => item.list === "open").length;
    const queuedCount = all.filter((item) => item.list === "queued").length;
    byId("count-open").textContent = String(openCount);
    byId("count-queued").textContent = String(queuedCount);
    document.querySelector(".counter-queued").classList.toggle("has-queued", queuedCount > 0);

    const query = state.search.query;
    const searching = query.length >= MIN_QUERY;
    hint.hidden = !(query.length > 0 && !searching);
    hint.textContent = t("searchHint");
    if (searching) {
      const results = (state.search.results || [])
        .map((found) => state.items.get(found.id) || found)
        .filter((item) => item.channel === state.channel && item.list === "open");
      if (state.search.results === null) place([notice("loading", "list-empty", t("loading"))]);
      else if (!results.length) place([notice("no-results", "list-empty", t("noResults"))]);
      else place(group(t("searchResults"), results.sort(newest), "group-search"));
      return;
    }
    const { queued, open } = ordered(all);
    if (!queued.length && !open.length) {
      place([notice("empty", "list-empty", icon("inbox", "icon empty-icon"), h("span", {}, t("emptyList")))]);
      return;
    }
    place([...group(t("queuedGroup"), queued, "group-queued"), ...group(t("openGroup"), open, "group-open")]);
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
