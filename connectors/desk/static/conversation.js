// Centre pane: the selected attention. Queued: who and a big "Atender". Open: header with
// the id, customer, campaign, 24 h timer and labels; the bot's context, the messages with
// their statuses, earlier pages on demand; the composer with emoji and attachments.

import { api } from "./api.js";
import { confirmDialog } from "./confirm.js";
import { avatar, byId, clear, debounce, h, icon, labelChip } from "./dom.js";
import { drafts } from "./drafts.js";
import { dayKey, dayLabel, fullTime, shortTime, t } from "./i18n.js";
import { attachmentKind, fileTooBig, measure, splitText } from "./limits.js";
import { cardNotes, previewOf } from "./list.js";
import { renderContextEntry, renderMessage } from "./messages.js";

const EMOJI = ["😀", "😊", "😂", "😉", "😍", "🤔", "😅", "😢", "🙏", "👍", "👌", "👏", "🙌", "💪", "🎉", "✨",
  "❤️", "💙", "💜", "🔥", "✅", "❌", "⚠️", "📦", "🚚", "💳", "🧾", "📞", "📧", "⏰", "👋", "🙂"];

const NEAR_BOTTOM_PX = 120;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

// Set once the page starts unloading (reload, logout redirect): requests then fail because
// the page is going, not because the server refused them.
let leaving = false;
window.addEventListener("pagehide", () => {
  leaving = true;
});

function pad(number) {
  return String(number).padStart(2, "0");
}

/** HH:MM:SS of a duration in milliseconds (never negative). */
export function countdown(milliseconds) {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}`;
}

/** What is left of the HUMAN_AGENT week: days and hours (hours and minutes in its last day). */
export function humanAgentLeft(milliseconds) {
  const left = Math.max(0, milliseconds);
  const days = Math.floor(left / DAY_MS);
  const hours = Math.floor((left % DAY_MS) / HOUR_MS);
  if (days > 0) return t("humanAgentDays", { d: days, h: hours });
  return t("humanAgentHours", { h: hours, m: Math.floor((left % HOUR_MS) / 60_000) });
}

/** Whether the attention on screen is someone else's (a supervisor following it): read-only. */
export function heldByOther(detail, agent) {
  return detail?.state === "open" && detail.agent_id !== null && detail.agent_id !== undefined && detail.agent_id !== agent?.id;
}

/** What Meta's window allows now: open (with time left), human_agent, closed or none. */
export function windowState(window_, now = Date.now()) {
  const responseUntil = Date.parse(window_?.response_until || "");
  if (!Number.isFinite(responseUntil)) return { mode: "none", remaining: 0 };
  if (now < responseUntil) return { mode: "open", remaining: responseUntil - now };
  const humanUntil = Date.parse(window_?.human_agent_until || "");
  if (window_?.human_agent_allowed !== false && Number.isFinite(humanUntil) && now < humanUntil) {
    return { mode: "human_agent", remaining: 0, until: window_.human_agent_until };
  }
  return { mode: "closed", remaining: 0 };
}

export function createConversation(ctx) {
  const { state } = ctx;
  const root = byId("conversation");
  let view = null; // elements of the open attention on screen
  let timer = null;
  let lastMarked = 0;

  const markRead = debounce(async (attentionId, upTo) => {
    if (upTo <= lastMarked || state.current?.id !== attentionId) return;
    lastMarked = upTo;
    try {
      await api.markRead(attentionId, upTo);
    } catch (problem) {
      if (problem.status !== 409 && problem.status !== 403) ctx.reportError(problem);
    }
  }, 300);

  function stopTimer() {
    clearInterval(timer);
    timer = null;
    if (view && view.observer) view.observer.disconnect();
    if (view && view.composer) view.composer.dispose();
  }

  function showEmpty(notice) {
    stopTimer();
    view = null;
    root.dataset.view = "empty";
    clear(root).append(
      h("div", { class: "empty-state" },
        icon("chat", "icon empty-illustration"),
        h("h2", {}, t("selectPrompt")),
        h("p", {}, t("selectHint")),
        notice ? h("p", { class: "empty-notice", role: "status" }, notice) : null),
    );
  }

  function showQueued(summary) {
    stopTimer();
    view = null;
    root.dataset.view = "queued";
    const customer = summary.customer || {};
    const name = customer.name || customer.id || "—";
    const take = h("button", { type: "button", class: "button primary take-button", id: "take-button" }, icon("bell"), h("span", {}, t("take")));
    take.addEventListener("click", async () => {
      take.disabled = true;
      take.lastChild.textContent = t("taking");
      try {
        await ctx.take(summary.id);
      } finally {
        if (take.isConnected) {
          take.disabled = false;
          take.lastChild.textContent = t("take");
        }
      }
    });
    const preview = previewOf(summary.last_message, state.agent);
    const quote = (className, label, text) => h("blockquote", { class: className }, h("span", { class: "quote-label" }, label), h("span", {}, text));
    const notes = cardNotes(summary).map((note) => quote(`queued-preview queued-${note.kind}`, note.label, note.text));
    clear(root).append(
      h("div", { class: "queued-card", "data-id": summary.id },
        avatar(customer, "xl"),
        h("div", { class: "queued-id" }, `#${summary.id}`),
        h("h2", { class: "queued-name" }, name),
        h("p", { class: "queued-meta" }, summary.campaign_name || summary.campaign_id || "", " · ", t(summary.channel)),
        h("p", { class: "queued-since" }, icon("bell", "icon small bell-inline"), h("span", {}, t("queuedSince", { time: shortTime(summary.created_at) }))),
        ...notes,
        preview ? quote("queued-preview", t("lastMessage"), preview) : null,
        (summary.labels || []).length ? h("div", { class: "chips" }, summary.labels.map((label) => labelChip(label))) : null,
        take,
      ),
    );
  }

  function showTaken(summary, message = t("error.attention.taken")) {
    stopTimer();
    view = null;
    root.dataset.view = "taken";
    const name = summary?.customer?.name || summary?.customer?.id || "";
    clear(root).append(
      h("div", { class: "empty-state taken-state" },
        icon("lock", "icon empty-illustration"),
        h("h2", { class: "taken-message", role: "alert" }, message),
        h("p", {}, summary ? `#${summary.id} · ${name}` : ""),
      ),
    );
  }

  // -- the open attention -------------------------------------------------------------

  function header(current) {
    const detail = current.detail;
    const customer = detail.customer || {};
    const name = customer.name || customer.id || "—";
    const labelsBox = h("div", { class: "chips header-labels" }, (detail.labels || []).map((label) => labelChip(label)));
    const timerValue = h("span", { class: "timer-value" }, "--:--:--");
    const timerLabel = h("span", { class: "timer-label" }, t("window24"));
    const timerBox = h("div", { class: "timer", title: t("timerTitle"), "data-state": "none" },
      icon("clock"), h("div", { class: "timer-text" }, timerValue, timerLabel));
    const menu = labelMenu(current);
    const transfer = transferMenu(current);
    const element = h("header", { class: "conv-header" },
      avatar(customer, "lg"),
      h("div", { class: "conv-title" },
        h("div", { class: "conv-name-row" },
          h("span", { class: "conv-id" }, `#${detail.id}`),
          h("h2", { class: "conv-name", title: name }, name)),
        h("div", { class: "conv-meta" },
          h("span", { class: "conv-campaign" }, detail.campaign_name || detail.campaign?.name || detail.campaign_id || ""),
          h("span", { class: "conv-channel" }, icon(detail.channel === "instagram" ? "instagram" : "messenger", "icon small"), h("span", {}, t(detail.channel))),
          labelsBox)),
      h("div", { class: "conv-tools" }, timerBox, menu.element, transfer.element));
    return { element, timerBox, timerValue, timerLabel, labelsBox, menu, transfer };
  }

  /** A menu button and its panel: a click opens it (filled fresh) or closes it; clicks inside
   * stay inside. Returns close(). */
  function popover(button, panel, fill) {
    function close() {
      panel.hidden = true;
      button.setAttribute("aria-expanded", "false");
    }
    button.addEventListener("click", async (event) => {
      event.stopPropagation();
      if (!panel.hidden) {
        close();
        return;
      }
      panel.hidden = false;
      button.setAttribute("aria-expanded", "true");
      await fill();
    });
    panel.addEventListener("click", (event) => event.stopPropagation());
    return close;
  }

  function labelMenu(current) {
    const button = h("button", { type: "button", class: "button ghost labels-button", "aria-expanded": "false", title: t("labelsHint"), "aria-label": t("labels") },
      icon("tag"), h("span", { class: "button-text" }, t("labels")));
    const panel = h("div", { class: "popover labels-popover", role: "menu", hidden: true });
    const element = h("div", { class: "popover-anchor" }, button, panel);

    async function fill() {
      clear(panel).append(h("p", { class: "popover-empty" }, t("loading")));
      const labels = await ctx.labels();
      clear(panel);
      if (!labels.length) {
        panel.append(h("p", { class: "popover-empty" }, t("noLabels")));
        return;
      }
      const applied = new Set((state.current?.detail.labels || []).map((label) => label.id));
      for (const label of labels) {
        const checked = applied.has(label.id);
        const row = h("button", { type: "button", class: "label-option", role: "menuitemcheckbox", "aria-checked": String(checked), "data-label-id": label.id },
          h("span", { class: "label-check" }, checked ? icon("check", "icon small") : null), labelChip(label));
        row.addEventListener("click", async () => {
          row.disabled = true;
          await ctx.toggleLabel(current.id, label.id, !checked);
          if (!panel.hidden) await fill();
        });
        panel.append(row);
      }
    }

    return { element, close: popover(button, panel, fill) };
  }

  /** "Transferir": to another campaign (back to its queue) or to another agent of the campaign. */
  function transferMenu(current) {
    const button = h("button", { type: "button", class: "button ghost transfer-button", id: "transfer-button", "aria-expanded": "false", title: t("transferHint"), "aria-label": t("transfer") },
      icon("transfer"), h("span", { class: "button-text" }, t("transfer")));
    const panel = h("div", { class: "popover transfer-popover", id: "transfer-menu", role: "menu", hidden: true });
    const element = h("div", { class: "popover-anchor" }, button, panel);

    function option(kind, id, name, extra) {
      const label = h("span", kind === "agent" ? { class: "transfer-name" } : {}, name);
      const row = h("button", { type: "button", class: "transfer-option", role: "menuitem", "data-kind": kind, "data-value": id }, label, extra);
      row.addEventListener("click", async () => {
        const target = kind === "campaign" ? { campaign_id: id } : { agent_id: Number(id) };
        const note = panel.querySelector(".transfer-note")?.value.trim();
        if (note) target.note = note;
        close();
        // A transfer cannot be undone from here (the attention may leave this desk): ask first.
        const sure = await confirmDialog({
          id: "transfer-dialog",
          title: t("transferConfirmTitle", { id: current.id }),
          subject: kind === "campaign" ? t("transferConfirmCampaign", { name }) : t("transferConfirmAgent", { name }),
          body: kind === "campaign" ? t("transferConfirmCampaignBody") : t("transferConfirmAgentBody"),
          note: note ? t("transferConfirmNote", { note }) : null,
          actions: [
            { value: "cancel", label: t("cancel"), focus: true },
            { value: "confirm", label: t("transferConfirm"), kind: "primary", id: "transfer-confirm" },
          ],
        });
        if (!sure) return;
        for (const other of panel.querySelectorAll("button")) other.disabled = true;
        const done = await ctx.transfer(current.id, target);
        if (!done && panel.isConnected) for (const other of panel.querySelectorAll("button")) other.disabled = false;
        close();
      });
      return row;
    }

    async function fill() {
      clear(panel).append(h("p", { class: "popover-empty" }, t("loading")));
      let targets;
      try {
        targets = await api.transferTargets(current.id);
      } catch (problem) {
        clear(panel).append(h("p", { class: "popover-empty" }, t("transferUnavailable")));
        ctx.reportError(problem);
        return;
      }
      clear(panel);
      panel.append(h("label", { class: "transfer-note-field" }, h("span", {}, t("transferNote")),
        h("input", { type: "text", class: "transfer-note", id: "transfer-note", maxlength: "1000", placeholder: t("transferNoteHint"), autocomplete: "off" })));
      const campaigns = targets.campaigns || [];
      const agents = targets.agents || [];
      panel.append(h("p", { class: "popover-title" }, t("transferToCampaign")));
      if (campaigns.length) {
        for (const campaign of campaigns) panel.append(option("campaign", campaign.id, campaign.name || campaign.id));
      } else {
        panel.append(h("p", { class: "popover-empty" }, t("transferNoCampaigns")));
      }
      panel.append(h("p", { class: "popover-title" }, t("transferToAgent")));
      if (agents.length) {
        for (const agent of agents) {
          panel.append(option("agent", agent.id, agent.display_name || String(agent.id),
            h("span", { class: `presence ${agent.online ? "is-online" : ""}`, title: agent.online ? t("online") : t("offlineAgent") },
              agent.online ? t("online") : t("offlineAgent"))));
        }
      } else {
        panel.append(h("p", { class: "popover-empty" }, t("transferNoAgents")));
      }
    }

    return { element, close: popover(button, panel, fill) };
  }

  function composer(current) {
    const channel = current.detail.channel;
    const limit = current.detail.text_limit; // the server's, for this channel
    // No maxlength: the browser would cut a paste silently. The counter and the refusal below
    // say what Meta allows (Messenger characters, Instagram bytes) and nothing is ever cut.
    const textarea = h("textarea", { id: "composer-text", class: "composer-text", rows: "1", placeholder: t("composerPlaceholder"), "aria-label": t("composerPlaceholder") });
    const send = h("button", { type: "button", class: "icon-button send-button", id: "send-button", title: t("send"), "aria-label": t("send") }, icon("send"));
    const emojiButton = h("button", { type: "button", class: "icon-button", id: "emoji-button", title: t("emoji"), "aria-label": t("emoji"), "aria-expanded": "false" }, icon("smile"));
    const attachButton = h("button", { type: "button", class: "icon-button", id: "attach-button", title: t("attach"), "aria-label": t("attach") }, icon("clip"));
    const fileInput = h("input", { type: "file", id: "attach-input", hidden: true, "aria-label": t("attach") });
    const picker = h("div", { class: "popover emoji-picker", id: "emoji-picker", role: "menu", hidden: true },
      EMOJI.map((emoji) => h("button", { type: "button", class: "emoji", "data-emoji": emoji, title: emoji, role: "menuitem" }, emoji)));
    const notice = h("div", { class: "composer-notice", id: "composer-notice", role: "status", hidden: true });
    const upload = h("div", { class: "composer-upload", id: "composer-upload", role: "status", hidden: true });
    const tooLong = h("div", { class: "composer-notice composer-limit", id: "composer-limit", role: "alert", "data-kind": "locked", hidden: true });
    const tray = h("div", { class: "composer-attachment", id: "composer-attachment", hidden: true });
    const counter = h("span", { class: "composer-counter", id: "composer-counter", title: t(channel === "instagram" ? "counterTitleBytes" : "counterTitleChars", { max: limit.max }) });
    const element = h("div", { class: "composer", id: "composer" },
      notice, tooLong, upload, tray,
      h("div", { class: "composer-row" },
        h("div", { class: "popover-anchor" }, emojiButton, picker),
        attachButton, fileInput, textarea, send),
      h("div", { class: "composer-foot" }, counter));
    let pending = null; // {file, preview (object URL)}: the picked file, waiting for Send
    let sending = false;

    function resize() {
      textarea.style.height = "auto";
      textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`;
    }

    /** The counter follows every keystroke; over the limit it turns red and Send refuses. */
    function updateCounter() {
      const size = measure(textarea.value, limit);
      counter.textContent = t(size.unit === "bytes" ? "counterBytes" : "counterChars", { n: size.size, max: size.max });
      counter.dataset.state = size.over ? "over" : size.size > size.max * 0.9 ? "near" : "";
      textarea.setAttribute("aria-invalid", String(size.over));
      if (!size.over) tooLong.hidden = true;
      return size;
    }

    function changed() {
      if (!sending) upload.hidden = true;
      resize();
      updateCounter();
      drafts.save(state.agent?.id, current.id, textarea.value);
    }

    function setText(value) {
      textarea.value = value;
      changed();
    }

    /** Over the limit: say so with the numbers, and (for a plain text) offer to send it in parts. */
    function refuse(size) {
      const parts = splitText(textarea.value, limit);
      const unit = t(size.unit === "bytes" ? "unitBytes" : "unitChars");
      clear(tooLong).append(icon("alert", "icon small"),
        h("span", { class: "composer-limit-text" }, t(pending ? "captionTooLong" : "tooLong", { channel: t(channel), n: size.size, max: size.max, unit, parts: parts.length })));
      if (!pending) {
        const split = h("button", { type: "button", class: "button small-button", id: "send-split" }, t("sendSplit", { parts: parts.length }));
        split.addEventListener("click", () => sendPieces(splitText(textarea.value, limit)));
        tooLong.append(split);
      }
      tooLong.hidden = false;
    }

    async function sendPieces(pieces) {
      if (sending || !pieces.length) return;
      sending = true;
      tooLong.hidden = true;
      setText("");
      try {
        for (const [index, piece] of pieces.entries()) {
          const sent = await ctx.send(current.id, { text: piece });
          if (!sent) {
            // What was not sent goes back into the composer, unless the agent typed meanwhile
            // or the page is going away: a reload aborts the answer, not the send (the server
            // has it), and the text must not come back as a draft.
            if (!textarea.value && !leaving) setText(pieces.slice(index).join("\n\n"));
            break;
          }
        }
      } finally {
        sending = false;
      }
      if (textarea.isConnected) textarea.focus();
    }

    async function sendAttachment(caption) {
      sending = true;
      send.disabled = true;
      upload.hidden = false;
      upload.textContent = t("uploading", { name: pending.file.name });
      let result = null;
      try {
        result = await ctx.sendFile(current.id, pending.file, caption);
      } finally {
        sending = false;
        send.disabled = element.classList.contains("is-locked");
        upload.hidden = true;
      }
      if (!result || !textarea.isConnected) return; // not sent: the file and caption stay as they were
      removeAttachment();
      if (result.captionSent) {
        setText("");
      } else if (caption) {
        // Meta refused the file (it shows failed, with Reintentar): its caption stays here.
        upload.hidden = false;
        upload.textContent = t("captionKept");
      }
      textarea.focus();
    }

    async function submit() {
      if (sending || element.classList.contains("is-locked")) return;
      const text = textarea.value.trim();
      const size = updateCounter();
      if (size.over) {
        refuse(size);
        return;
      }
      if (pending) await sendAttachment(text);
      else if (text) await sendPieces([text]);
    }

    function describeSize(bytes) {
      return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
    }

    function removeAttachment() {
      if (pending) URL.revokeObjectURL(pending.preview);
      pending = null;
      tray.hidden = true;
      clear(tray);
      textarea.placeholder = t("composerPlaceholder");
    }

    /** A picked file waits in the tray with its preview, name and size until Send (or ✕). */
    function attach(file) {
      const tooBig = fileTooBig(file, channel);
      upload.hidden = true;
      if (tooBig) {
        ctx.toast(t("fileTooBig", { name: file.name, size: describeSize(file.size), channel: t(channel), max: tooBig }), "error");
        return;
      }
      removeAttachment();
      pending = { file, preview: URL.createObjectURL(file) };
      const kind = attachmentKind(file);
      let preview;
      if (kind === "image") {
        preview = h("img", { class: "attachment-preview-image", alt: file.name });
        preview.src = pending.preview; // our own blob: URL (safeUrl admits http(s) only)
      } else if (kind === "video") {
        preview = h("video", { class: "attachment-preview-image", "aria-label": file.name });
        preview.muted = true;
        preview.src = pending.preview;
      } else {
        preview = h("span", { class: "attachment-preview-icon" }, icon("file"));
      }
      const remove = h("button", { type: "button", class: "icon-button attachment-remove", id: "attachment-remove", title: t("attachmentRemove"), "aria-label": t("attachmentRemove") }, icon("close"));
      remove.addEventListener("click", () => {
        removeAttachment();
        updateCounter();
        textarea.focus();
      });
      clear(tray).append(preview,
        h("div", { class: "attachment-preview-text" },
          h("span", { class: "attachment-preview-name", title: file.name }, file.name),
          h("span", { class: "attachment-preview-size" }, `${describeSize(file.size)} · ${t("attachmentCaptionHint")}`)),
        remove);
      tray.hidden = false;
      textarea.placeholder = t("captionPlaceholder");
      textarea.focus();
    }

    textarea.addEventListener("input", changed);
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    send.addEventListener("click", submit);
    emojiButton.addEventListener("click", (event) => {
      event.stopPropagation();
      picker.hidden = !picker.hidden;
      emojiButton.setAttribute("aria-expanded", String(!picker.hidden));
    });
    picker.addEventListener("click", (event) => {
      event.stopPropagation();
      const choice = event.target.closest("button[data-emoji]");
      if (!choice) return;
      const start = textarea.selectionStart ?? textarea.value.length;
      const end = textarea.selectionEnd ?? textarea.value.length;
      textarea.setRangeText(choice.dataset.emoji, start, end, "end");
      picker.hidden = true;
      emojiButton.setAttribute("aria-expanded", "false");
      textarea.focus();
      changed();
    });
    attachButton.addEventListener("click", () => fileInput.click());
    fileInput.addEventListener("change", () => {
      const file = fileInput.files && fileInput.files[0];
      fileInput.value = "";
      if (file) attach(file);
    });

    function lock(mode, until) {
      const locked = mode === "closed" || mode === "none";
      element.classList.toggle("is-locked", locked);
      element.dataset.window = mode;
      for (const control of [textarea, send, emojiButton, attachButton]) control.disabled = locked;
      if (locked) {
        picker.hidden = true;
        notice.hidden = false;
        notice.dataset.kind = "locked";
        clear(notice).append(icon("lock", "icon small"), h("span", {}, t(mode === "none" ? "noWindow" : "windowClosed")));
      } else if (mode === "human_agent") {
        notice.hidden = false;
        notice.dataset.kind = "human-agent";
        notice.title = t("windowHumanAgentTitle", { time: fullTime(until) });
        clear(notice).append(icon("alert", "icon small"), h("span", {}, t("windowHumanAgent")));
      } else {
        notice.hidden = true;
        clear(notice);
      }
    }

    function closePicker() {
      picker.hidden = true;
      emojiButton.setAttribute("aria-expanded", "false");
    }

    // The draft of this attention (kept across reloads and switching attentions).
    textarea.value = drafts.get(state.agent?.id, current.id);
    updateCounter();
    requestAnimationFrame(resize);

    return { element, textarea, lock, closePicker, dispose: removeAttachment };
  }

  function nearBottom() {
    if (!view) return true;
    const scroller = view.scroller;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    if (view) view.scroller.scrollTop = view.scroller.scrollHeight;
  }

  function messageElement(message) {
    return renderMessage(message, { onRetry: (failed) => ctx.retry(failed) });
  }

  function renderTimeline() {
    const current = state.current;
    const timeline = view.timeline;
    clear(timeline);
    view.elements = new Map();
    if (current.hasMore) {
      const earlier = h("button", { type: "button", class: "button ghost earlier-button", id: "earlier-button" }, t("earlier"));
      earlier.addEventListener("click", () => loadEarlier(earlier));
      timeline.append(h("div", { class: "earlier-row" }, earlier));
    } else if ((current.detail.context || []).length) {
      timeline.append(h("section", { class: "context", "aria-label": t("contextTitle") },
        h("div", { class: "context-title" }, icon("bot", "icon small"), h("span", {}, t("contextTitle"))),
        current.detail.context.map(renderContextEntry)));
      timeline.append(h("div", { class: "human-divider" }, h("span", {}, t("humanTitle"))));
    }
    view.lastDay = null;
    for (const message of current.messages) appendElement(message);
  }

  function appendElement(message) {
    const key = dayKey(message.created_at);
    if (key && key !== view.lastDay) {
      view.timeline.append(h("div", { class: "day-divider" }, h("span", {}, dayLabel(message.created_at))));
      view.lastDay = key;
    }
    const element = messageElement(message);
    view.elements.set(message.id, element);
    view.timeline.append(element);
  }

  async function loadEarlier(button) {
    const current = state.current;
    if (!current || !current.messages.length) return;
    button.disabled = true;
    button.textContent = t("loading");
    try {
      const answer = await api.attention(current.id, { before: current.messages[0].id, limit: 50, lang: state.lang });
      if (state.current !== current) return;
      const known = new Set(current.messages.map((message) => message.id));
      const older = (answer.messages || []).filter((message) => !known.has(message.id));
      current.messages = [...older, ...current.messages];
      current.hasMore = Boolean(answer.has_more);
      const before = view.scroller.scrollHeight - view.scroller.scrollTop;
      view.stick = false;
      renderTimeline();
      view.scroller.scrollTop = view.scroller.scrollHeight - before;
    } catch (problem) {
      ctx.reportError(problem);
      if (button.isConnected) {
        button.disabled = false;
        button.textContent = t("earlier");
      }
    }
  }

  function showOpen() {
    stopTimer();
    const current = state.current;
    root.dataset.view = "open";
    lastMarked = 0;
    const top = header(current);
    const timeline = h("div", { class: "timeline", id: "timeline" });
    const scroller = h("div", { class: "messages", id: "messages", role: "log", "aria-live": "polite" }, timeline);
    // Someone else's attention (a supervisor following it): no composer, attach or terminate,
    // which the server would refuse; the page says whose it is and what is left to do.
    const readOnly = heldByOther(current.detail, state.agent);
    const box = readOnly ? null : composer(current);
    const bottom = box ? box.element : readOnlyNotice(current.detail);
    view = { id: current.id, ...top, header: top.element, timeline, scroller, composer: box, elements: new Map(), lastDay: null, stick: true };
    // Stay at the bottom while the agent is there, also when pictures load or a message grows.
    scroller.addEventListener("scroll", () => {
      if (view && view.scroller === scroller) view.stick = nearBottom();
    }, { passive: true });
    const observer = new ResizeObserver(() => {
      if (view && view.scroller === scroller && view.stick) scrollToBottom();
    });
    observer.observe(timeline);
    view.observer = observer;
    clear(root).append(h("div", { class: "conversation", "data-id": current.id, "data-state": readOnly ? "read-only" : "open" }, top.element, scroller, bottom));
    renderTimeline();
    tick();
    timer = setInterval(tick, 1000);
    scrollToBottom();
    requestAnimationFrame(scrollToBottom);
    markSeen();
    if (box) box.textarea.focus();
  }

  function readOnlyNotice(detail) {
    const text = h("span", { class: "read-only-text" }, t("readOnlyBody", { agent: t("anotherAgent") }));
    ctx.agentName(detail.agent_id).then((name) => {
      if (name && text.isConnected) text.textContent = t("readOnlyBody", { agent: name });
    });
    return h("div", { class: "read-only-notice", id: "read-only-notice", role: "status" },
      icon("lock", "icon small"), h("strong", {}, t("readOnlyTitle")), text);
  }

  function tick() {
    if (!view || !state.current) return;
    const win = windowState(state.current.detail.window);
    view.timerBox.dataset.state = win.mode === "open" && win.remaining < HOUR_MS ? "warning" : win.mode;
    // Past 24 h with HUMAN_AGENT the agent may still answer: show what is left of that week.
    if (win.mode === "human_agent") {
      view.timerValue.textContent = humanAgentLeft(Date.parse(win.until) - Date.now());
      view.timerLabel.textContent = t("timerHumanAgent");
      view.timerBox.title = t("windowHumanAgentTitle", { time: fullTime(win.until) });
    } else {
      view.timerValue.textContent = countdown(win.remaining);
      view.timerLabel.textContent = t("window24");
    }
    if (view.composer && view.composer.element.dataset.window !== win.mode) view.composer.lock(win.mode, win.until);
  }

  /** Mark the customer's messages on screen as read (only while the tab is visible). */
  function markSeen() {
    const current = state.current;
    if (!current || current.detail.state !== "open" || document.visibilityState !== "visible") return;
    if (heldByOther(current.detail, state.agent)) return; // a supervisor's look is not the agent's read
    const inbound = current.messages.filter((message) => message.direction === "in");
    if (!inbound.length) return;
    const upTo = Math.max(...inbound.map((message) => Number(message.id)));
    if (upTo > lastMarked) {
      ctx.clearUnread(current.id);
      markRead(current.id, upTo);
    }
  }

  /** A new message of the attention on screen (already in state.current.messages). */
  function added(message) {
    if (!view || view.id !== message.attention_id) return;
    const stick = view.stick || nearBottom() || message.author === "agent";
    appendElement(message);
    if (stick) {
      view.stick = true;
      scrollToBottom();
    }
    if (message.direction === "in") {
      tick();
      markSeen();
    }
  }

  /** A message changed (statuses): replace its element in place. */
  function updated(message) {
    if (!view || view.id !== message.attention_id) return;
    const old = view.elements.get(message.id);
    if (!old) return;
    const element = messageElement(message);
    view.elements.set(message.id, element);
    old.replaceWith(element);
  }

  function labelsChanged() {
    if (!view || !state.current) return;
    clear(view.labelsBox).append(...(state.current.detail.labels || []).map((label) => labelChip(label)));
  }

  function relock() {
    if (view && view.composer) view.composer.element.dataset.window = "";
    tick();
  }

  document.addEventListener("click", () => {
    if (!view) return;
    view.menu.close();
    view.transfer.close();
    if (view.composer) view.composer.closePicker();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && view) {
      view.menu.close();
      view.transfer.close();
      if (view.composer) view.composer.closePicker();
    }
  });
  document.addEventListener("visibilitychange", markSeen);

  return { showEmpty, showQueued, showOpen, showTaken, added, updated, labelsChanged, relock, stopTimer };
}
