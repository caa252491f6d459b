import { $, $$ } from "../dom.js";
import { draftStore } from "../drafts.js";

// The draft: every field by name and the photos in order, saved shortly after each change.
export function initDraft(state) {
  const { form, input, announce, max, items, removed } = state;
  let saveTimer = null;
  function saveDraft() {
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(writeDraft, 300);
  }
  // A sent book leaves nothing to save.
  const stopSaving = () => window.clearTimeout(saveTimer);
  async function writeDraft() {
    // Fields are saved by their place on the page: wait until every photo has its place for good.
    const unready = items.filter((item) => !item.photo.blob && !item.error && item.ready);
    if (unready.length) {
      Promise.all(unready.map((item) => item.ready)).then(saveDraft);
      return;
    }
    const fields = {};
    $$("input, select, textarea", form).forEach((f) => {
      if (!f.name || f.type === "file" || f.name === "csrf_token") return;
      if (f.type === "radio" || f.type === "checkbox") { if (f.checked) fields[f.name] = f.value; return; }
      fields[f.name] = f.value;
    });
    // A photo that cannot go is not kept: its hints would come back under the next photo.
    const photos = items.filter((item) => item.file).map((item) => item.photo);
    try {
      if (photos.length || Object.values(fields).some((v) => v && v !== "now")) await draftStore.put({ fields, photos, saved: Date.now() });
      else await draftStore.clear();
    } catch (e) { /* a browser without room for the draft still sends the form */ }
  }
  function fillFields(fields) {
    $$("input, select, textarea", form).forEach((f) => {
      if (!f.name || !(f.name in fields) || f.type === "file" || f.name === "csrf_token") return;
      if (f.type === "radio" || f.type === "checkbox") f.checked = fields[f.name] === f.value;
      else f.value = fields[f.name];
    });
  }
  async function restoreDraft() {
    let draft = null;
    try { draft = await draftStore.get(); } catch (e) { return; }
    if (!draft || items.length) return;
    for (const photo of draft.photos.slice(0, max)) state.showPhoto(state.addCard(photo), photo);
    state.renumber();
    fillFields(draft.fields);
    items.forEach((item) => {
      for (const [key, source] of Object.entries(state.prefillFields)) {
        const target = state.field(item, key);
        if (target.value === source.value.trim()) target.dataset.prefilled = target.value;
        else delete target.dataset.prefilled;
      }
    });
    state.syncFiles();
    state.applyHintsMode();
    if (items.length) state.open(items[0]);
    $("#draft-note").hidden = false;
    announce.textContent = `지난번에 쓰던 사진 ${items.length}장과 힌트를 되살렸어요.`;
  }
  $("#draft-clear").addEventListener("click", async () => {
    items.slice().forEach((item) => { state.dropItem(item); state.forget(item); });
    removed.splice(0).forEach(({ item }) => state.forget(item));
    state.showUndo();
    form.reset();
    state.syncFiles();
    state.applyHintsMode();
    $("#draft-note").hidden = true;
    try { await draftStore.clear(); } catch (e) { /* nothing kept */ }
    announce.textContent = "쓰던 내용을 지웠어요.";
  });
  form.addEventListener("input", (event) => {
    saveDraft();
    const item = state.itemOf(event.target);
    if (item) state.summarize(item);
  });
  form.addEventListener("change", (event) => { if (event.target !== input) saveDraft(); });

  return { saveDraft, stopSaving, restoreDraft };
}
