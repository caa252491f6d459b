// What the pages' forms do beyond HTML: confirmations, sending once, copying, chips, Enter.
import { $, $$ } from "./dom.js";

// Forms that destroy something ask first (the form still works without script).
export function initConfirms() {
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
}

// The book page's forms are sent once: a second tap while the first is on its way (a slow server)
// sends nothing. Listens on the document after initConfirms, so a cancelled confirmation leaves
// the button as it was. A page brought back from the browser's cache (Back) has its buttons again.
export function initSendOnce() {
  if (!$("#book")) return;
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches || !form.matches("main form[method=post]")) return;
    if (event.defaultPrevented) return;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    $$("button[type=submit]", form).forEach((button) => { button.disabled = true; });
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    $$("main form[data-sent]").forEach((form) => {
      delete form.dataset.sent;
      $$("button[type=submit]", form).forEach((button) => { button.disabled = false; });
    });
  });
}

export function initCopy() {
  $$("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const field = $(button.dataset.copy);
      field.select();
      try { await navigator.clipboard.writeText(field.value); } catch (e) { document.execCommand("copy"); }
      button.textContent = "복사했어요";
    });
  });
}

// A suggestion chip adds its word to the field it names; optional fields hold comma-separated items.
export function initChips() {
  document.addEventListener("click", (event) => {
    const chip = event.target.closest(".chip[data-fill]");
    if (!chip) return;
    const field = document.getElementById(chip.dataset.fill);
    const word = chip.dataset.value;
    const items = field.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (!items.includes(word)) items.push(word);
    field.value = items.join(", ");
    chip.setAttribute("aria-pressed", "true");
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

export function initEmailForm() {
  const form = $("#email-form");
  if (!form) return;
  const other = $("[data-recipient-field]", form);
  const input = $("#email-to", form);
  const update = () => {
    const toOther = $("input[name=recipient]:checked", form).value === "other";
    other.hidden = !toOther;
    input.required = toOther;
  };
  $$("input[name=recipient]", form).forEach((radio) => radio.addEventListener("change", update));
  update();
}

// Enter in a text field moves to the next field instead of sending the form (a phone keyboard's
// 이동 key did send the whole book): only the form's big button sends it, and the keyboard's Enter
// key says 다음 or 완료 (enterkeyhint). `beyond(field, go)` may name a field past the visible ones
// (the next scene's, opened when `go`). A Korean syllable's Enter (isComposing) is the IME's own.
const TYPED = "input:not([type=hidden]):not([type=file]):not([type=radio]):not([type=checkbox]):not([type=submit]):not([type=button]), select, textarea";
// On screen: not in a hidden panel nor a closed <details> (whose content keeps its boxes in Chromium).
const visible = (el) => (el.checkVisibility ? el.checkVisibility() : el.getClientRects().length > 0);
export const shown = (root) => $$(TYPED, root).filter((field) => !field.disabled && visible(field));
export function initEnterMovesOn(form, beyond = () => null) {
  const after = (field, go) => {
    const fields = shown(form);
    const here = fields.indexOf(field);
    return beyond(field, go) || (here >= 0 ? fields[here + 1] : null) || null;
  };
  form.addEventListener("keydown", (event) => {
    const field = event.target;
    if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return;
    if (!field.matches || !field.matches(TYPED) || field.tagName === "TEXTAREA") return;  // textareas keep their line breaks
    event.preventDefault();
    const next = after(field, true);
    if (next) next.focus(); else field.blur();  // 완료: the keyboard goes away; the big button sends
  });
  form.addEventListener("focusin", (event) => {
    const field = event.target;
    if (field instanceof HTMLInputElement && field.matches(TYPED)) field.enterKeyHint = after(field, false) ? "next" : "done";
  });
}
