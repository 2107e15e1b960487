// Meta's limit on one text message comes from the server with each attention
// (`text_limit`: {max, unit}, from handoff/text_limits.py, the limit the server enforces):
// Messenger counts characters, Instagram UTF-8 bytes. The composer measures what the server
// will measure (the trimmed text, in code points or bytes), so its counter and its refusal
// agree with the server's 422.

const encoder = new TextEncoder();
const SENTENCE_END = /(?<=[.!?…])\s+|\n+/g;
const SPACE = /\s+/g;

/** The size of a text as `limit` counts it (code points, like Python's len; or bytes). */
export function sizeOf(text, limit) {
  const value = String(text ?? "");
  return limit.unit === "bytes" ? encoder.encode(value).length : [...value].length;
}

/** {size, max, unit, over} of what would be sent (the server trims it first). */
export function measure(text, limit) {
  const size = sizeOf(String(text ?? "").trim(), limit);
  return { size, max: limit.max, unit: limit.unit, over: size > limit.max };
}

function longestPrefix(characters, limit) {
  // Binary search on code points: a byte limit never cuts a character (or an emoji) in two.
  let low = 0;
  let high = characters.length;
  while (low < high) {
    const middle = Math.floor((low + high + 1) / 2);
    if (sizeOf(characters.slice(0, middle).join(""), limit) <= limit.max) low = middle;
    else high = middle - 1;
  }
  return characters.slice(0, low).join("");
}

function lastBoundary(head, pattern) {
  // A boundary in the first fifth would leave a tiny piece: cut on words instead.
  let best = 0;
  for (const match of head.matchAll(pattern)) if (match.index > head.length / 5) best = match.index;
  return best;
}

/** The text in pieces that each fit the channel, cut on sentences, else words, else anywhere
 * (the same rule as connectors/meta/limits.py split_text). Nothing is dropped. */
export function splitText(text, limit) {
  let rest = String(text ?? "").trim();
  const pieces = [];
  while (rest) {
    if (sizeOf(rest, limit) <= limit.max) {
      pieces.push(rest);
      break;
    }
    const head = longestPrefix([...rest], limit);
    const cut = lastBoundary(head, SENTENCE_END) || lastBoundary(head, SPACE) || head.length;
    pieces.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  return pieces;
}

// Meta fetches attachments up to 25 MB; Instagram takes images up to 8 MB.
const MB = 1024 * 1024;
const MAX_FILE_BYTES = 25 * MB;
const MAX_INSTAGRAM_IMAGE_BYTES = 8 * MB;

/** image, video, audio or file, from the file's type (what the upload will be sent as). */
export function attachmentKind(file) {
  const mime = file?.type || "";
  if (mime.startsWith("image/") && mime !== "image/svg+xml") return "image";
  if (mime.startsWith("video/")) return "video";
  if (mime.startsWith("audio/")) return "audio";
  return "file";
}

/** The limit a file breaks on this channel ("25 MB", "8 MB"), or null when it fits. */
export function fileTooBig(file, channel) {
  if (file.size > MAX_FILE_BYTES) return "25 MB";
  if (channel === "instagram" && attachmentKind(file) === "image" && file.size > MAX_INSTAGRAM_IMAGE_BYTES) return "8 MB";
  return null;
}
