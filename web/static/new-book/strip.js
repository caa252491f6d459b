import { $ } from "../dom.js";
import { preparePhoto } from "../photos.js";

// The photo strip: photos added, moved (buttons, or dragged), taken out and put back.
export function initStrip(state) {
  const { form, input, list, panels, announce, max, items, removed } = state;
  const undoBar = $("#undo-bar", form);

  input.addEventListener("change", async () => {
    const problems = [];
    const picked = Array.from(input.files);
    const jobs = [];
    for (const file of picked) {
      if (items.length >= max) { problems.push(`사진은 ${max}장까지예요: ${file.name}은 넣지 않았어요.`); continue; }
      if (file.type && !file.type.startsWith("image/")) { problems.push(`${file.name}은 사진 파일이 아니에요.`); continue; }
      const item = state.addCard({ name: file.name });
      state.showNote(item, "사진을 준비하고 있어요…");
      item.ready = preparePhoto(file).then((photo) => {
        state.showPhoto(item, photo);
        if (item.error) announce.textContent = `${file.name}: ${item.error}`;
      });
      jobs.push(item.ready);
    }
    state.renumber();
    state.applyHintsMode();
    if (!state.opened && items.length) state.open(items[0]);
    state.showProblems(problems);
    announce.textContent = `사진 ${items.length}장을 골랐어요.`;
    await Promise.all(jobs);
    state.showProblems(problems);
    state.renumber();
    state.syncFiles();
    state.saveDraft();
  });

  function moved(item, to) {
    state.syncFiles();
    announce.textContent = `${item.name} 사진을 ${to + 1}번째 장면으로 옮겼어요.`;
    state.saveDraft();
  }

  list.addEventListener("click", (event) => {
    const pick = event.target.closest("button[data-pick]");
    if (pick) { state.open(state.itemOf(pick), true); return; }
    const pressed = event.target.closest("button[data-move]");
    if (!pressed) return;
    const node = pressed.closest(".scene-card");
    const from = items.findIndex((item) => item.node === node);
    const to = from + Number(pressed.dataset.move);
    if (to < 0 || to >= items.length) return;
    const [item] = items.splice(from, 1);
    items.splice(to, 0, item);
    list.insertBefore(node, items[to + 1] ? items[to + 1].node : null);
    state.renumber();
    moved(item, to);
    // Keep the keyboard where it was; at either end the pressed button turns off, so use its twin.
    const again = $(`[data-move="${pressed.dataset.move}"]`, node);
    (again.disabled ? $(`[data-move="${-Number(pressed.dataset.move)}"]`, node) : again).focus();
  });

  // Taking a photo out keeps it (hints and all) until the page is left: "되돌리기" puts it back in
  // its place. The bar is a live region, and the keyboard goes to its button.
  function showUndo() {
    const last = removed[removed.length - 1];
    undoBar.hidden = !last;
    if (last) $("#undo-text").textContent = `장면 ${last.from + 1} 사진(${last.item.name})을 뺐어요`;
  }
  panels.addEventListener("click", (event) => {
    const pressed = event.target.closest("button[data-remove], button[data-next]");
    if (!pressed) return;
    const item = state.itemOf(pressed);
    const from = items.indexOf(item);
    if (pressed.hasAttribute("data-next")) {
      const next = items[from + 1];
      if (next) { state.open(next, true); next.panel.scrollIntoView({ block: "start" }); }
      return;
    }
    state.dropItem(item);
    removed.push({ item, from });
    state.renumber();
    state.syncFiles();
    state.saveDraft();
    if (items.length) state.open(items[Math.min(from, items.length - 1)]);
    showUndo();
    $("#undo-remove").focus();
  });
  $("#undo-remove").addEventListener("click", () => {
    const last = removed[removed.length - 1];
    if (!last) return;
    if (items.length >= max) {
      announce.textContent = `사진은 ${max}장까지라 되돌릴 수 없어요. 다른 사진을 하나 뺀 뒤 눌러 주세요.`;
      return;
    }
    removed.pop();
    const { item } = last;
    const at = Math.min(last.from, items.length);
    items.splice(at, 0, item);
    list.insertBefore(item.node, items[at + 1] ? items[at + 1].node : null);
    panels.insertBefore(item.panel, items[at + 1] ? items[at + 1].panel : null);
    state.prefill(item);
    state.renumber();
    state.applyHintsMode();
    state.open(item);
    state.syncFiles();
    state.saveDraft();
    showUndo();
    announce.textContent = `${item.name} 사진을 ${at + 1}번째 장면으로 되돌렸어요. 힌트도 그대로예요.`;
    (undoBar.hidden ? $("[data-pick]", item.node) : $("#undo-remove")).focus();
  });

  // Drag and drop with Pointer Events: one code path for mouse, pen and touch. The row follows
  // the pointer through the strip; the order is taken from the strip when it is let go.
  list.addEventListener("pointerdown", (event) => {
    const handle = event.target.closest("[data-drag]");
    if (!handle || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    const node = handle.closest(".scene-card");
    const item = items.find((i) => i.node === node);
    handle.setPointerCapture(event.pointerId);
    node.classList.add("dragging");
    const follow = (e) => {
      let before = null;
      for (const other of items) {
        if (other.node === node) continue;
        const box = other.node.getBoundingClientRect();
        if (e.clientY < box.top + box.height / 2) { before = other.node; break; }
      }
      if (node.nextElementSibling !== before && before !== node) {
        list.insertBefore(node, before);
        // Moving the row in the document released the capture: take it again (touch needs it).
        try { handle.setPointerCapture(e.pointerId); } catch (err) { /* the pointer is gone */ }
      }
      if (e.clientY < 48) window.scrollBy(0, -16);
      else if (e.clientY > window.innerHeight - 48) window.scrollBy(0, 16);
    };
    const drop = () => {
      window.removeEventListener("pointermove", follow);
      window.removeEventListener("pointerup", drop);
      window.removeEventListener("pointercancel", drop);
      node.classList.remove("dragging");
      const order = Array.from(list.children);
      const from = items.indexOf(item);
      items.sort((a, b) => order.indexOf(a.node) - order.indexOf(b.node));
      const to = items.indexOf(item);
      state.renumber();
      if (to !== from) moved(item, to);
    };
    // On the window: the events bubble there whether or not the capture holds.
    window.addEventListener("pointermove", follow);
    window.addEventListener("pointerup", drop);
    window.addEventListener("pointercancel", drop);
  });

  return { showUndo };
}
