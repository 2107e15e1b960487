// Every label of the desk, Spanish first (the product's language), English available.
// Static markup carries data-i18n / data-i18n-placeholder / data-i18n-title / data-i18n-aria.

const TABLE = {
  es: {
    product: "Mesa de atención",
    productTagline: "Messenger e Instagram",
    username: "Usuario",
    password: "Contraseña",
    signIn: "Entrar",
    signingIn: "Entrando…",
    loginFailed: "Usuario o contraseña incorrectos.",
    loginThrottled: "Demasiados intentos. Espere un momento y vuelva a intentarlo.",
    sessionExpired: "La sesión expiró. Entre de nuevo.",
    logout: "Salir",
    history: "Historial",
    comingSoon: "Próximamente",
    channel: "Canal",
    language: "Idioma",
    live: "En vivo",
    reconnecting: "Reconectando…",
    attentions: "Atenciones",
    openCount: "Abiertas",
    queuedCount: "En cola",
    queuedGroup: "En cola",
    openGroup: "Abiertas",
    search: "Buscar atenciones abiertas por nombre, #id, etiqueta o texto",
    searchPlaceholder: "Buscar atenciones abiertas",
    searchHint: "Escriba al menos 3 caracteres",
    searchResults: "Resultados de la búsqueda",
    noResults: "Ninguna atención abierta coincide.",
    emptyList: "No hay atenciones abiertas ni en cola.",
    queuedBell: "En cola: nueva atención",
    unread: "{n} sin leer",
    selectPrompt: "Seleccione una atención de la lista",
    selectHint: "Las atenciones en cola llevan una campana. Ábrala con «Atender».",
    take: "Atender",
    taking: "Abriendo…",
    takenByOther: "Otro agente ya la tomó",
    queuedSince: "En cola desde {time}",
    lastMessage: "Último mensaje",
    contextTitle: "Conversación con el bot",
    humanTitle: "Atención con agente",
    earlier: "Mensajes anteriores",
    loading: "Cargando…",
    timerTitle: "Tiempo para responder (24 h desde el último mensaje del cliente)",
    window24: "Ventana 24 h",
    windowClosed: "Pasaron 24 horas desde el último mensaje del cliente: Meta no permite responderle hasta que vuelva a escribir. Puede terminar la atención.",
    windowHumanAgent: "Fuera de 24 h: se enviará con la etiqueta HUMAN_AGENT",
    windowHumanAgentTitle: "Meta permite responder hasta {time} con la etiqueta HUMAN_AGENT",
    noWindow: "El cliente aún no ha escrito: Meta no permite enviarle mensajes todavía.",
    composerPlaceholder: "Escriba un mensaje… (Enter envía, Mayús+Enter salto de línea)",
    send: "Enviar",
    emoji: "Emoji",
    attach: "Adjuntar archivo",
    uploading: "Subiendo {name}…",
    uploadFailed: "No se pudo subir el archivo ({reason})",
    sendFailed: "No se pudo enviar ({reason})",
    labels: "Etiquetas",
    labelsHint: "Aplicar o quitar etiquetas",
    noLabels: "No hay etiquetas. Las crea un supervisor.",
    formTitle: "Formulario - {channel}",
    formEmpty: "Abra una atención para ver su formulario.",
    formNone: "Esta campaña no tiene formulario.",
    requiredMark: "Obligatorio",
    chooseOption: "Seleccione…",
    errRequired: "Este campo es obligatorio.",
    errMinLength: "Escriba al menos {n} caracteres.",
    errMaxLength: "Escriba como máximo {n} caracteres.",
    errNumber: "Escriba un número.",
    errMin: "Debe ser al menos {n}.",
    errMax: "Debe ser como máximo {n}.",
    errDate: "Escriba una fecha válida.",
    saving: "Guardando…",
    saved: "Guardado",
    saveFailed: "No se pudo guardar",
    terminate: "Terminar atención",
    terminating: "Terminando…",
    confirmTitle: "¿Terminar la atención?",
    confirmBody: "Asegúrese de que la consulta del cliente ha sido resuelta antes de proceder.",
    confirmDetail: "Los mensajes y el formulario quedarán registrados en el Historial de atenciones.",
    cancel: "Cancelar",
    terminated: "Atención #{id} terminada",
    fixFields: "Revise los campos marcados antes de terminar.",
    status_pending: "Pendiente",
    status_sent: "Enviado",
    status_delivered: "Entregado",
    status_read: "Leído",
    status_failed: "No enviado",
    status_unknown: "Sin confirmar",
    unknownDetail: "El servidor se detuvo mientras lo enviaba: puede que el cliente ya lo tenga.",
    sendAgain: "Enviar de nuevo",
    retry: "Reintentar",
    failedUnknown: "Meta rechazó el mensaje.",
    deleted: "Mensaje eliminado",
    unsupported: "Mensaje no compatible (el cliente envió algo que Meta no muestra aquí)",
    externalEcho: "Respondido desde otra app",
    reacted: "reaccionó {emoji} a un mensaje",
    unreacted: "quitó su reacción a un mensaje",
    edited: "Mensaje editado",
    postback: "Pulsó un botón",
    referral: "Llegó por un enlace o anuncio",
    storyMention: "Le mencionó en su historia",
    storyReply: "Respondió a su historia",
    viewStory: "Ver historia",
    location: "Ubicación",
    openMap: "Ver en el mapa",
    share: "Compartió una publicación",
    openShare: "Abrir",
    file: "Archivo",
    download: "Descargar",
    sticker: "Sticker",
    image: "Imagen",
    video: "Video",
    audio: "Audio",
    template: "Plantilla",
    reel: "Reel",
    attachment: "Adjunto",
    mediaUnavailable: "No se pudo cargar (el enlace de Meta pudo caducar).",
    author_customer: "Cliente",
    author_bot: "Bot",
    author_agent: "Agente",
    author_external: "Otra app",
    you: "Usted",
    today: "Hoy",
    yesterday: "Ayer",
    attentionGone: "La atención #{id} ya no está en su lista.",
    attentionReturned: "La atención #{id} volvió a la cola.",
    transferredToYou: "Le transfirieron la atención #{id}.",
    genericError: "Algo salió mal ({reason}).",
    forbidden: "No tiene permiso para hacer esto.",
    conflict: "La atención cambió mientras tanto. Se actualizó la vista.",
    offline: "Sin conexión con el servidor.",
    messenger: "Messenger",
    instagram: "Instagram",
    historyHint: "Atenciones terminadas: buscar, ver detalle, nueva atención",
    labelsAdminHint: "Crear, renombrar y retirar etiquetas",
    supervision: "Supervisión",
    supervisionHint: "Colas, agentes en línea y cuentas de agentes",
    close: "Cerrar",
    historyKeyword: "Palabra clave",
    historyKeywordHint: "Nombre, campaña, mensaje, formulario o fecha",
    dateFrom: "Desde",
    dateTo: "Hasta",
    campaign: "Campaña",
    campaigns: "Campañas",
    label: "Etiqueta",
    agent: "Agente",
    searchAction: "Buscar",
    clearFilters: "Limpiar",
    historyEmpty: "No hay atenciones terminadas que coincidan.",
    loadMore: "Cargar más",
    allCampaigns: "Todas las campañas",
    allLabels: "Todas las etiquetas",
    allAgents: "Todos los agentes",
    inbound: "Entrante",
    outbound: "Saliente",
    viewDetail: "Ver detalle",
    newAttention: "Nueva atención",
    newAttentionHint: "Iniciar una atención saliente con este cliente (Messenger)",
    outboundMessengerOnly: "Solo Messenger",
    outboundInstagram: "Instagram no permite que la empresa escriba primero: no se pueden iniciar atenciones salientes.",
    outboundWindowClosed: "No se puede iniciar la atención: {reason}",
    outboundBusy: "El cliente ya tiene una atención activa (#{id}).",
    outboundStarted: "Atención saliente #{id} iniciada",
    endedAt: "Fecha de término",
    endedOn: "Terminada el {time}",
    historyBadFilter: "Revise los filtros ({reason}).",
    historyTruncated: "Se muestran los mensajes más recientes.",
    historyNoMessages: "Sin mensajes con agente.",
    transcript: "Conversación",
    formValues: "Formulario",
    auditTrail: "Registro de la atención",
    backToHistory: "Volver al historial",
    system: "Sistema",
    trail_queued: "En cola en {campaign}",
    trail_open: "Abierta por {who}",
    trail_transfer_agent: "Transferida de {from} a {to} por {who}",
    trail_transfer_campaign: "Transferida de {from} a la campaña {to} por {who}",
    trail_release: "Devuelta a la cola por {who}",
    trail_return_orphan: "Volvió a la cola: {from} no estaba conectado",
    trail_terminate: "Terminada por {who}",
    trail_outbound: "Iniciada (saliente) por {who}",
    trail_label_applied: "Etiqueta «{label}» aplicada por {who}",
    trail_label_removed: "Etiqueta «{label}» quitada por {who}",
    trail_form_saved: "Formulario guardado por {who}",
    transfer: "Transferir",
    transferNote: "Nota (opcional)",
    transferNoteHint: "Para quien la reciba",
    transferHint: "Transferir a otra campaña o a otro agente",
    transferToCampaign: "A otra campaña (vuelve a su cola)",
    transferToAgent: "A otro agente",
    transferNoCampaigns: "No hay otra campaña para este canal.",
    transferNoAgents: "No hay otros agentes en esta campaña.",
    transferUnavailable: "No se pudo cargar a quién transferir.",
    transferDone: "Atención #{id} transferida",
    transferFailed: "No se pudo transferir ({reason})",
    transferredAway: "La atención #{id} fue transferida y ya no está en su lista.",
    attentionBackInQueue: "La atención #{id} volvió a la cola.",
    online: "En línea",
    offlineAgent: "Desconectado",
    refresh: "Actualizar",
    overviewTitle: "Estado de las colas",
    agentsTitle: "Agentes",
    totalQueued: "En cola",
    totalOpen: "Abiertas",
    agentsOnline: "Agentes en línea",
    updatedAt: "Actualizado a las {time}",
    perCampaign: "Por campaña",
    perAgent: "Por agente",
    oldestWaiting: "Espera más larga",
    openPerAgent: "Abiertas por agente",
    presence: "Estado",
    newAgent: "Nuevo agente",
    displayName: "Nombre visible",
    role: "Rol",
    roleAgent: "Agente",
    roleSupervisor: "Supervisor",
    status: "Cuenta",
    active: "Activa",
    inactive: "Desactivada",
    activate: "Activar",
    deactivate: "Desactivar",
    createAgent: "Crear agente",
    agentCreated: "Agente {name} creado",
    agentInvalid: "Revise los datos ({reason})",
    agentActivated: "{name} activado",
    agentDeactivated: "{name} desactivado: su sesión terminó",
    labelName: "Nombre",
    labelColour: "Color",
    createLabel: "Crear etiqueta",
    labelCreated: "Etiqueta «{name}» creada",
    labelInvalid: "No se pudo guardar la etiqueta ({reason})",
    labelNameRequired: "Escriba un nombre para la etiqueta.",
    noLabelsYet: "Aún no hay etiquetas.",
    save: "Guardar",
    retire: "Retirar",
    restore: "Restaurar",
    retired: "Retirada",
    // issue 13 — form values
    trail_queued_by_rule: "En cola en {campaign} (regla de enrutamiento {rule})",
    trail_queued_by_default: "En cola en {campaign} (campaña por defecto: ninguna regla se aplicó)",
  },
  en: {
    product: "Agent desk",
    productTagline: "Messenger and Instagram",
    username: "Username",
    password: "Password",
    signIn: "Sign in",
    signingIn: "Signing in…",
    loginFailed: "Wrong username or password.",
    loginThrottled: "Too many attempts. Wait a moment and try again.",
    sessionExpired: "Your session expired. Please sign in again.",
    logout: "Log out",
    history: "History",
    comingSoon: "Coming soon",
    channel: "Channel",
    language: "Language",
    live: "Live",
    reconnecting: "Reconnecting…",
    attentions: "Attentions",
    openCount: "Open",
    queuedCount: "Queued",
    queuedGroup: "Queued",
    openGroup: "Open",
    search: "Search open attentions by name, #id, label or text",
    searchPlaceholder: "Search open attentions",
    searchHint: "Type at least 3 characters",
    searchResults: "Search results",
    noResults: "No open attention matches.",
    emptyList: "No open or queued attentions.",
    queuedBell: "Queued: new attention",
    unread: "{n} unread",
    selectPrompt: "Select an attention from the list",
    selectHint: "Queued attentions carry a bell. Open one with “Take”.",
    take: "Take",
    taking: "Opening…",
    takenByOther: "Another agent already took it",
    queuedSince: "Queued since {time}",
    lastMessage: "Last message",
    contextTitle: "Conversation with the bot",
    humanTitle: "Attention with an agent",
    earlier: "Earlier messages",
    loading: "Loading…",
    timerTitle: "Time left to answer (24 h from the customer's last message)",
    window24: "24 h window",
    windowClosed: "24 hours have passed since the customer's last message: Meta allows no reply until they write again. You can terminate the attention.",
    windowHumanAgent: "Past 24 h: it will be sent with the HUMAN_AGENT tag",
    windowHumanAgentTitle: "Meta allows answers until {time} with the HUMAN_AGENT tag",
    noWindow: "The customer has not written yet: Meta allows no message yet.",
    composerPlaceholder: "Type a message… (Enter sends, Shift+Enter new line)",
    send: "Send",
    emoji: "Emoji",
    attach: "Attach a file",
    uploading: "Uploading {name}…",
    uploadFailed: "The file could not be uploaded ({reason})",
    sendFailed: "Could not send ({reason})",
    labels: "Labels",
    labelsHint: "Apply or remove labels",
    noLabels: "There are no labels. A supervisor creates them.",
    formTitle: "Form - {channel}",
    formEmpty: "Open an attention to see its form.",
    formNone: "This campaign has no form.",
    requiredMark: "Required",
    chooseOption: "Choose…",
    errRequired: "This field is required.",
    errMinLength: "Type at least {n} characters.",
    errMaxLength: "Type at most {n} characters.",
    errNumber: "Type a number.",
    errMin: "Must be at least {n}.",
    errMax: "Must be at most {n}.",
    errDate: "Type a valid date.",
    saving: "Saving…",
    saved: "Saved",
    saveFailed: "Could not save",
    terminate: "End attention",
    terminating: "Ending…",
    confirmTitle: "End the attention?",
    confirmBody: "Make sure the customer's request has been resolved before you proceed.",
    confirmDetail: "Its messages and form will be kept in the attention history.",
    cancel: "Cancel",
    terminated: "Attention #{id} ended",
    fixFields: "Check the marked fields before ending.",
    status_pending: "Pending",
    status_sent: "Sent",
    status_delivered: "Delivered",
    status_read: "Read",
    status_failed: "Not sent",
    status_unknown: "Unconfirmed",
    unknownDetail: "The server stopped while sending it: the customer may already have it.",
    sendAgain: "Send again",
    retry: "Retry",
    failedUnknown: "Meta refused the message.",
    deleted: "Message deleted",
    unsupported: "Unsupported message (the customer sent something Meta does not show here)",
    externalEcho: "Answered from another app",
    reacted: "reacted {emoji} to a message",
    unreacted: "removed their reaction to a message",
    edited: "Edited message",
    postback: "Pressed a button",
    referral: "Came through a link or ad",
    storyMention: "Mentioned you in their story",
    storyReply: "Replied to your story",
    viewStory: "View story",
    location: "Location",
    openMap: "Open the map",
    share: "Shared a post",
    openShare: "Open",
    file: "File",
    download: "Download",
    sticker: "Sticker",
    image: "Image",
    video: "Video",
    audio: "Audio",
    template: "Template",
    reel: "Reel",
    attachment: "Attachment",
    mediaUnavailable: "Could not be loaded (Meta's link may have expired).",
    author_customer: "Customer",
    author_bot: "Bot",
    author_agent: "Agent",
    author_external: "Another app",
    you: "You",
    today: "Today",
    yesterday: "Yesterday",
    attentionGone: "Attention #{id} is no longer in your list.",
    attentionReturned: "Attention #{id} went back to the queue.",
    transferredToYou: "Attention #{id} was transferred to you.",
    genericError: "Something went wrong ({reason}).",
    forbidden: "You are not allowed to do this.",
    conflict: "The attention changed meanwhile. The view was refreshed.",
    offline: "No connection to the server.",
    messenger: "Messenger",
    instagram: "Instagram",
    historyHint: "Terminated attentions: search, view detail, new attention",
    labelsAdminHint: "Create, rename and retire labels",
    supervision: "Supervision",
    supervisionHint: "Queues, agents online and agent accounts",
    close: "Close",
    historyKeyword: "Keyword",
    historyKeywordHint: "Name, campaign, message, form or date",
    dateFrom: "From",
    dateTo: "To",
    campaign: "Campaign",
    campaigns: "Campaigns",
    label: "Label",
    agent: "Agent",
    searchAction: "Search",
    clearFilters: "Clear",
    historyEmpty: "No terminated attentions match.",
    loadMore: "Load more",
    allCampaigns: "All campaigns",
    allLabels: "All labels",
    allAgents: "All agents",
    inbound: "Inbound",
    outbound: "Outbound",
    viewDetail: "View detail",
    newAttention: "New attention",
    newAttentionHint: "Start an outbound attention with this customer (Messenger)",
    outboundMessengerOnly: "Messenger only",
    outboundInstagram: "Instagram does not let a business write first: outbound attentions cannot be started.",
    outboundWindowClosed: "The attention cannot be started: {reason}",
    outboundBusy: "The customer already has an active attention (#{id}).",
    outboundStarted: "Outbound attention #{id} started",
    endedAt: "End date",
    endedOn: "Ended {time}",
    historyBadFilter: "Check the filters ({reason}).",
    historyTruncated: "Showing the latest messages.",
    historyNoMessages: "No messages with an agent.",
    transcript: "Conversation",
    formValues: "Form",
    auditTrail: "Audit trail",
    backToHistory: "Back to history",
    system: "System",
    trail_queued: "Queued in {campaign}",
    trail_open: "Opened by {who}",
    trail_transfer_agent: "Transferred from {from} to {to} by {who}",
    trail_transfer_campaign: "Transferred from {from} to campaign {to} by {who}",
    trail_release: "Put back in the queue by {who}",
    trail_return_orphan: "Returned to the queue: {from} was not connected",
    trail_terminate: "Terminated by {who}",
    trail_outbound: "Started (outbound) by {who}",
    trail_label_applied: "Label “{label}” applied by {who}",
    trail_label_removed: "Label “{label}” removed by {who}",
    trail_form_saved: "Form saved by {who}",
    transfer: "Transfer",
    transferNote: "Note (optional)",
    transferNoteHint: "For whoever receives it",
    transferHint: "Transfer to another campaign or another agent",
    transferToCampaign: "To another campaign (back to its queue)",
    transferToAgent: "To another agent",
    transferNoCampaigns: "No other campaign serves this channel.",
    transferNoAgents: "No other agents in this campaign.",
    transferUnavailable: "Could not load who to transfer to.",
    transferDone: "Attention #{id} transferred",
    transferFailed: "Could not transfer ({reason})",
    transferredAway: "Attention #{id} was transferred and is no longer in your list.",
    attentionBackInQueue: "Attention #{id} is back in the queue.",
    online: "Online",
    offlineAgent: "Offline",
    refresh: "Refresh",
    overviewTitle: "Queues",
    agentsTitle: "Agents",
    totalQueued: "Queued",
    totalOpen: "Open",
    agentsOnline: "Agents online",
    updatedAt: "Updated at {time}",
    perCampaign: "Per campaign",
    perAgent: "Per agent",
    oldestWaiting: "Longest wait",
    openPerAgent: "Open per agent",
    presence: "Status",
    newAgent: "New agent",
    displayName: "Display name",
    role: "Role",
    roleAgent: "Agent",
    roleSupervisor: "Supervisor",
    status: "Account",
    active: "Active",
    inactive: "Deactivated",
    activate: "Activate",
    deactivate: "Deactivate",
    createAgent: "Create agent",
    agentCreated: "Agent {name} created",
    agentInvalid: "Check the details ({reason})",
    agentActivated: "{name} activated",
    agentDeactivated: "{name} deactivated: their session ended",
    labelName: "Name",
    labelColour: "Colour",
    createLabel: "Create label",
    labelCreated: "Label “{name}” created",
    labelInvalid: "Could not save the label ({reason})",
    labelNameRequired: "Type a name for the label.",
    noLabelsYet: "No labels yet.",
    save: "Save",
    retire: "Retire",
    restore: "Restore",
    retired: "Retired",
    // issue 13 — form values
    trail_queued_by_rule: "Queued in {campaign} (routing rule {rule})",
    trail_queued_by_default: "Queued in {campaign} (default campaign: no rule applied)",
  },
};

export const LANGUAGES = ["es", "en"];
const STORAGE_KEY = "desk.lang";

let current = (() => {
  try {
    const saved = window.localStorage.getItem(STORAGE_KEY);
    return LANGUAGES.includes(saved) ? saved : "es";
  } catch {
    return "es";
  }
})();

const listeners = new Set();

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang) || lang === current) return;
  current = lang;
  try {
    window.localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    /* private mode: the choice lasts for this page */
  }
  applyStatic(document);
  for (const listener of listeners) listener(lang);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
}

/** The label for key in the current language, with {name} placeholders filled as text. */
export function t(key, values = {}) {
  const text = TABLE[current][key] ?? TABLE.es[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

export function hasKey(key) {
  return key in TABLE.es;
}

/** Fill the static labels of the page (textContent and attributes only). */
export function applyStatic(root) {
  document.documentElement.lang = current;
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of root.querySelectorAll("[data-i18n-placeholder]")) element.placeholder = t(element.dataset.i18nPlaceholder);
  for (const element of root.querySelectorAll("[data-i18n-title]")) element.title = t(element.dataset.i18nTitle);
  for (const element of root.querySelectorAll("[data-i18n-aria]")) element.setAttribute("aria-label", t(element.dataset.i18nAria));
  for (const element of root.querySelectorAll("[data-lang-choice]")) {
    element.setAttribute("aria-pressed", String(element.dataset.langChoice === current));
  }
}

// -- times ----------------------------------------------------------------------------

function locale() {
  return current === "es" ? "es-ES" : "en-GB";
}

export function parseTime(value) {
  if (!value) return null;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? null : time;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Short time for lists: 14:05 today, "Ayer" yesterday, 24/11 otherwise. */
export function shortTime(value) {
  const time = parseTime(value);
  if (!time) return "";
  const now = new Date();
  if (sameDay(time, now)) return time.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(time, yesterday)) return t("yesterday");
  return time.toLocaleDateString(locale(), { day: "2-digit", month: "2-digit" });
}

export function clockTime(value) {
  const time = parseTime(value);
  return time ? time.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" }) : "";
}

export function fullTime(value) {
  const time = parseTime(value);
  return time ? time.toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" }) : "";
}

export function dayLabel(value) {
  const time = parseTime(value);
  if (!time) return "";
  const now = new Date();
  if (sameDay(time, now)) return t("today");
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(time, yesterday)) return t("yesterday");
  return time.toLocaleDateString(locale(), { weekday: "long", day: "numeric", month: "long" });
}

export function dayKey(value) {
  const time = parseTime(value);
  return time ? `${time.getFullYear()}-${time.getMonth()}-${time.getDate()}` : "";
}
