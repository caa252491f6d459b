import { $, $$ } from "./dom.js";
import { initEnterMovesOn, shown } from "./forms.js";
import { initDraft } from "./new-book/draft.js";
import { initScenes } from "./new-book/scenes.js";
import { initSending } from "./new-book/send.js";
import { initStrip } from "./new-book/strip.js";
import { initStylePreviews } from "./new-book/styles.js";

// New book: the chosen photos live in `items`, in story order. Each photo is decoded and, when
// its long side is over LONG_SIDE, redrawn smaller as JPEG before anything is sent; previews are
// small thumbnails, never the original. The form is sent with XMLHttpRequest (upload progress)
// to the same endpoint the plain form posts to, after asking GET /books/new/check whether it
// would be taken. A refusal or a dropped connection leaves every photo and hint on the page, and
// a draft in IndexedDB brings them back when the page is opened again. Without script the form
// posts as before: the file input is rebuilt from `items` after every change.
//
// The parts (new-book/*.js) share one `state`: the form's elements, `items`, `removed` and
// `opened`, and the functions each part gives the others, called as `state.open(item)`.
export function initNewBook(form) {
  const state = {
    form,
    input: $("#images", form),
    list: $("#scene-list", form),
    panels: $("#scene-panels", form),
    announce: $("#order-status", form),
    max: Number(form.dataset.max),
    items: [],
    removed: [],  // photos taken out, last first back: { item, from }
    opened: null,  // the one scene whose hints are open
  };

  $$("[data-js-only]", form).forEach((el) => { el.hidden = false; });
  state.input.required = false;  // the photos are in `items` (a restored draft has none in the input)
  form.noValidate = true;  // fields of closed scenes cannot show the browser's bubble: checked in `firstInvalid`

  // Each part adds its listeners and gives the others its functions; none is called before the last lines.
  Object.assign(state, initScenes(state));
  Object.assign(state, initStylePreviews(state));
  Object.assign(state, initStrip(state));

  // Enter: on to the next field; from a scene's last field, on to the next scene's first.
  initEnterMovesOn(form, (at, go) => {
    const item = state.itemOf(at);
    if (!item) return null;
    const here = shown(item.panel);
    if (here.indexOf(at) < here.length - 1) return here[here.indexOf(at) + 1];
    const next = state.items[state.items.indexOf(item) + 1];
    if (!next || state.hintsLater()) return null;
    if (!go) return true;  // asked only whether there is one (the Enter key's label)
    state.open(next);
    return shown(next.panel)[0] || null;
  });

  Object.assign(state, initDraft(state));
  initSending(state);

  $$("input[name=hints]", form).forEach((radio) => radio.addEventListener("change", state.applyHintsMode));
  state.applyHintsMode();
  state.restoreDraft();
}
