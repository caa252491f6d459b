import { $, $$ } from "../dom.js";

// The scenes of the new book: each photo is an item with its row in the strip (`node`) and its
// hints panel (`panel`), in `state.items`' order; `state.opened` is the one whose hints are open.
export function initScenes(state) {
  const { form, input, list, panels, items } = state;
  const template = $("#scene-template");
  const panelTemplate = $("#scene-panel-template");
  const error = $("#images-error", form);
  const bookName = $("#book-name", form);
  const bookCharacter = $("#book-character", form);
  const maxBytes = Number(form.dataset.maxMb) * 1048576;
  const canRebuildFiles = typeof DataTransfer === "function";

  const hintsLater = () => ($("input[name=hints]:checked", form) || {}).value === "later";
  const itemOf = (el) => items.find((item) => item.node.contains(el) || item.panel.contains(el));
  const field = (item, key) => $(`[name$="-${key}"]`, item.panel);

  function applyHintsMode() {
    const later = hintsLater();
    $$(".scene-hints", panels).forEach((box) => {
      box.hidden = later;
      $$("input, select, textarea", box).forEach((f) => { f.disabled = later; });
    });
    $("#hints-now-help").hidden = later;
    items.forEach(summarize);
    renumber();
    // The main character stays asked for: the book keeps it, and the hints page starts from it.
  }

  // The one line a closed scene shows in the strip: its hints so far, or what it still needs.
  function summarize(item) {
    const line = $(".scene-summary", item.node);
    let text = "";
    if (item.error) text = "";
    else if (hintsLater()) text = "힌트는 사진 설명을 본 뒤에 써요";
    else if ($("[aria-invalid=true]", item.panel)) text = "고칠 곳이 있어요";
    else {
      const words = ["name", "i_action"].map((key) => field(item, key).value.trim()).filter(Boolean);
      text = words.length === 2 ? words.join(" · ") : item === state.opened ? "힌트를 쓰고 있어요" : "힌트를 써 주세요";
    }
    line.textContent = text;
    line.classList.toggle("needs", text === "고칠 곳이 있어요");
  }

  // Open one scene's hints (closing the others); `focus` takes the keyboard to its heading.
  function open(item, focus = false) {
    state.opened = item;
    items.forEach((other) => {
      other.panel.hidden = other !== item;
      other.node.classList.toggle("open", other === item);
      $("[data-pick]", other.node).setAttribute("aria-expanded", String(other === item));
      summarize(other);
    });
    if (item && focus) $(".scene-title", item.panel).focus();
  }

  function renumber() {
    items.forEach((item, position) => {
      const n = position + 1;
      for (const root of [item.node, item.panel]) {
        $$("[id], [for], [name], [data-fill], [aria-describedby], [aria-controls], [aria-labelledby]", root).concat([root]).forEach((el) => {
          for (const attr of ["id", "for", "name", "data-fill", "aria-describedby", "aria-controls", "aria-labelledby"]) {
            const value = el.getAttribute(attr);
            if (value) el.setAttribute(attr, value.replace(/(^|\s)(scenes?-)(?:\d+|__i__)-/g, `$1$2${position}-`));
          }
        });
        $(".scene-no", root).textContent = n;
      }
      const [up, down] = $$("[data-move]", item.node);
      up.disabled = position === 0;
      down.disabled = position === items.length - 1;
      up.setAttribute("aria-label", `장면 ${n} 사진을 앞으로`);
      down.setAttribute("aria-label", `장면 ${n} 사진을 뒤로`);
      $("[data-remove]", item.panel).textContent = `장면 ${n} 사진 빼기`;
      $("[data-next]", item.panel).hidden = position === items.length - 1 || hintsLater();
      $("[data-next]", item.panel).textContent = `장면 ${n + 1} 힌트 쓰기`;
      $(".panel-photo", item.panel).alt = `장면 ${n} 사진 (${item.name})`;
    });
    state.updateStylePreviews();
  }

  function syncFiles() {
    if (!canRebuildFiles) return;
    const transfer = new DataTransfer();
    items.forEach((item) => { if (item.file) transfer.items.add(item.file); });
    input.files = transfer.files;
  }

  function showProblems(problems) {
    error.hidden = problems.length === 0;
    error.textContent = problems.join(" ");
  }

  // The book-level hero and company go into each scene, unless the scene says otherwise.
  const prefillFields = { name: bookName, character: bookCharacter };
  function prefill(item) {
    for (const [key, source] of Object.entries(prefillFields)) {
      const target = field(item, key);
      if (target && (target.value === "" || target.value === target.dataset.prefilled)) {
        target.value = source.value.trim();
        target.dataset.prefilled = target.value;
      }
    }
    summarize(item);
  }
  [bookName, bookCharacter].forEach((source) => source.addEventListener("input", () => items.forEach(prefill)));

  function addCard(photo) {
    const node = template.content.firstElementChild.cloneNode(true);
    const panel = panelTemplate.content.firstElementChild.cloneNode(true);
    const item = { name: photo.name, node, panel, url: null, photo, error: null };
    $(".file-name", node).textContent = photo.name;
    list.appendChild(node);
    panels.appendChild(panel);
    items.push(item);
    prefill(item);
    return item;
  }

  // What a photo's row says under it: how it is prepared, or (in red, and read with its button) why it cannot go.
  function showNote(item, text, problem = false) {
    const note = $(".photo-note", item.node);
    note.textContent = text;
    note.hidden = !text;
    note.classList.toggle("field-error", problem);
    item.node.classList.toggle("has-error", problem);
    const pick = $("[data-pick]", item.node);
    if (text) pick.setAttribute("aria-describedby", note.id); else pick.removeAttribute("aria-describedby");
  }

  function showPhoto(item, photo) {
    item.photo = photo;
    item.name = photo.name;
    item.error = photo.error || null;
    item.file = !photo.blob ? null : photo.blob instanceof File ? photo.blob : new File([photo.blob], photo.name, { type: photo.blob.type });
    if (item.file && item.file.size > maxBytes) {
      item.error = `사진이 너무 커요: ${(item.file.size / 1048576).toFixed(1)}MB예요. 한 장에 ${form.dataset.maxMb}MB까지 보낼 수 있어요. 더 작게 저장하거나 이 사진을 빼 주세요.`;
    }
    if (item.error) item.file = null;
    item.url = photo.thumb ? URL.createObjectURL(photo.thumb) : null;
    // No preview (a format this browser cannot show, or a broken file): a plain tile, never a broken-image icon.
    for (const img of [$(".preview", item.node), $(".panel-photo", item.panel)]) {
      if (item.url) img.src = item.url; else img.removeAttribute("src");
      img.hidden = !item.url;
    }
    $(".no-preview", item.node).textContent = item.url ? "" : item.error ? "!" : photo.badge || "사진";
    $(".file-name", item.node).textContent = photo.name;
    showNote(item, item.error || photo.note || (photo.reduced ? `인쇄 크기로 줄였어요 (${(photo.blob.size / 1048576).toFixed(1)}MB)` : ""),
             Boolean(item.error));
    summarize(item);
    state.updateStylePreviews();
  }

  function dropItem(item) {
    items.splice(items.indexOf(item), 1);
    item.node.remove();
    item.panel.remove();
    if (state.opened === item) state.opened = null;
  }

  function forget(item) {
    if (item.url) URL.revokeObjectURL(item.url);
  }

  return { hintsLater, itemOf, field, applyHintsMode, summarize, open, renumber, syncFiles, showProblems,
           prefillFields, prefill, addCard, showNote, showPhoto, dropItem, forget };
}
