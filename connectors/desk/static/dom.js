// DOM helpers. Every piece of data reaches the page through textContent, value or a
// whitelisted attribute: nothing here parses HTML, so customer text can never become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

// Attributes a caller may set from data. Event handler attributes (on*), style and
// srcdoc are never set from here; URLs go through safeUrl first.
const SAFE_ATTRIBUTES = new Set([
  "alt", "aria-checked", "aria-describedby", "aria-expanded", "aria-hidden", "aria-invalid", "aria-label",
  "aria-labelledby", "aria-live", "aria-pressed", "aria-selected",
  "autocomplete", "checked", "class", "colspan", "controls", "data-id", "data-kind", "data-state",
  "data-status", "data-author", "data-field", "data-label-id", "data-action", "data-emoji", "data-type",
  "data-channel", "data-value", "datetime", "disabled", "download", "for", "hidden", "href", "id",
  "inputmode", "lang", "loading", "max", "maxlength", "min", "minlength", "name", "placeholder",
  "preload", "referrerpolicy", "rel", "required", "role", "rows", "src", "step", "tabindex", "target",
  "title", "type", "value",
]);
const URL_ATTRIBUTES = new Set(["href", "src"]);

/** The URL as a string when it is an absolute http(s) URL, else null. */
export function safeUrl(value) {
  if (typeof value !== "string" || !value) return null;
  let url;
  try {
    url = new URL(value, window.location.href);
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
}

/**
 * h("div", {class: "x", title: name}, child, "text", ...) builds an element.
 * Strings become text nodes; null/undefined/false children are skipped.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (!SAFE_ATTRIBUTES.has(name)) throw new Error(`attribute not allowed: ${name}`);
    if (URL_ATTRIBUTES.has(name)) {
      const url = safeUrl(String(value));
      if (url) element.setAttribute(name, url);
      continue;
    }
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** An icon from the sprite in index.html (static names only). */
export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

export function byId(id) {
  return document.getElementById(id);
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}'"»]+$/;

/** Text with its http(s) links as <a> elements (text nodes and anchors only). */
export function linkify(text) {
  const nodes = [];
  const source = String(text ?? "");
  let last = 0;
  for (const match of source.matchAll(URL_PATTERN)) {
    let raw = match[0];
    const trailing = raw.match(TRAILING_PUNCTUATION);
    if (trailing) raw = raw.slice(0, raw.length - trailing[0].length);
    const url = safeUrl(raw);
    if (!url || !raw) continue;
    if (match.index > last) nodes.push(document.createTextNode(source.slice(last, match.index)));
    nodes.push(externalLink(url, raw));
    last = match.index + raw.length;
  }
  if (last < source.length) nodes.push(document.createTextNode(source.slice(last)));
  return nodes;
}

/** <a> to an http(s) URL opening in a new tab; plain text when the URL is not http(s). */
export function externalLink(url, label, className) {
  const safe = safeUrl(url);
  if (!safe) return h("span", { class: className }, label ?? "");
  return h("a", { href: safe, target: "_blank", rel: "noopener noreferrer nofollow", class: className }, label ?? safe);
}

const PALETTE = ["#1a73e8", "#0b8043", "#e37400", "#c5221f", "#8e24aa", "#00897b", "#3949ab", "#6d4c41", "#d81b60", "#546e7a"];

/** A stable colour for a person (avatar circles). */
export function colourFor(key) {
  let hash = 0;
  for (const character of String(key ?? "")) hash = (hash * 31 + character.codePointAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

export function initials(name) {
  const words = String(name ?? "").trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "?";
  const letters = words.length === 1 ? [...words[0]].slice(0, 2) : [[...words[0]][0], [...words[words.length - 1]][0]];
  return letters.join("").toUpperCase();
}

/** An avatar: the picture (http/https only) or initials on a coloured circle. */
export function avatar(customer, size = "md") {
  const name = customer?.name || customer?.id || "?";
  const circle = h("span", { class: `avatar avatar-${size}`, "aria-hidden": "true" });
  circle.style.setProperty("--avatar-colour", colourFor(customer?.id ?? name));
  const text = h("span", { class: "avatar-initials" }, initials(name));
  circle.append(text);
  const picture = safeUrl(customer?.picture_url);
  if (picture) {
    const image = h("img", { src: picture, alt: "", loading: "lazy", referrerpolicy: "no-referrer" });
    image.addEventListener("error", () => image.remove());
    image.addEventListener("load", () => circle.classList.add("has-picture"));
    circle.append(image);
  }
  return circle;
}

/** A label chip in the label's colour (only #rgb/#rrggbb colours are used). */
export function labelChip(label, extra = {}) {
  const chip = h("span", { class: "chip", "data-label-id": label.id, title: label.name, ...extra }, label.name);
  const colour = /^#[0-9a-f]{3}([0-9a-f]{3})?$/i.test(label.colour || "") ? label.colour : "#888888";
  chip.style.setProperty("--chip-colour", colour);
  return chip;
}

export function debounce(fn, wait) {
  let timer = null;
  let pending = [];
  const debounced = (...args) => {
    clearTimeout(timer);
    pending = args;
    timer = setTimeout(() => {
      timer = null;
      fn(...pending);
    }, wait);
  };
  /** Run the pending call now (with the arguments it was scheduled with). */
  debounced.flush = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
      fn(...pending);
    }
  };
  debounced.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return debounced;
}
