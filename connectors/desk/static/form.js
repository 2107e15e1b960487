// Right pane: "Formulario - Messenger / Instagram": the campaign's fields, pre-filled from
// attention.form, checked in the browser, saved on change (PUT, debounced), and
// "Terminar atención" with its confirmation.

import { api } from "./api.js";
import { heldByOther } from "./conversation.js";
import { byId, clear, debounce, h } from "./dom.js";
import { errorText, fieldErrorTexts, t } from "./i18n.js";

const SAVE_DELAY_MS = 700;

// The API gives each option as {id, label}: the id is the value stored and sent back, the
// label (from data/campaigns.yml, in the agent's language, with its accents) is shown.
function optionOf(option) {
  if (option && typeof option === "object") {
    const value = String(option.id ?? option.value ?? "");
    return { value, label: String(option.label ?? value) };
  }
  const value = String(option ?? "");
  return { value, label: value };
}

function blank(value) {
  if (value === null || value === undefined) return true;
  if (typeof value === "string") return !value.trim();
  if (Array.isArray(value)) return value.length === 0;
  return false;
}

export function createForm(ctx) {
  const { state } = ctx;
  const formElement = byId("attention-form");
  const title = byId("form-title");
  const saveState = byId("form-save-state");
  const footError = byId("form-error");
  const terminateButton = byId("terminate-button");
  const dialog = byId("terminate-dialog");
  let fields = [];
  let attentionId = null;
  let saveSerial = 0;

  const save = debounce((id, values) => saveNow(id, values), SAVE_DELAY_MS);

  function setTitle() {
    title.textContent = t("formTitle", { channel: t(state.channel) });
  }

  function setSaveState(kind) {
    saveState.dataset.state = kind || "";
    saveState.textContent = kind ? t(kind) : "";
  }

  function clearForm() {
    save.flush();
    attentionId = null;
    fields = [];
    setTitle();
    setSaveState(null);
    footError.hidden = true;
    terminateButton.disabled = true;
    terminateButton.hidden = false;
    delete formElement.dataset.state;
    clear(formElement).append(h("p", { class: "form-empty" }, t("formEmpty")));
  }

  function controlFor(field, value) {
    const id = `field-${field.id}`;
    const common = { id, name: field.id, "data-field": field.id };
    switch (field.type) {
      case "paragraph":
        return h("textarea", { ...common, rows: "3", maxlength: field.max_length ?? null, value: null }, blank(value) ? "" : String(value));
      case "number":
        return h("input", { ...common, type: "number", inputmode: "decimal", step: "any", min: field.min ?? null, max: field.max ?? null, value: blank(value) ? "" : String(value) });
      case "date":
        return h("input", { ...common, type: "date", value: blank(value) ? "" : String(value) });
      case "list": {
        const select = h("select", common, h("option", { value: "" }, t("chooseOption")),
          (field.options || []).map(optionOf).map((option) => h("option", { value: option.value }, option.label)));
        select.value = blank(value) ? "" : String(value);
        return select;
      }
      case "single_choice":
      case "multiple_choice": {
        const multiple = field.type === "multiple_choice";
        const chosen = new Set(multiple ? (Array.isArray(value) ? value.map(String) : []) : blank(value) ? [] : [String(value)]);
        return h("div", { class: "choices", role: multiple ? "group" : "radiogroup", id, "aria-labelledby": null },
          (field.options || []).map(optionOf).map((option, index) => {
            const input = h("input", { type: multiple ? "checkbox" : "radio", name: field.id, value: option.value, id: `${id}-${index}`, "data-field": field.id });
            input.checked = chosen.has(option.value);
            return h("label", { class: "choice", for: `${id}-${index}` }, input, h("span", {}, option.label));
          }));
      }
      default:
        return h("input", { ...common, type: "text", maxlength: field.max_length ?? null, minlength: field.min_length ?? null, autocomplete: "off", value: blank(value) ? "" : String(value) });
    }
  }

  function fieldElement(field, value) {
    const choice = field.type === "single_choice" || field.type === "multiple_choice";
    const labelText = h("span", { class: "field-label-text" }, field.label || field.id);
    const mark = field.required ? h("span", { class: "required-mark", title: t("requiredMark"), "aria-label": t("requiredMark") }, "*") : null;
    const label = choice
      ? h("div", { class: "field-label", id: `label-${field.id}` }, labelText, mark)
      : h("label", { class: "field-label", for: `field-${field.id}` }, labelText, mark);
    const control = controlFor(field, value);
    if (choice) control.setAttribute("aria-label", field.label || field.id);
    const error = h("p", { class: "field-error", id: `error-${field.id}`, role: "alert", hidden: true });
    return h("div", { class: `form-field type-${field.type}`, "data-field": field.id, "data-type": field.type }, label, control, error);
  }

  function render(detail) {
    save.flush();
    attentionId = detail.id;
    fields = (detail.campaign && Array.isArray(detail.campaign.form)) ? detail.campaign.form : [];
    setTitle();
    setSaveState(null);
    footError.hidden = true;
    const values = detail.form || {};
    clear(formElement);
    if (!fields.length) formElement.append(h("p", { class: "form-empty" }, t("formNone")));
    for (const field of fields) formElement.append(fieldElement(field, values[field.id]));
    // Someone else's attention (a supervisor following it): its form is shown, not edited,
    // and it has no Terminar atención (only its agent ends it).
    const readOnly = heldByOther(detail, state.agent);
    if (readOnly) for (const control of formElement.querySelectorAll("input, textarea, select, button")) control.disabled = true;
    if (readOnly) formElement.dataset.state = "read-only";
    else delete formElement.dataset.state;
    terminateButton.hidden = readOnly;
    terminateButton.disabled = detail.state !== "open" || readOnly;
  }

  /** The value a field holds now, as the API takes it; `invalid` when the browser says so. */
  function readField(field) {
    if (field.type === "single_choice") {
      const checked = formElement.querySelector(`input[name="${CSS.escape(field.id)}"]:checked`);
      return { value: checked ? checked.value : null };
    }
    if (field.type === "multiple_choice") {
      return { value: [...formElement.querySelectorAll(`input[name="${CSS.escape(field.id)}"]:checked`)].map((input) => input.value) };
    }
    const control = byId(`field-${field.id}`);
    if (!control) return { value: null };
    if (field.type === "number") {
      if (control.validity && control.validity.badInput) return { value: null, invalid: "errNumber" };
      if (!control.value.trim()) return { value: null };
      const number = Number(control.value);
      return Number.isFinite(number) ? { value: number } : { value: null, invalid: "errNumber" };
    }
    if (field.type === "date") {
      if (control.validity && control.validity.badInput) return { value: null, invalid: "errDate" };
      return { value: control.value || null };
    }
    return { value: control.value === "" ? null : control.value };
  }

  /** The message key (and values) of a field's problem, or null. */
  function problemOf(field, read, requireAll) {
    if (read.invalid) return { key: read.invalid };
    const value = read.value;
    if (blank(value)) return requireAll && field.required ? { key: "errRequired" } : null;
    if (field.type === "text" || field.type === "paragraph") {
      const length = String(value).trim().length;
      if (field.min_length != null && length < field.min_length) return { key: "errMinLength", values: { n: field.min_length } };
      if (field.max_length != null && length > field.max_length) return { key: "errMaxLength", values: { n: field.max_length } };
    }
    if (field.type === "number") {
      if (field.min != null && value < field.min) return { key: "errMin", values: { n: field.min } };
      if (field.max != null && value > field.max) return { key: "errMax", values: { n: field.max } };
    }
    if (field.type === "date" && !/^\d{4}-\d{2}-\d{2}$/.test(String(value))) return { key: "errDate" };
    return null;
  }

  function showFieldError(fieldId, message) {
    const wrapper = formElement.querySelector(`.form-field[data-field="${CSS.escape(fieldId)}"]`);
    if (!wrapper) return false;
    const error = wrapper.querySelector(".field-error");
    wrapper.classList.toggle("has-error", Boolean(message));
    error.hidden = !message;
    error.textContent = message || "";
    for (const control of wrapper.querySelectorAll("input, textarea, select")) {
      if (message) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
    return true;
  }

  /** Check every field; returns {values, errors: {field id: message}}. */
  function collect(requireAll) {
    const values = {};
    const errors = {};
    for (const field of fields) {
      const read = readField(field);
      const problem = problemOf(field, read, requireAll);
      if (problem) errors[field.id] = t(problem.key, problem.values);
      else values[field.id] = field.type === "multiple_choice" ? read.value : blank(read.value) ? null : read.value;
    }
    return { values, errors };
  }

  function showErrors(errors, onlyFor) {
    for (const field of fields) {
      if (onlyFor && field.id !== onlyFor) continue;
      showFieldError(field.id, errors[field.id] || null);
    }
  }

  async function saveNow(id, values) {
    if (!Object.keys(values).length) return;
    const serial = ++saveSerial;
    if (id === attentionId) setSaveState("saving");
    try {
      await api.saveForm(id, values);
      if (serial === saveSerial && id === attentionId) setSaveState("saved");
    } catch (problem) {
      if (id !== attentionId) return;
      setSaveState("saveFailed");
      if (problem.status === 422) {
        const serverFields = fieldErrorTexts(problem);
        for (const [fieldId, message] of Object.entries(serverFields)) showFieldError(fieldId, message);
      } else {
        ctx.reportError(problem);
      }
    }
  }

  function changed(event) {
    const fieldId = event.target?.dataset?.field;
    if (!fieldId || attentionId === null) return;
    const { values, errors } = collect(false);
    showErrors(errors, fieldId);
    footError.hidden = true;
    save(attentionId, values);
  }

  formElement.addEventListener("input", changed);
  formElement.addEventListener("change", changed);
  formElement.addEventListener("submit", (event) => event.preventDefault());

  function focusFirstError(errors) {
    const first = fields.find((field) => errors[field.id]);
    if (!first) return;
    const target = byId(`field-${first.id}`);
    const focusable = target && (target.matches("input, textarea, select") ? target : target.querySelector("input"));
    if (focusable) focusable.focus();
  }

  function confirm(detail) {
    byId("terminate-subject").textContent = `#${detail.id} · ${detail.customer?.name || detail.customer?.id || ""}`;
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
      dialog.showModal();
      byId("terminate-confirm").focus();
    });
  }

  terminateButton.addEventListener("click", async () => {
    const current = state.current;
    if (!current || current.id !== attentionId) return;
    const { values, errors } = collect(true);
    showErrors(errors);
    if (Object.keys(errors).length) {
      footError.hidden = false;
      footError.textContent = t("fixFields");
      focusFirstError(errors);
      return;
    }
    footError.hidden = true;
    if (!(await confirm(current.detail))) return;
    save.cancel();
    terminateButton.disabled = true;
    terminateButton.textContent = t("terminating");
    ctx.terminating(current.id);
    try {
      await api.terminate(current.id, values);
      ctx.terminated(current.id);
    } catch (problem) {
      ctx.terminating(null);
      if (problem.status === 422) {
        const serverFields = fieldErrorTexts(problem);
        showErrors(serverFields);
        footError.hidden = false;
        footError.textContent = Object.keys(serverFields).length ? t("fixFields") : errorText(problem);
        focusFirstError(serverFields);
      } else {
        ctx.reportError(problem);
      }
    } finally {
      terminateButton.textContent = t("terminate");
      if (state.current && state.current.id === attentionId) terminateButton.disabled = state.current.detail.state !== "open";
    }
  });

  /** What every control shows now, exactly as typed (valid or not). */
  function snapshot() {
    const controls = new Map();
    for (const control of formElement.querySelectorAll("input, textarea, select")) {
      controls.set(control.id, control.type === "radio" || control.type === "checkbox" ? control.checked : control.value);
    }
    const flagged = new Set([...formElement.querySelectorAll(".form-field.has-error")].map((wrapper) => wrapper.dataset.field));
    return { controls, flagged };
  }

  function restore({ controls, flagged }) {
    for (const [id, value] of controls) {
      const control = byId(id);
      if (!control) continue;
      if (typeof value === "boolean") control.checked = value;
      else control.value = value;
    }
    const { errors } = collect(true);
    for (const fieldId of flagged) showFieldError(fieldId, errors[fieldId] || null);
  }

  /** Re-render the labels in another language keeping what the agent typed. */
  function relabel(detail) {
    if (attentionId === null || detail.id !== attentionId) {
      setTitle();
      return;
    }
    const saved = snapshot();
    const saveKind = saveState.dataset.state;
    render(detail);
    restore(saved);
    setSaveState(saveKind || null);
  }

  return { render, clear: clearForm, relabel, setTitle };
}
