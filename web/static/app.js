// TalesRunner pages: photo order and previews, suggestion chips, live progress. No libraries.
// A module (base.html): the rest are imported from here, each file one part of the pages.
import { $ } from "./dom.js";
import { initBook } from "./book.js";
import { initForgetDrafts } from "./drafts.js";
import { initChips, initConfirms, initCopy, initEmailForm, initEnterMovesOn, initSendOnce } from "./forms.js";
import { initNewBook } from "./new-book.js";
import { initReadAloud } from "./read-aloud.js";

document.addEventListener("DOMContentLoaded", () => {
  initConfirms();
  initSendOnce();  // after initConfirms: see there
  initCopy();
  initChips();
  initEmailForm();
  initForgetDrafts();  // after initConfirms: see there
  // A message to read first (a refusal, a form's answer). Again once the page is loaded: the
  // browser's jump to the address's #fragment, after this, takes the focus away.
  const focus = $("[data-focus]");
  if (focus) {
    focus.focus();
    window.addEventListener("load", () => { if (document.activeElement !== focus) focus.focus(); }, { once: true });
  }
  const form = $("#new-book");
  if (form) initNewBook(form);
  const annotate = $(".annotate-form");  // the book page's hints, written after the captions
  if (annotate) initEnterMovesOn(annotate);
  const book = $("#book");
  if (book) { initBook(book); initReadAloud(book); }
});
