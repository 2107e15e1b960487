// An in-page confirmation (a modal <dialog>, like Terminar atención's): the browser gives it
// focus trapping, Escape to cancel and the top layer, so it also opens above Historial.
// window.confirm is never used: it blocks the page (live updates stop) and cannot be styled
// or translated.

import { h, icon } from "./dom.js";

/**
 * Ask, and resolve with the value of the button chosen (null on Escape or "cancel").
 * actions: [{value, label, kind?: "primary"|"danger"|"", id?}], the first with `focus` gets
 * the focus (else the last, the safest by convention: "stay" / "cancel").
 */
export function confirmDialog({ id, title, subject, body, note, actions }) {
  const buttons = actions.map((action) => {
    const button = h("button", { type: "submit", value: action.value, class: `button ${action.kind || ""}`.trim(), id: action.id }, action.label);
    return { action, button };
  });
  const titleId = `${id}-title`;
  const dialog = h("dialog", { class: "modal confirm-modal", id, "aria-labelledby": titleId },
    h("form", { class: "modal-body" },
      h("div", { class: "modal-icon", "aria-hidden": "true" }, icon("alert")),
      h("h2", { id: titleId }, title),
      subject ? h("p", { class: "modal-subject" }, subject) : null,
      body ? h("p", { class: "modal-text" }, body) : null,
      note ? h("p", { class: "modal-note" }, note) : null,
      h("div", { class: "modal-actions" }, buttons.map((entry) => entry.button))));
  const form = dialog.querySelector("form");
  form.method = "dialog";
  document.getElementById(id)?.remove(); // one at a time of each kind
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const value = dialog.returnValue;
      dialog.remove();
      resolve(value && value !== "cancel" ? value : null);
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    const focused = buttons.find((entry) => entry.action.focus) || buttons[buttons.length - 1];
    focused.button.focus();
  });
}
