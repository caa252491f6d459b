// TalesRunner pages: photo order and previews, suggestion chips, live progress. No libraries.
"use strict";

(function () {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  // Forms that destroy something ask first (the form still works without script).
  function initConfirms() {
    document.addEventListener("submit", (event) => {
      const message = event.target.dataset && event.target.dataset.confirm;
      if (message && !window.confirm(message)) event.preventDefault();
    });
  }

  // The book page's forms are sent once: a second tap while the first is on its way (a slow server)
  // sends nothing. Listens on the document after initConfirms, so a cancelled confirmation leaves
  // the button as it was. A page brought back from the browser's cache (Back) has its buttons again.
  function initSendOnce() {
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

  function initCopy() {
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
  function initChips() {
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

  function initEmailForm() {
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

  // New book: the chosen photos live in `items`, in story order. Each photo is decoded and, when
  // its long side is over LONG_SIDE, redrawn smaller as JPEG before anything is sent; previews are
  // small thumbnails, never the original. The form is sent with XMLHttpRequest (upload progress)
  // to the same endpoint the plain form posts to, after asking GET /books/new/check whether it
  // would be taken. A refusal or a dropped connection leaves every photo and hint on the page, and
  // a draft in IndexedDB brings them back when the page is opened again. Without script the form
  // posts as before: the file input is rebuilt from `items` after every change.
  const LONG_SIDE = 2400;    // print size: 20 cm at 300 dpi
  const QUALITY = 0.9;
  const THUMB_SIDE = 320;    // previews: 104-140 CSS px, sharp on a 2x screen

  // Decode with EXIF orientation applied; null when this browser cannot read the file (HEIC on
  // desktop Chrome), which is then sent as it is: the server reads more formats than browsers.
  async function decodePhoto(file) {
    if (typeof createImageBitmap === "function") {
      try {
        const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
        return { image: bitmap, width: bitmap.width, height: bitmap.height, close: () => bitmap.close() };
      } catch (e) { /* try an <img>, which some browsers decode more widely */ }
    }
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.src = url;
    try {
      await img.decode();
      return { image: img, width: img.naturalWidth, height: img.naturalHeight, close: () => URL.revokeObjectURL(url) };
    } catch (e) {
      URL.revokeObjectURL(url);
      return null;
    }
  }

  // A JPEG of `image` at width x height; the canvas's memory is let go as soon as the JPEG is made.
  // Throws when the browser has no canvas memory left (iOS Safari gives no 2D context then).
  async function drawn(image, width, height, quality) {
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width));
    canvas.height = Math.max(1, Math.round(height));
    try {
      const context = canvas.getContext("2d");
      if (!context) throw new Error("no canvas memory");
      context.imageSmoothingQuality = "high";
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      return await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
    } finally {
      canvas.width = canvas.height = 0;
    }
  }

  // Photos are prepared two at a time: ten 12 MP photos decoded at once take about 1 GB in a tab.
  const PREPARING_AT_ONCE = 2;
  let preparing = 0;
  const waitingToPrepare = [];
  async function preparePhoto(file) {
    while (preparing >= PREPARING_AT_ONCE) await new Promise((resolve) => waitingToPrepare.push(resolve));
    preparing += 1;
    try {
      return await preparedOrAsItIs(file);
    } finally {
      preparing -= 1;
      const next = waitingToPrepare.shift();
      if (next) next();
    }
  }

  // What goes to the server for one chosen file, and its preview. Never fails: a photo the browser
  // cannot decode or draw goes as it is (the server reads more formats and sizes than some browsers).
  async function preparedOrAsItIs(file) {
    try {
      return await prepared(file);
    } catch (e) {
      return { blob: file, name: file.name, thumb: null, reduced: false,
               note: "이 브라우저에서 미리 보기를 만들지 못해 원본 그대로 보내요." };
    }
  }

  async function prepared(file) {
    const source = await decodePhoto(file);
    if (!source) {
      return { blob: file, name: file.name, thumb: null, reduced: false,
               note: "이 브라우저에서 미리 볼 수 없는 형식이라 원본 그대로 보내요." };
    }
    try {
      const scale = Math.min(1, LONG_SIDE / Math.max(source.width, source.height));
      let blob = file, name = file.name, reduced = false;
      if (scale < 1) {
        const smaller = await drawn(source.image, source.width * scale, source.height * scale, QUALITY);
        if (smaller && smaller.size < file.size) {
          blob = smaller;
          name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
          reduced = true;
        }
      }
      const t = Math.min(1, THUMB_SIDE / Math.max(source.width, source.height));
      const thumb = await drawn(source.image, source.width * t, source.height * t, 0.8);
      return { blob, name, thumb, reduced, note: "" };
    } finally {
      source.close();
    }
  }

  // The draft: IndexedDB, because it stores Blobs as they are and holds the reduced photos
  // (about 1-2 MB each, up to 10): localStorage keeps only ~5 MB of strings per site.
  const draftStore = {
    open() {
      if (!window.indexedDB) return Promise.reject(new Error("no IndexedDB"));
      return new Promise((resolve, reject) => {
        const request = indexedDB.open("talesrunner", 1);
        request.onupgradeneeded = () => request.result.createObjectStore("drafts");
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    },
    async run(mode, act) {
      const db = await this.open();
      try {
        return await new Promise((resolve, reject) => {
          const tx = db.transaction("drafts", mode);
          const request = act(tx.objectStore("drafts"));
          tx.oncomplete = () => resolve(request.result);
          tx.onerror = tx.onabort = () => reject(tx.error);
        });
      } finally { db.close(); }
    },
    // One draft per account (the page names its user), so a shared computer never shows one
    // parent's photos to another; logging out or deleting the account removes every draft (initForgetDrafts).
    key: () => `new-book:${($("#new-book") || { dataset: {} }).dataset.user || ""}`,
    get: () => draftStore.run("readonly", (store) => store.get(draftStore.key())),
    put: (draft) => draftStore.run("readwrite", (store) => store.put(draft, draftStore.key())),
    clear: () => draftStore.run("readwrite", (store) => store.delete(draftStore.key())),
    clearAll: () => draftStore.run("readwrite", (store) => store.clear()),
  };

  // Logging out or deleting the account forgets every draft kept in this browser (photos of
  // children on a shared computer). Listens on the document after initConfirms, so a cancelled
  // confirmation (already defaultPrevented) sends nothing.
  function initForgetDrafts() {
    document.addEventListener("submit", async (event) => {
      const form = event.target;
      if (!form.matches || !form.matches("form[data-forget-drafts]")) return;
      if (event.defaultPrevented || form.dataset.cleared || !window.indexedDB) return;
      event.preventDefault();
      const timeout = new Promise((resolve) => window.setTimeout(resolve, 1500));
      try { await Promise.race([draftStore.clearAll(), timeout]); } catch (e) { /* nothing kept, or no room to open */ }
      form.dataset.cleared = "1";
      form.submit();
    });
  }

  const UPLOAD_FAILED = {
    0: "인터넷 연결이 끊겨 사진을 보내지 못했어요. 고른 사진과 적은 힌트는 이 페이지에 그대로 있어요. 연결을 확인하고 다시 눌러 주세요.",
    400: "보낸 내용을 받지 못했어요. 페이지를 새로 고치면 쓰던 사진과 힌트가 되살아나요.",
    413: "사진이 너무 커요. 사진을 줄이거나 몇 장 빼고 다시 눌러 주세요.",
    429: "짧은 시간에 요청이 너무 많았어요. 잠시 후 다시 눌러 주세요. 사진과 힌트는 그대로 있어요.",
    500: "서버에 문제가 생겼어요. 잠시 후 다시 눌러 주세요. 사진과 힌트는 그대로 있어요.",
  };

  function initNewBook(form) {
    const input = $("#images", form);
    const list = $("#scene-list", form);
    const template = $("#scene-template");
    const announce = $("#order-status", form);
    const error = $("#images-error", form);
    const alertBox = $("#form-alert", form);
    const button = $("#submit-book", form);
    const bookName = $("#book-name", form);
    const bookCharacter = $("#book-character", form);
    const max = Number(form.dataset.max);
    const maxBytes = Number(form.dataset.maxMb) * 1048576;
    const items = [];
    const canRebuildFiles = typeof DataTransfer === "function";
    let sending = false;

    $$("[data-js-only]", form).forEach((el) => { el.hidden = false; });
    input.required = false;  // the photos are in `items` (a restored draft has none in the input)

    const hintsLater = () => ($("input[name=hints]:checked", form) || {}).value === "later";

    function applyHintsMode() {
      const later = hintsLater();
      $$(".scene-hints", list).forEach((box) => {
        box.hidden = later;
        $$("input, select, textarea", box).forEach((field) => { field.disabled = later; });
      });
      $("#hints-now-help").hidden = later;
      // The main character stays asked for: the book keeps it, and the hints page starts from it.
    }

    function renumber() {
      items.forEach((item, position) => {
        const n = position + 1;
        $$("[id], [for], [name], [data-fill], [aria-describedby]", item.node).forEach((el) => {
          for (const attr of ["id", "for", "name", "data-fill", "aria-describedby"]) {
            const value = el.getAttribute(attr);
            if (value) el.setAttribute(attr, value.replace(/(^|\s)(scenes?-)(?:\d+|__i__)-/g, `$1$2${position}-`));
          }
        });
        $(".scene-no", item.node).textContent = n;
        $(".preview", item.node).alt = `장면 ${n} 사진 (${item.name})`;
        const [up, down] = $$("[data-move]", item.node);
        up.disabled = position === 0;
        down.disabled = position === items.length - 1;
        up.setAttribute("aria-label", `장면 ${n} 사진을 앞으로`);
        down.setAttribute("aria-label", `장면 ${n} 사진을 뒤로`);
        $("[data-remove]", item.node).setAttribute("aria-label", `장면 ${n} 사진 빼기`);
      });
      updateStylePreviews();
    }

    // The style picker shows the first photo drawn in each style (the server draws the page's small
    // copy with the same OpenCV filter the book uses); a new first photo draws them again.
    const picker = $("#style-picker", form);
    let previewed = null;
    async function updateStylePreviews() {
      if (!picker) return;
      const thumb = items.length ? items[0].photo && items[0].photo.thumb : null;
      if (thumb === previewed) return;
      previewed = thumb;
      for (const img of $$("[data-style-preview]", picker)) {
        const style = img.dataset.stylePreview;
        if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
        img.hidden = !thumb;
        if (!thumb) continue;
        if (style === "photo") { img.src = URL.createObjectURL(thumb); continue; }
        const body = new FormData();
        body.append("photo", thumb, "preview.jpg");
        body.append("style", style);
        body.append("csrf_token", form.elements.namedItem("csrf_token").value);
        try {
          const answer = await fetch(picker.dataset.preview, { method: "POST", body, credentials: "same-origin" });
          if (!answer.ok || previewed !== thumb) { if (!answer.ok) img.hidden = true; continue; }
          img.src = URL.createObjectURL(await answer.blob());
        } catch (e) {
          img.hidden = true;  // no preview is no loss: the style's name and description stay
        }
      }
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
    function prefill(node) {
      for (const [key, source] of Object.entries(prefillFields)) {
        const field = $(`[name$="-${key}"]`, node);
        if (field && (field.value === "" || field.value === field.dataset.prefilled)) {
          field.value = source.value.trim();
          field.dataset.prefilled = field.value;
        }
      }
    }
    [bookName, bookCharacter].forEach((field) => field.addEventListener("input", () => items.forEach((item) => prefill(item.node))));

    function addCard(photo) {
      const node = template.content.firstElementChild.cloneNode(true);
      const item = { name: photo.name, node, url: null, photo };
      $(".file-name", node).textContent = photo.name;
      list.appendChild(node);
      items.push(item);
      prefill(node);
      return item;
    }

    function showPhoto(item, photo) {
      item.photo = photo;
      item.name = photo.name;
      item.file = photo.blob instanceof File ? photo.blob : new File([photo.blob], photo.name, { type: photo.blob.type });
      item.url = photo.thumb ? URL.createObjectURL(photo.thumb) : null;  // no preview of what cannot be decoded
      $(".preview", item.node).src = item.url || "data:,";
      $(".preview", item.node).classList.toggle("no-preview", !item.url);
      $(".file-name", item.node).textContent = photo.name;
      const note = $(".photo-note", item.node);
      note.textContent = photo.note || (photo.reduced ? `인쇄 크기로 줄였어요 (${(photo.blob.size / 1048576).toFixed(1)}MB)` : "");
      note.hidden = !note.textContent;
      updateStylePreviews();
    }

    function dropItem(item) {
      items.splice(items.indexOf(item), 1);
      item.node.remove();
      if (item.url) URL.revokeObjectURL(item.url);
    }

    input.addEventListener("change", async () => {
      const problems = [];
      const picked = Array.from(input.files);
      const jobs = [];
      for (const file of picked) {
        if (items.length >= max) { problems.push(`사진은 ${max}장까지예요: ${file.name}은 넣지 않았어요.`); continue; }
        if (file.type && !file.type.startsWith("image/")) { problems.push(`${file.name}은 사진 파일이 아니에요.`); continue; }
        const item = addCard({ name: file.name });
        $(".photo-note", item.node).textContent = "사진을 준비하고 있어요…";
        $(".photo-note", item.node).hidden = false;
        item.ready = preparePhoto(file).then((photo) => {
          if (!items.includes(item)) return;
          if (photo.blob.size > maxBytes) {
            problems.push(`${file.name}은 너무 커요 (${form.dataset.maxMb}MB까지).`);
            dropItem(item);
            return;
          }
          showPhoto(item, photo);
        });
        jobs.push(item.ready);
      }
      renumber();
      applyHintsMode();
      showProblems(problems);
      announce.textContent = `사진 ${items.length}장을 골랐어요.`;
      await Promise.all(jobs);
      showProblems(problems);
      renumber();
      syncFiles();
      saveDraft();
    });

    function moved(item, to) {
      syncFiles();
      announce.textContent = `${item.name} 사진을 ${to + 1}번째 장면으로 옮겼어요.`;
      saveDraft();
    }

    list.addEventListener("click", (event) => {
      const pressed = event.target.closest("button[data-move], button[data-remove]");
      if (!pressed) return;
      const node = pressed.closest(".scene-card");
      const from = items.findIndex((item) => item.node === node);
      if (pressed.hasAttribute("data-remove")) {
        const gone = items[from];
        dropItem(gone);
        renumber();
        syncFiles();
        saveDraft();
        announce.textContent = `${gone.name} 사진을 뺐어요. 이제 ${items.length}장이에요.`;
        const next = items[Math.min(from, items.length - 1)];
        (next ? $("[data-remove]", next.node) : input).focus();
        return;
      }
      const to = from + Number(pressed.dataset.move);
      if (to < 0 || to >= items.length) return;
      const [item] = items.splice(from, 1);
      items.splice(to, 0, item);
      list.insertBefore(node, items[to + 1] ? items[to + 1].node : null);
      renumber();
      moved(item, to);
      // Keep the keyboard where it was; at either end the pressed button turns off, so use its twin.
      const again = $(`[data-move="${pressed.dataset.move}"]`, node);
      (again.disabled ? $(`[data-move="${-Number(pressed.dataset.move)}"]`, node) : again).focus();
    });

    // Drag and drop with Pointer Events: one code path for mouse, pen and touch. The card follows
    // the pointer through the list; the order is taken from the list when it is let go.
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
          // Moving the card in the document released the capture: take it again (touch needs it).
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
        renumber();
        if (to !== from) moved(item, to);
      };
      // On the window: the events bubble there whether or not the capture holds.
      window.addEventListener("pointermove", follow);
      window.addEventListener("pointerup", drop);
      window.addEventListener("pointercancel", drop);
    });

    // The draft: every field by name and the photos in order, saved shortly after each change.
    let saveTimer = null;
    function saveDraft() {
      window.clearTimeout(saveTimer);
      saveTimer = window.setTimeout(writeDraft, 300);
    }
    async function writeDraft() {
      // Fields are saved by their place on the page: wait until every photo has its place for good.
      const unready = items.filter((item) => !item.file && item.ready);
      if (unready.length) {
        Promise.all(unready.map((item) => item.ready)).then(saveDraft);
        return;
      }
      const fields = {};
      $$("input, select, textarea", form).forEach((field) => {
        if (!field.name || field.type === "file" || field.name === "csrf_token") return;
        if (field.type === "radio" || field.type === "checkbox") { if (field.checked) fields[field.name] = field.value; return; }
        fields[field.name] = field.value;
      });
      const photos = items.filter((item) => item.file).map((item) => item.photo);
      try {
        if (photos.length || Object.values(fields).some((v) => v && v !== "now")) await draftStore.put({ fields, photos, saved: Date.now() });
        else await draftStore.clear();
      } catch (e) { /* a browser without room for the draft still sends the form */ }
    }
    function fillFields(fields) {
      $$("input, select, textarea", form).forEach((field) => {
        if (!field.name || !(field.name in fields) || field.type === "file" || field.name === "csrf_token") return;
        if (field.type === "radio" || field.type === "checkbox") field.checked = fields[field.name] === field.value;
        else field.value = fields[field.name];
      });
    }
    async function restoreDraft() {
      let draft = null;
      try { draft = await draftStore.get(); } catch (e) { return; }
      if (!draft || items.length) return;
      for (const photo of draft.photos.slice(0, max)) showPhoto(addCard(photo), photo);
      renumber();
      fillFields(draft.fields);
      items.forEach((item) => {
        for (const [key, source] of Object.entries(prefillFields)) {
          const field = $(`[name$="-${key}"]`, item.node);
          if (field.value === source.value.trim()) field.dataset.prefilled = field.value;
          else delete field.dataset.prefilled;
        }
      });
      syncFiles();
      applyHintsMode();
      $("#draft-note").hidden = false;
      announce.textContent = `지난번에 쓰던 사진 ${items.length}장과 힌트를 되살렸어요.`;
    }
    $("#draft-clear").addEventListener("click", async () => {
      items.slice().forEach(dropItem);
      form.reset();
      syncFiles();
      applyHintsMode();
      $("#draft-note").hidden = true;
      try { await draftStore.clear(); } catch (e) { /* nothing kept */ }
      announce.textContent = "쓰던 내용을 지웠어요.";
    });
    form.addEventListener("input", saveDraft);
    form.addEventListener("change", (event) => { if (event.target !== input) saveDraft(); });

    // Messages beside the fields they name; the keys are form field names ("scenes-1-name").
    function clearErrors() {
      $$("[data-js-error]", form).forEach((el) => el.remove());
      $$("[aria-invalid][data-js-invalid]", form).forEach((field) => {
        field.removeAttribute("aria-invalid");
        field.removeAttribute("data-js-invalid");
        field.setAttribute("aria-describedby", (field.getAttribute("aria-describedby") || "").replace(/\s*\S+-error\b/g, "").trim());
      });
      alertBox.hidden = true;
      showProblems([]);
    }
    function showFieldErrors(fields) {
      let first = null;
      for (const [name, message] of Object.entries(fields || {})) {
        if (name === "images") { showProblems([message]); first = first || input; continue; }
        const field = form.elements.namedItem(name);
        if (!field || !field.id) continue;
        const note = document.createElement("p");
        note.className = "field-error";
        note.id = `${field.id}-error`;
        note.dataset.jsError = "";
        note.textContent = message;
        field.closest(".field").appendChild(note);
        field.setAttribute("aria-invalid", "true");
        field.dataset.jsInvalid = "";
        field.setAttribute("aria-describedby", `${field.getAttribute("aria-describedby") || ""} ${note.id}`.trim());
        const details = field.closest("details");
        if (details) details.open = true;
        first = first || field;
      }
      return first;
    }
    function showAlert(lines) {
      alertBox.replaceChildren();
      const head = document.createElement("p");
      head.innerHTML = "<strong>책을 만들지 못했어요.</strong> 고른 사진과 적은 힌트는 그대로 있어요.";
      const list_ = document.createElement("ul");
      lines.forEach((line) => { const li = document.createElement("li"); li.textContent = line; list_.appendChild(li); });
      alertBox.append(head, list_);
      alertBox.hidden = false;
      alertBox.focus();
    }

    const progress = $("#upload-progress", form);
    const bar = $("#upload-bar", form);
    const percent = $("#upload-percent", form);
    const status = $("#upload-status", form);
    // Screen readers hear what the bar says when its words change and at every quarter, not every percent.
    const said = $("#upload-said", form);
    let saidQuarter = -1;
    function showProgress(fraction, words) {
      const value = Math.round(fraction * 100);
      if (progress.hidden) { progress.hidden = false; saidQuarter = -1; progress.focus(); }  // the button it replaces is disabled
      bar.value = value;
      bar.textContent = percent.textContent = `${value}%`;
      if (words && words !== status.textContent) { status.textContent = words; said.textContent = words; }
      const quarter = Math.floor(value / 25);
      if (quarter > saidQuarter) {
        if (saidQuarter >= 0 && value < 100) said.textContent = `${status.textContent} ${value}%`;
        saidQuarter = quarter;
      }
    }
    function busy(on, words) {
      sending = on;
      button.disabled = on;
      button.textContent = on ? words : "그림책 만들기";
      if (!on) progress.hidden = true;
    }

    async function check() {
      const response = await fetch(form.dataset.check, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await response.json().catch(() => null);
      if (!response.ok || !body) throw Object.assign(new Error("check"), { status: response.status, body });
      return body;
    }

    function upload(data) {
      return new Promise((resolve) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", form.action);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) showProgress(e.loaded / e.total); });
        xhr.upload.addEventListener("load", () => showProgress(1, "사진을 다 보냈어요. 책을 준비하고 있어요…"));
        xhr.onload = () => {
          let body = null;
          try { body = JSON.parse(xhr.responseText); } catch (e) { /* an HTML error page */ }
          resolve({ status: xhr.status, body });
        };
        xhr.onerror = xhr.onabort = xhr.ontimeout = () => resolve({ status: 0, body: null });
        xhr.send(data);
      });
    }

    function formData() {
      const data = new FormData(form);
      data.delete("images");
      items.forEach((item) => data.append("images", item.file, item.name));
      return data;
    }

    function refused(status, body) {
      const error_ = body && body.error;
      if (body && body.fields) {
        const first = showFieldErrors(body.fields);
        showAlert(body.problems || [error_.message]);
        if (first && first !== input) first.focus({ preventScroll: false });
        return;
      }
      const fallback = UPLOAD_FAILED[status] || UPLOAD_FAILED[status >= 500 ? 500 : status ? 400 : 0];
      showAlert([error_ ? error_.message : fallback]);
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (sending) return;
      clearErrors();
      busy(true, "사진을 준비하고 있어요…");
      await Promise.all(items.map((item) => item.ready));
      if (!items.length) {
        busy(false);
        showProblems(["사진을 1장 이상 골라 주세요."]);
        input.focus();
        return;
      }
      busy(true, "보낼 수 있는지 확인하고 있어요…");
      let verdict;
      try {
        verdict = await check();
      } catch (e) {
        busy(false);
        refused(e.status || 0, e.body);
        return;
      }
      if (!verdict.can_create) { busy(false); showAlert([verdict.message]); return; }
      busy(true, "사진을 보내고 있어요…");
      showProgress(0, "사진을 보내고 있어요");
      let answer = await upload(formData());
      if (answer.status === 400 && answer.body && answer.body.error && answer.body.error.code === "csrf_failed") {
        // The page's token went stale (a new session, a restarted server): take a fresh one, once.
        try {
          form.elements.namedItem("csrf_token").value = (await check()).csrf_token;
          showProgress(0, "보안 확인 값을 새로 받아 다시 보내고 있어요");
          answer = await upload(formData());
        } catch (e) { /* shown below as the first refusal */ }
      }
      if (answer.status === 201 && answer.body) {
        window.clearTimeout(saveTimer);
        try { await draftStore.clear(); } catch (e) { /* nothing kept */ }
        showProgress(1, "책 페이지로 가요…");
        window.location.assign(answer.body.location);
        return;
      }
      busy(false);
      refused(answer.status, answer.body);
    });

    $$("input[name=hints]", form).forEach((radio) => radio.addEventListener("change", applyHintsMode));
    applyHintsMode();
    restoreDraft();
  }

  // Book page: poll the JSON API with the session cookie while the book is being made or an
  // email is on its way. Progress updates in place; when the book leaves the working states
  // (done, failed, waiting for hints) the page reloads, and the server shows the next step —
  // unless a field on the page holds typing not sent yet (a title, a page's text, a note): then
  // a notice with "새로 고침" says the book changed, and the page reloads when the parent asks.
  // A book that does not move for data-slow-after seconds gets a notice saying what to do; a
  // browser that is offline, or polls that keep failing, get one saying so, gone when back.
  function initBook(root) {
    const active = new Set(root.dataset.active.split(" "));
    let status = root.dataset.status;
    const statusLabels = JSON.parse(root.dataset.statusLabels);
    const stageLabels = JSON.parse(root.dataset.stageLabels);
    const norm = (text) => text.split(" ").filter(Boolean).sort().join(" ");
    let emails = norm(root.dataset.emails);
    const waiting = () => active.has(status) || /pending|sending/.test(emails);
    let delay = 1500;
    let etag = null;
    let timer = null;
    let failures = 0;  // polls in a row that got no answer
    let stopped = false;
    // When the book last moved, on this browser's clock, from how long ago the server said it did.
    let movedAt = Date.now() - Number(root.dataset.idle || 0) * 1000;
    let updated = root.dataset.updated;
    const slowAfter = Number(root.dataset.slowAfter || 60) * 1000;
    const home = root.dataset.page;  // the book page; this one may be the answer to a refused form

    // The title form is the script's while the book is made (the page keeps what is typed); the
    // title cannot change while the book is drawn (the PDF has read it).
    const titleForm = $(".title-edit");
    function showTitleForm(now) {
      if (!titleForm) return;
      titleForm.hidden = false;
      const drawing = now === "rendering";
      $$("input[name=title], button[type=submit]", titleForm).forEach((field) => { field.disabled = drawing; });
      $("[data-rendering-note]", titleForm).hidden = !drawing;
    }

    // Typing on the page not sent yet: a changed field, or the text of a refused edit (data-unsaved).
    const unsaved = () => $$("main input[type=text], main input[type=email], main textarea").some(
      (field) => field.hasAttribute("data-unsaved") || field.value !== field.defaultValue);

    function showSlow() {
      const notice = $("#slow-notice");
      if (notice) notice.hidden = !(active.has(status) && Date.now() - movedAt >= slowAfter);
    }

    function showConnection() {
      const notice = $("#offline-notice");
      let text = "";
      if (navigator.onLine === false) {
        text = active.has(status)
          ? "인터넷 연결이 끊겼어요. 책은 서버에서 계속 만들어지고 있어요. 다시 연결되면 진행 상황을 이어서 보여 드려요."
          : "인터넷 연결이 끊겼어요. 다시 연결되면 내려받기와 고치기를 할 수 있어요.";
      } else if (failures >= 3) {
        text = "서버에서 답이 없어요. 잠시 뒤 저절로 다시 확인할게요. 책은 계속 만들어지고 있어요.";
      }
      if (notice.textContent !== text) notice.textContent = text;
      notice.hidden = !text;
    }

    // The page reloads when the book moves on (an edit finished): the parent stays at the page
    // they were reading, though the cards above it change height (progress, then the downloads).
    const KEEP = "talesrunner:keep-place";
    let keeping = false;
    // The browser's own restore is off while this page puts the parent back; any other way out of
    // the page (a reload by hand, a link) turns it on again for this entry.
    window.addEventListener("pagehide", () => {
      try { if (!keeping) window.history.scrollRestoration = "auto"; } catch (e) { /* not supported */ }
    });

    // The book page afresh: reloaded, or fetched anew where this page answered a form's post (a
    // reload would send it again).
    function fresh() {
      if (window.location.pathname === home) window.location.reload();
      else window.location.replace(home);
    }

    function reloadInPlace() {
      // The first page whose top is on screen (else the one the screen is inside): its own controls
      // change with the state, so a page above it may grow while this one's top stays put.
      const seen = $$(".page", root).filter((p) => p.getBoundingClientRect().bottom > 0 && p.getBoundingClientRect().top < window.innerHeight);
      const page = seen.find((p) => p.getBoundingClientRect().top >= 0) || seen[0];
      if (page) {
        const place = { path: home, scene: page.dataset.scene, top: page.getBoundingClientRect().top };
        try {
          window.sessionStorage.setItem(KEEP, JSON.stringify(place));
          window.history.scrollRestoration = "manual";
          keeping = true;
        } catch (e) { /* storage off: the browser's own restore keeps the offset */ }
      }
      fresh();
    }

    function offerReload() {
      window.clearTimeout(timer);
      timer = null;
      stopped = true;  // the page is out of date now: nothing more to poll for until it is reloaded
      $("#reload-notice").hidden = false;
    }
    $("[data-reload]", root).addEventListener("click", reloadInPlace);

    function restorePlace() {
      let place = null;
      try {
        place = JSON.parse(window.sessionStorage.getItem(KEEP));
        window.sessionStorage.removeItem(KEEP);
      } catch (e) { return; }
      if (!place || place.path !== window.location.pathname) return;
      const page = $(`[data-scene="${place.scene}"]`, root);
      if (!page) return;
      const put = () => window.scrollTo(0, window.scrollY + page.getBoundingClientRect().top - place.top);
      put();
      window.addEventListener("load", put, { once: true });  // again once fonts and photos are in
    }

    function schedule(wait) {
      window.clearTimeout(timer);
      timer = waiting() && !stopped ? window.setTimeout(tick, wait) : null;
    }

    // The page's HTML holds a text's line breaks as LF (the parser turns CR LF into LF).
    const sameText = (value) => value.replace(/\r\n?/g, "\n").trim();

    function show(book) {
      const done = book.progress.done, total = book.progress.total || 1;
      const bar = $("#progress-bar");
      if (bar) { bar.max = total; bar.value = done; bar.textContent = `${done} / ${total}`; }
      const count = $("#progress-count");
      if (count) count.textContent = `${done} / ${book.progress.total}`;
      const stage = $("#stage-label");
      if (stage) stage.textContent = stageLabels[book.stage] || "준비";
      const line = $("#status-line");
      if (line) line.textContent = `${statusLabels[book.status]}…`;
      const badge = $("#status-badge");
      badge.textContent = statusLabels[book.status];
      badge.className = `badge status-${book.status}`;
      const describing = book.status === "queued" || book.status === "captioning";
      for (const scene of book.scenes) {
        const page = $(`[data-scene="${scene.index}"]`, root);
        if (!page) continue;
        const caption = $("[data-caption]", page), text = $("[data-text]", page);
        if (scene.caption && caption.textContent !== scene.caption) caption.textContent = scene.caption;
        caption.closest(".caption").hidden = !scene.caption && !describing;
        // A narrated page's sentence spans stay while its audio still reads the text (the player
        // highlights them); the API gives an audio URL only for such audio.
        const audio = $("[data-audio]", page);
        const narrated = $(".sentence", text) && audio && scene.audio_url === audio.getAttribute("src");
        if (scene.text && !narrated && sameText(text.textContent) !== sameText(scene.text)) {
          text.textContent = scene.text;
          page.classList.add("arrived");
        }
      }
    }

    async function refreshEmails() {
      const html = await (await fetch(home, { credentials: "same-origin" })).text();
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("emails");
      const here = document.getElementById("emails");
      if (fresh && here) here.replaceWith(fresh);
    }

    async function tick() {
      try {
        // "no-cache": the browser revalidates its copy with If-None-Match, so an unchanged book
        // costs the server a 304 with no body, and this page nothing (same ETag, nothing to redraw).
        const response = await fetch(root.dataset.poll, { credentials: "same-origin", cache: "no-cache", headers: { Accept: "application/json" } });
        if (response.status === 401 || response.status === 404) { fresh(); return; }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const tag = response.headers.get("ETag");
        if (!tag || tag !== etag) {
          etag = tag;
          const book = await response.json();
          if (book.status !== status && !(active.has(status) && active.has(book.status))) {
            showTitleForm(book.status);
            if (unsaved()) offerReload(); else reloadInPlace();
            return;
          }
          status = book.status;
          showTitleForm(status);
          if (book.updated_at !== updated) { updated = book.updated_at; movedAt = Date.now(); }
          show(book);
          const now = norm(book.emails.map((e) => `${e.status}:${e.attempts}`).join(" "));
          if (now !== emails) { emails = now; await refreshEmails(); }
        }
        delay = 1500;
        failures = 0;
      } catch (err) {
        delay = Math.min(delay * 2, 15000);  // the server is busy or restarting: ask less often
        failures += 1;
      }
      showConnection();
      showSlow();
      schedule(document.hidden ? Math.max(delay, 5000) : delay);
    }

    restorePlace();
    showTitleForm(status);
    window.addEventListener("offline", showConnection);
    window.addEventListener("online", () => {
      // Back: look now rather than after the longest back-off.
      failures = 0;
      showConnection();
      delay = 1500;
      if (waiting()) schedule(0);
    });
    showConnection();
    if (active.has(status)) window.setInterval(showSlow, 1000);
    schedule(delay);
  }

  // Read aloud: each narrated page has its audio and its sentences with where they are spoken.
  // A page's button plays that page; "처음부터 읽어 주기" plays them all in order, bringing each
  // page into view. The sentence being read is highlighted (and marked aria-current) as it plays.
  // Audio that cannot load is said (and the whole book goes on to the next page); a pause or a
  // play from outside the page (a lock screen, headphones) shows on the buttons.
  function initReadAloud(root) {
    const pages = $$(".page", root).filter((page) => $("[data-audio]", page));
    if (!pages.length) return;
    const playAll = $("[data-play-all]", root);
    const now = $("#reading-now");
    let current = null;  // the page playing now
    let queue = [];  // pages still to play after it, when the whole book is read

    // The live region: what is read now, or (shown on screen too) why nothing is.
    function say(text, problem = false) {
      if (!now) return;
      now.textContent = text;
      now.classList.toggle("visually-hidden", !problem);
    }

    function mark(page, time) {
      for (const span of $$(".sentence", page)) {
        const on = time !== null && time >= Number(span.dataset.start) && time < Number(span.dataset.end);
        span.classList.toggle("reading", on);
        if (on) span.setAttribute("aria-current", "true"); else span.removeAttribute("aria-current");
      }
    }

    function release(page) {
      mark(page, null);
      $("[data-play]", page).setAttribute("aria-pressed", "false");
      page.classList.remove("playing");
    }

    // Nothing plays after this. Its audio's own "pause" event comes later and finds `current` moved on.
    function stop(text = "", problem = false) {
      if (current) {
        $("[data-audio]", current).pause();
        release(current);
      }
      current = null;
      queue = [];
      if (playAll) playAll.setAttribute("aria-pressed", "false");
      say(text, problem);
    }

    // `page` is the one reading now, on its button and in the live region.
    function reading(page, text = `${page.dataset.scene}쪽을 읽고 있어요`) {
      current = page;
      $("[data-play]", page).setAttribute("aria-pressed", "true");
      page.classList.add("playing");
      say(text);
    }

    function play(page, text) {
      const audio = $("[data-audio]", page);
      reading(page, text);
      page.scrollIntoView({ behavior: "smooth", block: "center" });
      audio.currentTime = 0;
      // AbortError: the page paused it first (another page was asked for); the audio's "error" says the rest.
      audio.play().catch((err) => { if (err.name !== "AbortError") failed(page); });
    }

    // `page` done with: the page after it when the whole book is read (null at the end or for one page).
    function next(page) {
      release(page);
      return queue.shift() || null;
    }

    function failed(page) {
      if (current !== page) return;  // told twice (the play() promise and the "error" event)
      const missing = `${page.dataset.scene}쪽 소리를 불러오지 못했어요.`;
      const following = next(page);
      if (following) {
        play(following, `${missing} ${following.dataset.scene}쪽을 읽고 있어요`);
      } else {
        stop(`${missing} 잠시 뒤 다시 눌러 주세요.`, true);
      }
    }

    for (const page of pages) {
      const audio = $("[data-audio]", page);
      const tick = () => { if (current === page) mark(page, audio.currentTime); };
      audio.addEventListener("timeupdate", tick);
      audio.addEventListener("playing", function frame() {
        // timeupdate fires only a few times a second; follow the sentence every frame while playing.
        tick();
        if (current === page && !audio.paused) window.requestAnimationFrame(frame);
      });
      audio.addEventListener("ended", () => {
        if (current !== page) return;
        const following = next(page);
        if (following) play(following); else stop();
      });
      audio.addEventListener("error", () => failed(page));
      audio.addEventListener("pause", () => {
        // At the end the browser pauses before "ended", which moves on; any other pause of the
        // page playing now came from outside the page.
        if (current === page && !audio.ended) stop();
      });
      audio.addEventListener("play", () => {
        if (current === page) return;
        stop();  // played from outside the page (a lock screen): this page is the one reading now
        reading(page);
      });
      $("[data-play]", page).addEventListener("click", () => {
        const again = current === page;
        stop();
        if (!again) play(page);
      });
    }
    if (playAll) {
      playAll.addEventListener("click", () => {
        const playing = playAll.getAttribute("aria-pressed") === "true";
        stop();
        if (playing) return;
        playAll.setAttribute("aria-pressed", "true");
        queue = pages.slice(1);
        play(pages[0]);
      });
    }
  }

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
    const book = $("#book");
    if (book) { initBook(book); initReadAloud(book); }
  });
})();
