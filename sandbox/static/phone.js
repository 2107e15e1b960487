// Customer phone of the local Meta sandbox.
// Talks to the sandbox over one WebSocket (/sandbox/ws): what the person does becomes a
// Meta webhook to Rasa; what our connectors send to the fake Graph API shows up here live.
// Every piece of text (customer's or bot's) is rendered with textContent, never as HTML.
"use strict";

(() => {
  // -- i18n ---------------------------------------------------------------------------
  const STRINGS = {
    title: ["Sandbox Meta local", "Local Meta sandbox"],
    channel: ["Canal", "Channel"],
    customer: ["Cliente", "Customer"],
    newCustomer: ["Nuevo cliente", "New customer"],
    connecting: ["Conectando…", "Connecting…"],
    phone: ["Teléfono del cliente", "Customer phone"],
    activeNow: ["Activo ahora", "Active now"],
    typing: ["Escribiendo…", "Typing…"],
    placeholder: ["Escribe un mensaje…", "Type a message…"],
    placeholderStory: ["Responde a la historia…", "Reply to the story…"],
    attach: ["Adjuntar", "Attach"],
    send: ["Enviar", "Send"],
    cancel: ["Cancelar", "Cancel"],
    upload: ["Foto o archivo", "Photo or file"],
    sampleImage: ["Foto de ejemplo", "Sample photo"],
    sticker: ["Sticker", "Sticker"],
    audio: ["Nota de voz", "Voice note"],
    video: ["Vídeo", "Video"],
    file: ["Documento", "Document"],
    location: ["Ubicación", "Location"],
    share: ["Compartir publicación", "Share a post"],
    reel: ["Reel", "Reel"],
    storyMention: ["Mención en historia", "Story mention"],
    storyReply: ["Responder a historia", "Reply to story"],
    referral: ["Llegar desde un enlace", "Arrive from a link"],
    unsupported: ["Mensaje no soportado", "Unsupported message"],
    inboxTitle: ["Respuesta desde la bandeja de la página", "Page Inbox reply"],
    inboxHint: ["Simula a una persona que responde en la bandeja de Meta (otra app): el cliente lo ve y Rasa recibe un eco con otro app_id.",
      "Simulates a person answering in Meta's inbox (another app): the customer sees it and Rasa gets an echo with another app_id."],
    inboxPlaceholder: ["Respuesta de una persona…", "A person's reply…"],
    inboxSend: ["Enviar como persona", "Send as a person"],
    logTitle: ["Eventos", "Events"],
    detailsTitle: ["Detalles", "Details"],
    customerId: ["ID del cliente", "Customer id"],
    accountId: ["Cuenta", "Account"],
    webhookUrl: ["Webhook", "Webhook"],
    empty: ["Escribe algo para empezar la conversación con el bot.", "Type something to start talking to the bot."],
    seen: ["Visto", "Seen"],
    sending: ["Enviando…", "Sending…"],
    sent: ["Enviado", "Sent"],
    failed: ["No entregado a Rasa", "Not delivered to Rasa"],
    react: ["Reaccionar", "React"],
    reply: ["Responder", "Reply"],
    replyingTo: ["Respondiendo a: ", "Replying to: "],
    storyContext: ["Respuesta a tu historia", "Reply to your story"],
    unsend: ["Anular envío", "Unsend"],
    deleted: ["Anulaste el envío de un mensaje", "You unsent a message"],
    more: ["Más opciones", "More options"],
    storyMentionLabel: ["Te mencionó en su historia", "Mentioned you in their story"],
    storyReplyLabel: ["Respondió a tu historia", "Replied to your story"],
    postbackLabel: ["Botón", "Button"],
    inboxLabel: ["Respondido desde la bandeja de Meta", "Answered from Meta's inbox"],
    attachment: ["Adjunto", "Attachment"],
    unsupportedLabel: ["Mensaje no compatible", "Unsupported message"],
    referralSent: ["Referencia enviada (m.me / ig.me)", "Referral sent (m.me / ig.me)"],
    uploadFailed: ["No se pudo subir el archivo", "Upload failed"],
    videoFailed: ["Este navegador no puede grabar un vídeo de ejemplo", "This browser cannot record a sample video"],
    recording: ["Grabando vídeo de ejemplo…", "Recording a sample video…"],
    graph: ["Graph ←", "Graph ←"],
    webhook: ["→ Rasa", "→ Rasa"],
    noAnswer: ["sin respuesta", "no answer"],
    location_: ["Ubicación", "Location"],
  };
  const REACTIONS = ["❤️", "😆", "😮", "😢", "😠", "👍", "👎"];
  let lang = localStorage.getItem("sandbox.lang") === "en" ? "en" : "es";
  const t = (key) => (STRINGS[key] || [key, key])[lang === "es" ? 0 : 1];

  function applyI18n() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    document.querySelectorAll("[data-i18n-aria]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nAria)); });
    document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
    $("lang-toggle").textContent = lang === "es" ? "EN" : "ES";
    if (storyContext) $("text").placeholder = t("placeholderStory");
  }

  // -- state ----------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const slot = (params.get("slot") || "default").replace(/[^a-zA-Z0-9_-]/g, "").slice(0, 30) || "default";
  let channel = params.get("channel") || localStorage.getItem(`sandbox.${slot}.channel`) || "messenger";
  if (channel !== "messenger" && channel !== "instagram") channel = "messenger";
  let ws = null;
  let retryDelay = 500;
  let items = [];             // chat items of the current conversation
  let pageSeenAt = null;      // when our connector sent mark_seen
  let lastSeenSent = null;    // mid of the last page message we reported as read
  let replyTo = null;         // {mid, text}
  let storyContext = false;
  let typingTimer = null;
  let seenTimer = null;
  let pageName = "";

  function randomDigits(n) {
    const bytes = new Uint8Array(n);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => String(b % 10)).join("");
  }

  function profileKey() { return `sandbox.${slot}.${channel}.profile`; }
  function loadProfile() {
    let profile = null;
    try { profile = JSON.parse(localStorage.getItem(profileKey()) || "null"); } catch (_) { profile = null; }
    if (!profile || !/^[0-9]{6,20}$/.test(profile.id || "")) {
      // PSIDs and IGSIDs are long numeric strings; the prefix only makes them look familiar.
      profile = { id: (channel === "messenger" ? "24" : "17") + randomDigits(14), name: profile?.name || params.get("name") || "Ana Cliente" };
      saveProfile(profile);
    }
    return profile;
  }
  function saveProfile(profile) { localStorage.setItem(profileKey(), JSON.stringify(profile)); }
  let profile = loadProfile();

  // -- WebSocket --------------------------------------------------------------------------
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${scheme}://${location.host}/sandbox/ws`);
    setConn("connecting");
    ws.addEventListener("open", () => { retryDelay = 500; setConn("open"); hello(); });
    ws.addEventListener("close", () => {
      setConn("closed");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 5000);
    });
    ws.addEventListener("message", (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      const handler = HANDLERS[msg.type];
      if (handler) handler(msg);
    });
  }
  function setConn(state) { $("conn").dataset.state = state; $("conn").title = state; }
  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(msg)); return true; }
    toast(t("connecting"));
    return false;
  }
  function hello() { send({ type: "hello", channel, customer_id: profile.id, name: profile.name }); }

  const HANDLERS = {
    ready(msg) {
      pageName = msg.page.name;
      $("page-name").textContent = pageName;
      $("page-avatar").textContent = (pageName || "?").trim().charAt(0).toUpperCase();
      $("info-customer").textContent = msg.customer_id;
      $("info-account").textContent = msg.page.id;
      $("info-webhook").textContent = msg.webhook_url;
      items = msg.history || [];
      pageSeenAt = msg.page_seen_at;
      lastSeenSent = null;
      renderAll();
      maybeSendSeen();
    },
    item(msg) {
      const existing = items.findIndex((i) => i.mid === msg.item.mid);
      if (existing >= 0) items[existing] = msg.item; else items.push(msg.item);
      if (msg.item.from === "page") showTyping(false);
      renderAll();
      if (msg.item.from === "page") maybeSendSeen();
    },
    update(msg) {
      const item = items.find((i) => i.mid === msg.mid);
      if (!item) return;
      Object.assign(item, msg.patch);
      renderAll();
    },
    typing(msg) { showTyping(Boolean(msg.on)); },
    page_seen(msg) { pageSeenAt = msg.time; renderAll(); },
    log(msg) { addLog(msg.entry); },
    error(msg) { toast(msg.message); },
  };

  // -- rendering --------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(url) {
    if (typeof url !== "string" || !url) return null;
    try {
      const parsed = new URL(url, location.href);
      return ["http:", "https:", "blob:"].includes(parsed.protocol) ? parsed.href : null;
    } catch (_) { return null; }
  }

  function renderAll() {
    const box = $("messages");
    box.replaceChildren();
    if (!items.length) box.append(el("div", "empty", t("empty")));
    items.forEach((item, index) => box.append(renderRow(item, items[index - 1], items[index + 1])));
    const last = items[items.length - 1];
    if (last && last.from === "customer" && last.status && !last.deleted) {
      // Like Messenger: the delivery state shows under the customer's latest message only.
      const status = el("div", `status ${last.status}`, t(last.status));
      if (last.status === "failed") status.title = String(last.http_status || last.error || t("noAnswer"));
      status.dataset.testid = "status";
      box.append(status);
    }
    const lastCustomer = [...items].reverse().find((i) => i.from === "customer" && !i.deleted);
    if (lastCustomer && pageSeenAt && pageSeenAt >= (lastCustomer.time || 0)) {
      box.append(el("div", "seen-mark", `${t("seen")} ✓✓`));
    }
    renderQuickReplies();
    box.scrollTop = box.scrollHeight;
  }

  function renderRow(item, prev, next) {
    const row = el("div", `row ${item.from}`);
    row.dataset.mid = item.mid;
    if (prev && prev.from !== item.from) row.classList.add("other-sender");
    if (!next || next.from !== item.from) row.classList.add("last-of-group");
    if (item.from === "page") {
      const avatar = el("span", "mini-avatar", (pageName || "?").charAt(0).toUpperCase());
      row.append(avatar);
    }
    const stack = el("div", "stack");
    if (item.reply_to) {
      const target = items.find((i) => i.mid === item.reply_to);
      stack.append(el("div", "reply-ref", t("replyingTo") + (target ? summary(target) : "…")));
    }
    if (item.story) {
      stack.append(el("div", "label", t("storyReplyLabel")));
      const storyUrl = safeUrl(item.story.url);
      if (storyUrl) {
        const thumb = el("img", "story-preview");
        thumb.src = storyUrl; thumb.alt = "story";
        stack.append(thumb);
      }
    }
    if (item.source === "inbox") stack.append(el("div", "label", t("inboxLabel")));
    if (item.label === "postback") stack.append(el("div", "label", t("postbackLabel")));
    if (item.deleted) {
      stack.append(el("div", "bubble deleted", t("deleted")));
    } else if (item.from === "page") {
      renderPageMessage(stack, item);
    } else {
      renderCustomerMessage(stack, item);
    }
    const reactions = Object.values(item.reactions || {});
    if (reactions.length) {
      const last = stack.lastElementChild;
      if (last) last.append(el("span", "reactions", reactions.join("")));
      row.classList.add("has-reaction");
    }
    row.append(stack);
    if (!item.deleted && (item.from === "page" || channel === "instagram")) {
      const more = el("button", "more", "⋯");
      more.type = "button";
      more.setAttribute("aria-label", t("more"));
      more.addEventListener("click", (ev) => openMenu(item, ev.currentTarget));
      row.append(more);
      addLongPress(stack, () => openMenu(item, stack));
    }
    return row;
  }

  function summary(item) {
    if (item.deleted) return t("deleted");
    if (item.text) return item.text;
    const message = item.message || {};
    if (message.text) return message.text;
    if (message.attachment?.payload?.text) return message.attachment.payload.text;
    return t("attachment");
  }

  function renderCustomerMessage(stack, item) {
    const label = item.label;
    for (const att of item.attachments || []) {
      stack.append(renderCustomerAttachment(att, label));
    }
    if (item.text && !(item.attachments || []).length) {
      stack.append(el("div", "bubble", item.text));
    }
    if (label === "unsupported") stack.append(el("div", "bubble deleted", t("unsupportedLabel")));
  }

  function renderCustomerAttachment(att, label) {
    const bubble = el("div", "bubble media");
    const url = safeUrl(att.url);
    if (att.type === "image" && url) {
      const img = el("img", att.sticker ? "media-img sticker" : "media-img");
      img.src = url; img.alt = att.sticker ? "sticker" : "image";
      bubble.append(img);
    } else if (att.type === "video" && url) {
      const video = el("video"); video.src = url; video.controls = true; video.preload = "metadata";
      bubble.append(video);
    } else if (att.type === "audio" && url) {
      const audio = el("audio"); audio.src = url; audio.controls = true;
      bubble.append(audio);
    } else if (att.type === "location") {
      const c = att.coordinates || {};
      const card = el("a", "link-card");
      card.append(el("strong", "", `📍 ${att.title || t("location_")}`), el("small", "", `${c.lat}, ${c.long}`));
      if (url) { card.href = url; card.target = "_blank"; card.rel = "noopener noreferrer"; }
      bubble.append(card);
    } else if ((att.type === "story_mention" || att.type === "ig_reel" || att.type === "share") && url) {
      const wrap = el("div", "story-thumb");
      const img = el("img", "media-img"); img.src = url; img.alt = att.type;
      wrap.append(img, el("span", "", att.type === "story_mention" ? t("storyMentionLabel") : (att.title || att.type)));
      bubble.append(wrap);
    } else {
      const card = el("a", "link-card");
      card.append(el("strong", "", `${att.type === "file" ? "📄" : "🔗"} ${att.title || label || att.type}`),
        el("small", "", att.url || ""));
      if (url) { card.href = url; card.target = "_blank"; card.rel = "noopener noreferrer"; }
      bubble.append(card);
    }
    return bubble;
  }

  function renderPageMessage(stack, item) {
    const message = item.message || {};
    if (typeof message.text === "string") {
      const bubble = el("div", "bubble", message.text);
      if (item.source === "inbox") bubble.classList.add("inbox");
      stack.append(bubble);
      return;
    }
    const attachment = message.attachment || {};
    const payload = attachment.payload || {};
    if (attachment.type === "template") {
      renderTemplate(stack, payload);
      return;
    }
    const bubble = el("div", "bubble media");
    const url = safeUrl(payload.url);
    if (attachment.type === "image" && url) {
      const img = el("img", "media-img"); img.src = url; img.alt = "image"; bubble.append(img);
    } else if (attachment.type === "video" && url) {
      const video = el("video"); video.src = url; video.controls = true; bubble.append(video);
    } else if (attachment.type === "audio" && url) {
      const audio = el("audio"); audio.src = url; audio.controls = true; bubble.append(audio);
    } else {
      const card = el("a", "link-card");
      card.append(el("strong", "", `📄 ${attachment.type || t("attachment")}`), el("small", "", payload.url || payload.attachment_id || ""));
      if (url) { card.href = url; card.target = "_blank"; card.rel = "noopener noreferrer"; }
      bubble.append(card);
    }
    stack.append(bubble);
  }

  function renderTemplate(stack, payload) {
    if (payload.template_type === "button") {
      const bubble = el("div", "bubble", payload.text || "");
      bubble.append(renderButtons(payload.buttons));
      stack.append(bubble);
    } else if (payload.template_type === "generic") {
      const carousel = el("div", "carousel");
      for (const element of payload.elements || []) {
        const card = el("div", "card");
        const img = safeUrl(element.image_url);
        if (img) { const image = el("img"); image.src = img; image.alt = ""; card.append(image); }
        const body = el("div", "card-body");
        body.append(el("div", "card-title", element.title || ""));
        if (element.subtitle) body.append(el("div", "card-subtitle", element.subtitle));
        card.append(body);
        if (element.buttons?.length) card.append(renderButtons(element.buttons));
        carousel.append(card);
      }
      stack.append(carousel);
    } else {
      stack.append(el("div", "bubble", `[${payload.template_type || "template"}]`));
    }
  }

  function renderButtons(buttons) {
    const box = el("div", "buttons");
    for (const button of buttons || []) {
      const title = button.title || button.type;
      if (button.type === "web_url" && safeUrl(button.url)) {
        const link = el("a", "", title);
        link.href = safeUrl(button.url); link.target = "_blank"; link.rel = "noopener noreferrer";
        box.append(link);
      } else if (button.type === "phone_number") {
        const link = el("a", "", title);
        link.href = "tel:" + String(button.payload || "").replace(/[^0-9+]/g, "");
        box.append(link);
      } else {
        const btn = el("button", "", title);
        btn.type = "button";
        btn.addEventListener("click", () => send({ type: "postback", title, payload: String(button.payload ?? title) }));
        box.append(btn);
      }
    }
    return box;
  }

  function renderQuickReplies() {
    const box = $("quick-replies");
    box.replaceChildren();
    const last = items[items.length - 1];
    const replies = last && last.from === "page" && last.message && last.message.quick_replies;
    if (!replies) return;
    for (const reply of replies) {
      let title = reply.title;
      let payload = reply.payload;
      if (reply.content_type === "user_email") { title = "cliente@example.com"; payload = title; }
      if (reply.content_type === "user_phone_number") { title = "+51 999 888 777"; payload = title; }
      const btn = el("button", "", title);
      btn.type = "button";
      const img = safeUrl(reply.image_url);
      if (img) { const icon = el("img"); icon.src = img; icon.alt = ""; icon.width = 16; icon.height = 16; btn.prepend(icon); }
      btn.addEventListener("click", () => send({ type: "quick_reply", title: String(title), payload: String(payload ?? title) }));
      box.append(btn);
    }
  }

  function showTyping(on) {
    $("typing").hidden = !on;
    $("page-status").textContent = on ? t("typing") : t("activeNow");
    $("page-status").classList.toggle("typing-now", on);
    clearTimeout(typingTimer);
    // Meta hides the indicator by itself after about 20 seconds.
    if (on) typingTimer = setTimeout(() => showTyping(false), 20000);
    if (on) $("messages").scrollTop = $("messages").scrollHeight;
  }

  // -- reading -------------------------------------------------------------------------------
  function maybeSendSeen() {
    clearTimeout(seenTimer);
    seenTimer = setTimeout(() => {
      if (document.visibilityState !== "visible") return;
      const last = [...items].reverse().find((i) => i.from === "page");
      if (!last || last.mid === lastSeenSent) return;
      if (send({ type: "seen" })) lastSeenSent = last.mid;
    }, 350);
  }
  document.addEventListener("visibilitychange", maybeSendSeen);

  // -- message menu (react / reply / unsend) -------------------------------------------------
  function openMenu(item, anchor) {
    const menu = $("msg-menu");
    menu.replaceChildren();
    if (item.from === "page") {
      const emojis = el("div", "emojis");
      emojis.setAttribute("aria-label", t("react"));
      const mine = (item.reactions || {}).customer;
      for (const emoji of REACTIONS) {
        const btn = el("button", emoji === mine ? "chosen" : "", emoji);
        btn.type = "button";
        btn.addEventListener("click", () => {
          send({ type: "reaction", mid: item.mid, emoji, action: emoji === mine ? "unreact" : "react" });
          closeMenu();
        });
        emojis.append(btn);
      }
      menu.append(emojis);
      const reply = el("button", "", `↩ ${t("reply")}`);
      reply.type = "button";
      reply.addEventListener("click", () => { setReply(item); closeMenu(); });
      menu.append(reply);
    } else if (channel === "instagram") {
      const unsend = el("button", "", `🗑 ${t("unsend")}`);
      unsend.type = "button";
      unsend.addEventListener("click", () => { send({ type: "unsend", mid: item.mid }); closeMenu(); });
      menu.append(unsend);
    }
    const rect = anchor.getBoundingClientRect();
    menu.hidden = false;
    const left = Math.min(window.innerWidth - menu.offsetWidth - 8, Math.max(8, rect.left));
    const top = rect.top > menu.offsetHeight + 12 ? rect.top - menu.offsetHeight - 6 : rect.bottom + 6;
    menu.style.left = `${left}px`;
    menu.style.top = `${top}px`;
    setTimeout(() => document.addEventListener("click", outsideClose, { once: true }), 0);
  }
  function outsideClose(ev) { if (!$("msg-menu").contains(ev.target)) closeMenu(); else document.addEventListener("click", outsideClose, { once: true }); }
  function closeMenu() { $("msg-menu").hidden = true; }

  function addLongPress(node, callback) {
    let timer = null;
    node.addEventListener("pointerdown", () => { timer = setTimeout(callback, 550); });
    ["pointerup", "pointerleave", "pointercancel"].forEach((ev) => node.addEventListener(ev, () => clearTimeout(timer)));
    node.addEventListener("contextmenu", (ev) => { ev.preventDefault(); callback(); });
  }

  function setReply(item) {
    storyContext = false;
    replyTo = { mid: item.mid, text: summary(item) };
    showContext(t("replyingTo") + replyTo.text);
  }
  function showContext(text) {
    $("context-text").textContent = text;
    $("context").hidden = false;
    $("text").placeholder = storyContext ? t("placeholderStory") : t("placeholder");
    $("text").focus();
  }
  function clearContext() {
    replyTo = null; storyContext = false;
    $("context").hidden = true;
    $("text").placeholder = t("placeholder");
  }

  // -- composer & attachments ----------------------------------------------------------------
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("text");
    const text = input.value;
    if (!text.trim()) return;
    const msg = storyContext ? { type: "story_reply", text } : { type: "text", text };
    if (replyTo) msg.reply_to = replyTo.mid;
    if (send(msg)) { input.value = ""; clearContext(); }
  });
  $("context-cancel").addEventListener("click", clearContext);

  $("attach").addEventListener("click", (ev) => {
    ev.stopPropagation();
    const menu = $("attach-menu");
    menu.hidden = !menu.hidden;
    $("attach").setAttribute("aria-expanded", String(!menu.hidden));
  });
  document.addEventListener("click", (ev) => {
    if (!$("attach-menu").contains(ev.target) && ev.target !== $("attach")) $("attach-menu").hidden = true;
  });
  $("attach-menu").addEventListener("click", async (ev) => {
    const button = ev.target.closest("button");
    if (!button) return;
    $("attach-menu").hidden = true;
    if (button.dataset.sample) { send({ type: "sample", kind: button.dataset.sample }); return; }
    const action = button.dataset.action;
    if (action === "upload") $("file").click();
    if (action === "video") recordSampleVideo();
    if (action === "referral") { if (send({ type: "referral", ref: "sandbox-link" })) toast(t("referralSent")); }
    if (action === "story_reply") { replyTo = null; storyContext = true; showContext(`📖 ${t("storyContext")}`); }
  });
  $("file").addEventListener("change", async () => {
    const file = $("file").files[0];
    $("file").value = "";
    if (file) await uploadAndSend(file, file.name);
  });

  async function uploadAndSend(blob, filename) {
    try {
      const response = await fetch("/sandbox/upload", {
        method: "POST",
        headers: { "Content-Type": blob.type || "application/octet-stream", "X-Filename": encodeURIComponent(filename),
          "X-Sandbox-Upload": "1" },
        body: blob,
      });
      if (!response.ok) throw new Error(String(response.status));
      const stored = await response.json();
      send({ type: "media", media_id: stored.media_id });
    } catch (err) {
      toast(`${t("uploadFailed")} (${err.message})`);
    }
  }

  // A real (tiny) video without shipping a binary: record a canvas animation.
  async function recordSampleVideo() {
    const type = ["video/webm;codecs=vp8", "video/webm"].find((m) => window.MediaRecorder && MediaRecorder.isTypeSupported(m));
    const canvas = document.createElement("canvas");
    if (!type || !canvas.captureStream) { toast(t("videoFailed")); return; }
    toast(t("recording"));
    canvas.width = 320; canvas.height = 240;
    const ctx = canvas.getContext("2d");
    const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType: type });
    const chunks = [];
    recorder.ondataavailable = (ev) => { if (ev.data.size) chunks.push(ev.data); };
    const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
    recorder.start(200);
    const started = performance.now();
    await new Promise((resolve) => {
      const timer = setInterval(() => {
        const k = (performance.now() - started) / 1600;
        ctx.fillStyle = channel === "instagram" ? "#8a3ab9" : "#0084ff";
        ctx.fillRect(0, 0, 320, 240);
        ctx.fillStyle = "#fff";
        ctx.beginPath(); ctx.arc(40 + 240 * Math.min(k, 1), 120, 28, 0, Math.PI * 2); ctx.fill();
        ctx.font = "20px sans-serif"; ctx.fillText("Sandbox", 20, 30);
        if (k >= 1) { clearInterval(timer); resolve(); }
      }, 40);
    });
    recorder.stop();
    await stopped;
    await uploadAndSend(new Blob(chunks, { type: "video/webm" }), "video-ejemplo.webm");
  }

  // -- Page Inbox reply ------------------------------------------------------------------------
  $("inbox-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("inbox-text").value;
    if (text.trim() && send({ type: "inbox_reply", text })) $("inbox-text").value = "";
  });

  // -- log -----------------------------------------------------------------------------------
  function addLog(entry) {
    const li = el("li");
    li.append(el("span", "dir", entry.dir === "graph" ? t("graph") : t("webhook")), el("span", "what", entry.label));
    const code = entry.status ? String(entry.status) : (entry.error ? "ERR" : "…");
    const codeEl = el("span", `code ${entry.ok ? "ok" : "bad"}`, code);
    if (entry.error) codeEl.title = entry.error;
    li.append(codeEl);
    const log = $("log");
    log.prepend(li);
    while (log.children.length > 80) log.lastElementChild.remove();
  }

  let toastTimer = null;
  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 3500);
  }

  // -- channel, customer, language -------------------------------------------------------------
  function applyChannel() {
    document.body.dataset.channel = channel;
    document.querySelectorAll("[data-channel-choice]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.channelChoice === channel)));
    document.querySelectorAll("[data-only]").forEach((b) => { b.hidden = b.dataset.only !== channel; });
    $("channel-badge").textContent = channel === "messenger" ? "Messenger" : "Instagram";
    $("customer-name").value = profile.name;
    document.title = `Sandbox Meta · ${channel === "messenger" ? "Messenger" : "Instagram"}`;
  }
  document.querySelectorAll("[data-channel-choice]").forEach((button) => button.addEventListener("click", () => {
    if (button.dataset.channelChoice === channel) return;
    channel = button.dataset.channelChoice;
    localStorage.setItem(`sandbox.${slot}.channel`, channel);
    const name = profile.name;
    profile = loadProfile();
    if (profile.name !== name) { profile.name = name; saveProfile(profile); }
    items = []; clearContext(); $("log").replaceChildren(); showTyping(false);
    applyChannel(); renderAll(); hello();
  }));
  $("customer-name").addEventListener("change", () => {
    const name = $("customer-name").value.trim().slice(0, 60);
    if (!name) { $("customer-name").value = profile.name; return; }
    profile.name = name; saveProfile(profile); hello();
  });
  $("customer-name").addEventListener("keydown", (ev) => { if (ev.key === "Enter") ev.target.blur(); });
  $("new-customer").addEventListener("click", () => {
    profile = { id: (channel === "messenger" ? "24" : "17") + randomDigits(14), name: profile.name };
    saveProfile(profile);
    items = []; clearContext(); $("log").replaceChildren(); showTyping(false); renderAll(); hello();
  });
  $("lang-toggle").addEventListener("click", () => {
    lang = lang === "es" ? "en" : "es";
    localStorage.setItem("sandbox.lang", lang);
    applyI18n(); renderAll();
  });

  applyChannel();
  applyI18n();
  renderAll();
  connect();
})();
