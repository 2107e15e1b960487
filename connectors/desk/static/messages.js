// One message (or bot-context line) as DOM: every kind Meta sends, statuses of sent ones.
// Customer text only ever becomes text nodes; links are <a> built for http(s) URLs only.

import { externalLink, h, icon, linkify, safeUrl } from "./dom.js";
import { clockTime, fullTime, t } from "./i18n.js";

export const STATUS_RANK = { received: 0, pending: 0, failed: 0, unknown: 0, sent: 1, delivered: 2, read: 3 };

/** Whether an update with status `next` may replace `previous` (statuses only move forward). */
export function statusMayMove(previous, next) {
  if (!previous || !next) return true;
  if ((previous === "failed" || previous === "unknown") && next === "pending") return true; // a retry
  return (STATUS_RANK[next] ?? 0) >= (STATUS_RANK[previous] ?? 0);
}

function attachmentsOf(message) {
  const payload = message.payload || {};
  if (Array.isArray(payload.attachments) && payload.attachments.length) return payload.attachments;
  if (payload.attachment && typeof payload.attachment === "object") return [payload.attachment];
  return [];
}

function fileNameOf(attachment) {
  if (attachment.title) return attachment.title;
  if (attachment.filename) return attachment.filename;
  const url = safeUrl(attachment.url);
  if (!url) return t("file");
  try {
    const last = new URL(url).pathname.split("/").filter(Boolean).pop();
    return last ? decodeURIComponent(last) : t("file");
  } catch {
    return t("file");
  }
}

function coordinate(value, limit) {
  const number = typeof value === "number" ? value : Number.parseFloat(value);
  return Number.isFinite(number) && Math.abs(number) <= limit ? number : null;
}

function mapUrl(latitude, longitude) {
  return `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=16/${latitude}/${longitude}`;
}

function captioned(labelKey, iconName, ...content) {
  return h("div", { class: "attachment attachment-card" },
    h("div", { class: "attachment-label" }, icon(iconName, "icon small"), h("span", {}, t(labelKey))),
    ...content);
}

/** When media cannot load (Meta's CDN links expire), a card with the link instead. */
function fallBackOnError(media, labelKey, url, replaced = media) {
  media.addEventListener("error", () => {
    replaced.replaceWith(captioned(labelKey, "file", h("span", { class: "attachment-unavailable" }, t("mediaUnavailable")),
      externalLink(url, t("openShare"), "attachment-link")));
  }, { once: true });
  return replaced;
}

function renderAttachment(attachment) {
  const type = String(attachment.type || "unsupported");
  const url = safeUrl(attachment.url);
  switch (type) {
    case "image": {
      if (!url) return captioned("image", "file");
      const image = h("img", { src: url, alt: attachment.title || t("image"), loading: "lazy", referrerpolicy: "no-referrer" });
      const link = h("a", { class: "attachment attachment-image", href: url, target: "_blank", rel: "noopener noreferrer nofollow", title: t("image") }, image);
      return fallBackOnError(image, "image", url, link);
    }
    case "sticker": {
      if (!url) return captioned("sticker", "smile");
      const sticker = h("img", { class: "attachment attachment-sticker", src: url, alt: t("sticker"), title: t("sticker"), loading: "lazy", referrerpolicy: "no-referrer" });
      return fallBackOnError(sticker, "sticker", url);
    }
    case "video":
    case "reel": {
      const label = type === "reel" ? "reel" : "video";
      if (!url) return captioned(label, "file");
      const video = h("video", { class: "attachment-media", src: url, controls: true, preload: "metadata", title: t(label) });
      const box = h("div", { class: `attachment attachment-video` }, video,
        type === "reel" ? h("div", { class: "attachment-foot" }, externalLink(url, t("openShare"))) : null);
      return fallBackOnError(video, label, url, box);
    }
    case "audio": {
      if (!url) return captioned("audio", "file");
      const audio = h("audio", { src: url, controls: true, preload: "metadata", title: t("audio") });
      return fallBackOnError(audio, "audio", url, h("div", { class: "attachment attachment-audio" }, audio));
    }
    case "file": {
      const name = fileNameOf(attachment);
      return h("div", { class: "attachment attachment-file" },
        icon("file", "icon file-icon"),
        h("span", { class: "file-name", title: name }, name),
        url ? h("a", { class: "file-download", href: url, target: "_blank", rel: "noopener noreferrer nofollow", download: "" }, t("download")) : null);
    }
    case "location": {
      const latitude = coordinate(attachment.latitude, 90);
      const longitude = coordinate(attachment.longitude, 180);
      const known = latitude !== null && longitude !== null;
      return captioned("location", "pin",
        attachment.title ? h("div", { class: "attachment-title" }, attachment.title) : null,
        known ? h("div", { class: "attachment-coords" }, `${latitude.toFixed(5)}, ${longitude.toFixed(5)}`) : null,
        known ? externalLink(mapUrl(latitude, longitude), t("openMap"), "attachment-link")
          : url ? externalLink(url, t("openMap"), "attachment-link") : null);
    }
    case "share":
    case "template":
      return captioned(type === "share" ? "share" : "template", "link",
        attachment.title ? h("div", { class: "attachment-title" }, attachment.title) : null,
        url ? externalLink(url, t("openShare"), "attachment-link") : null);
    case "story_mention":
      return captioned("storyMention", "story", url ? externalLink(url, t("viewStory"), "attachment-link") : null);
    default:
      return h("div", { class: "attachment attachment-unsupported" }, icon("alert", "icon small"), h("span", {}, t("unsupported")));
  }
}

/** Day/time title of a message. */
function timeOf(message) {
  return message.sent_at && message.direction === "in" ? message.sent_at : message.created_at;
}

function statusElement(message) {
  const status = message.status;
  const names = { pending: "clock", sent: "check", delivered: "double-check", read: "double-check", failed: "alert", unknown: "alert" };
  if (!names[status]) return null;
  const times = { sent: message.sent_at, delivered: message.delivered_at, read: message.read_at };
  const title = times[status] ? `${t(`status_${status}`)} · ${fullTime(times[status])}` : t(`status_${status}`);
  return h("span", { class: `ticks ticks-${status}`, "data-status": status, title, "aria-label": t(`status_${status}`), role: "img" }, icon(names[status]));
}

function bubbleContent(message) {
  const kind = message.kind;
  const payload = message.payload || {};
  const parts = [];
  if (kind === "deleted") return [h("span", { class: "msg-marker" }, icon("close", "icon small"), h("span", {}, t("deleted")))];
  if (kind === "unsupported") return [h("span", { class: "msg-marker" }, icon("alert", "icon small"), h("span", {}, t("unsupported")))];
  if (kind === "postback") {
    parts.push(h("div", { class: "msg-tag" }, t("postback")));
  } else if (kind === "edit") {
    parts.push(h("div", { class: "msg-tag" }, t("edited")));
  }
  if (payload.reply_to_story && typeof payload.reply_to_story === "object") {
    const storyUrl = safeUrl(payload.reply_to_story.url);
    parts.push(h("div", { class: "story-reply" }, icon("story", "icon small"), h("span", {}, t("storyReply")),
      storyUrl ? externalLink(storyUrl, t("viewStory"), "attachment-link") : null));
  }
  for (const attachment of attachmentsOf(message)) parts.push(renderAttachment(attachment));
  if (message.text) parts.push(h("p", { class: "msg-text" }, linkify(message.text)));
  if (!parts.length) parts.push(h("span", { class: "msg-marker" }, t("unsupported")));
  return parts;
}

/** A system line in the timeline (reactions, referrals). */
function systemLine(message) {
  const payload = message.payload || {};
  let text;
  if (message.kind === "reaction") {
    const emoji = payload.emoji || message.text || "👍";
    text = payload.action === "unreact" ? t("unreacted") : t("reacted", { emoji });
  } else {
    text = t("referral");
    if (payload.ref) text = `${text} · ${payload.ref}`;
  }
  const who = message.author === "customer" ? t("author_customer") : t(`author_${message.author}`);
  return h("div", { class: `msg msg-system kind-${message.kind}`, "data-id": message.id, "data-kind": message.kind, "data-author": message.author },
    h("span", { class: "system-text" }, `${who} ${text}`),
    h("time", { class: "system-time", datetime: timeOf(message) || "", title: fullTime(timeOf(message)) }, clockTime(timeOf(message))));
}

/** The agent who wrote `message`, by the name the server gives with it: the same in the
 * live desk, the list and history, whoever is looking. */
export function agentNameOf(message) {
  return message.agent?.name || t("someAgent");
}

/** A transfer's line: who moved it where, and their note. */
function transferLine(message) {
  const payload = message.payload || {};
  const by = payload.by_agent_name || t("someAgent");
  const text = payload.to_agent_name
    ? t("transferLineToAgent", { by, to: payload.to_agent_name })
    : t("transferLineToCampaign", { by, from: payload.from_campaign_name || "", to: payload.to_campaign_name || "" });
  const note = payload.note || message.text;
  return h("div", { class: "msg msg-system kind-transfer", "data-id": message.id, "data-kind": "transfer", "data-author": "system" },
    h("span", { class: "system-text" }, icon("transfer", "icon small"), h("span", {}, text)),
    note ? h("blockquote", { class: "transfer-note" }, note) : null,
    h("time", { class: "system-time", datetime: message.created_at || "", title: fullTime(message.created_at) }, clockTime(message.created_at)));
}

/** The element of one message; `onRetry(message)` for failed ones. */
export function renderMessage(message, { onRetry } = {}) {
  if (message.kind === "reaction" || message.kind === "referral") return systemLine(message);
  if (message.kind === "transfer") return transferLine(message);
  const outgoing = message.direction === "out";
  const author = message.author || (outgoing ? "agent" : "customer");
  const element = h("div", {
    class: `msg ${outgoing ? "msg-out" : "msg-in"} author-${author} kind-${message.kind}`,
    "data-id": message.id,
    "data-kind": message.kind,
    "data-author": author,
    "data-status": message.status,
  });
  const bubble = h("div", { class: "bubble" });
  if (author === "external") bubble.append(h("div", { class: "msg-tag external-tag" }, icon("link", "icon small"), h("span", {}, t("externalEcho"))));
  if (author === "bot") bubble.append(h("div", { class: "msg-tag bot-tag" }, icon("bot", "icon small"), h("span", {}, t("author_bot"))));
  bubble.append(...bubbleContent(message));
  element.append(bubble);

  const meta = h("div", { class: "msg-meta" });
  if (author === "agent") meta.append(h("span", { class: "msg-author" }, agentNameOf(message)));
  meta.append(h("time", { datetime: timeOf(message) || "", title: fullTime(timeOf(message)) }, clockTime(timeOf(message))));
  if (message.tag) meta.append(h("span", { class: "msg-tag-badge", title: message.tag }, message.tag));
  if (author === "agent") {
    const ticks = statusElement(message);
    if (ticks) meta.append(ticks);
  }
  element.append(meta);

  // "unknown": the server stopped mid-send and no echo came: the customer may have it, so
  // the agent is told so and decides; a retry is never automatic.
  const unsure = message.status === "unknown";
  if (author === "agent" && (message.status === "failed" || unsure)) {
    const reason = unsure ? t("unknownDetail") : message.error_message || t("failedUnknown");
    const retry = h("button", { type: "button", class: "retry-button", "data-action": "retry" }, t(unsure ? "sendAgain" : "retry"));
    retry.addEventListener("click", () => {
      retry.disabled = true;
      Promise.resolve(onRetry && onRetry(message)).finally(() => {
        retry.disabled = false;
      });
    });
    element.append(h("div", { class: `msg-failure${unsure ? " msg-unsure" : ""}`, role: "alert" },
      icon("alert", "icon small"),
      h("span", { class: "failure-reason", title: message.error_code ? `${message.error_code}` : null }, reason),
      retry));
  }
  return element;
}

/** One line of the bot's part of the conversation (attention.context). */
export function renderContextEntry(entry) {
  const author = entry.author === "bot" ? "bot" : "customer";
  const element = h("div", { class: `msg context-msg ${author === "bot" ? "msg-out author-bot" : "msg-in author-customer"}`, "data-author": author });
  const bubble = h("div", { class: "bubble" });
  if (entry.text) bubble.append(h("p", { class: "msg-text" }, linkify(entry.text)));
  const attachments = Array.isArray(entry.attachments) ? entry.attachments : entry.attachment && typeof entry.attachment === "object" ? [entry.attachment] : [];
  for (const attachment of attachments) bubble.append(renderAttachment(attachment));
  if (!bubble.childNodes.length) bubble.append(h("span", { class: "msg-marker" }, t("attachment")));
  element.append(bubble,
    h("div", { class: "msg-meta" },
      h("span", { class: "msg-author" }, t(`author_${author}`)),
      entry.time ? h("time", { datetime: entry.time, title: fullTime(entry.time) }, clockTime(entry.time)) : null));
  return element;
}
