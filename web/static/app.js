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

  // What goes to the server for one chosen file, and its preview. Never throws. A photo the browser
  // cannot draw (no canvas memory) goes as it is; one it cannot decode goes as it is only when its
  // first bytes say it is a format the server reads and browsers may not (HEIC, TIFF): anything else
  // the browser cannot open is broken or no photo, and its card says so instead (`error`).
  async function preparedOrAsItIs(file) {
    try {
      return await prepared(file);
    } catch (e) {
      return { blob: file, name: file.name, thumb: null, reduced: false, badge: "사진",
               note: "이 브라우저에서 미리 보기를 만들지 못해 원본 그대로 보내요." };
    }
  }

  // The formats the server reads (web/images.py ALLOWED_FORMATS) that a browser may not decode, by their first bytes.
  const HEIF_BRANDS = ["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"];
  async function serverOnlyFormat(file) {
    const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
    const text = (from, to) => String.fromCharCode(...head.slice(from, to));
    if (text(4, 8) === "ftyp" && HEIF_BRANDS.includes(text(8, 12))) return "HEIC";
    if (text(0, 4) === "II*\0" || text(0, 4) === "MM\0*") return "TIFF";
    return null;
  }

  async function prepared(file) {
    const source = await decodePhoto(file);
    if (!source) {
      const kind = await serverOnlyFormat(file);
      if (!kind) {
        return { blob: null, name: file.name, thumb: null, reduced: false,
                 error: "사진으로 열 수 없는 파일이에요. 파일이 깨졌거나 사진이 아니에요. 이 사진을 빼고 다른 사진을 골라 주세요." };
      }
      return { blob: file, name: file.name, thumb: null, reduced: false, badge: kind,
               note: `이 브라우저에서는 미리 볼 수 없는 ${kind} 사진이라 원본 그대로 보내요. 서버에서 읽어요.` };
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

  // Why a book was not sent, said to the one who can do something about it: this device's
  // connection, a connection that dropped on the way, or the server (5xx; 502-504 while it restarts
  // or is away). The alert's first line already says the photos and hints are kept.
  function notSent(status, stage) {
    if (status === 0 && navigator.onLine === false) return "이 기기가 인터넷에 연결되어 있지 않아요. 연결되면 다시 눌러 주세요.";
    if (status === 0 && stage === "check") return "서버에 닿지 못했어요. 서버가 잠시 멈췄거나 다시 켜지는 중일 수 있어요. 몇 분 뒤 다시 눌러 주세요.";
    if (status === 0) return "사진을 보내는 도중에 연결이 끊겼어요. 다시 눌러 주세요.";
    if (status === 413) return "사진이 너무 커요. 사진을 줄이거나 몇 장 빼고 다시 눌러 주세요.";
    if (status === 429) return "짧은 시간에 요청이 너무 많았어요. 잠시 후 다시 눌러 주세요.";
    if (status >= 502 && status <= 504) return "서버가 잠시 답을 하지 못해요. 점검 중이거나 다시 켜지는 중일 수 있어요. 몇 분 뒤 다시 눌러 주세요.";
    if (status >= 500) return "서버에 문제가 생겨 책을 받지 못했어요. 잠시 뒤 다시 눌러 주세요. 계속되면 서비스를 운영하는 분께 알려 주세요.";
    return "보낸 내용을 받지 못했어요. 페이지를 새로 고치면 쓰던 사진과 힌트가 되살아나요.";
  }

  // Enter in a text field moves to the next field instead of sending the form (a phone keyboard's
  // 이동 key did send the whole book): only the form's big button sends it, and the keyboard's Enter
  // key says 다음 or 완료 (enterkeyhint). `beyond(field, go)` may name a field past the visible ones
  // (the next scene's, opened when `go`). A Korean syllable's Enter (isComposing) is the IME's own.
  const TYPED = "input:not([type=hidden]):not([type=file]):not([type=radio]):not([type=checkbox]):not([type=submit]):not([type=button]), select, textarea";
  // On screen: not in a hidden panel nor a closed <details> (whose content keeps its boxes in Chromium).
  const visible = (el) => (el.checkVisibility ? el.checkVisibility() : el.getClientRects().length > 0);
  const shown = (root) => $$(TYPED, root).filter((field) => !field.disabled && visible(field));
  function initEnterMovesOn(form, beyond = () => null) {
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

  function initNewBook(form) {
    const input = $("#images", form);
    const list = $("#scene-list", form);
    const panels = $("#scene-panels", form);
    const template = $("#scene-template");
    const panelTemplate = $("#scene-panel-template");
    const announce = $("#order-status", form);
    const error = $("#images-error", form);
    const alertBox = $("#form-alert", form);
    const button = $("#submit-book", form);
    const bookName = $("#book-name", form);
    const bookCharacter = $("#book-character", form);
    const undoBar = $("#undo-bar", form);
    const max = Number(form.dataset.max);
    const maxBytes = Number(form.dataset.maxMb) * 1048576;
    const items = [];
    const removed = [];  // photos taken out, last first back: { item, from }
    let opened = null;   // the one scene whose hints are open
    const canRebuildFiles = typeof DataTransfer === "function";
    let sending = false;

    $$("[data-js-only]", form).forEach((el) => { el.hidden = false; });
    input.required = false;  // the photos are in `items` (a restored draft has none in the input)
    form.noValidate = true;  // fields of closed scenes cannot show the browser's bubble: checked in `firstInvalid`

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
        text = words.length === 2 ? words.join(" · ") : item === opened ? "힌트를 쓰고 있어요" : "힌트를 써 주세요";
      }
      line.textContent = text;
      line.classList.toggle("needs", text === "고칠 곳이 있어요");
    }

    // Open one scene's hints (closing the others); `focus` takes the keyboard to its heading.
    function open(item, focus = false) {
      opened = item;
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
      const previews = $$("[data-style-preview]", picker);
      // Every preview's room first (its frame), so the drawings arriving one by one move nothing below.
      for (const img of previews) {
        if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
        img.removeAttribute("src");
        img.parentElement.hidden = !thumb;
      }
      if (!thumb) return;
      for (const img of previews) {
        const style = img.dataset.stylePreview;
        const frame = img.parentElement;
        if (style === "photo") { img.src = URL.createObjectURL(thumb); continue; }
        const body = new FormData();
        body.append("photo", thumb, "preview.jpg");
        body.append("style", style);
        body.append("csrf_token", form.elements.namedItem("csrf_token").value);
        try {
          const answer = await fetch(picker.dataset.preview, { method: "POST", body, credentials: "same-origin" });
          if (previewed !== thumb) return;  // another first photo: its own round draws the rest
          if (!answer.ok) { frame.hidden = true; continue; }
          const drawn = await answer.blob();
          if (previewed !== thumb) return;
          img.src = URL.createObjectURL(drawn);
        } catch (e) {
          if (previewed !== thumb) return;
          frame.hidden = true;  // no preview is no loss: the style's name and description stay
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
      updateStylePreviews();
    }

    function dropItem(item) {
      items.splice(items.indexOf(item), 1);
      item.node.remove();
      item.panel.remove();
      if (opened === item) opened = null;
    }

    function forget(item) {
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
        showNote(item, "사진을 준비하고 있어요…");
        item.ready = preparePhoto(file).then((photo) => {
          showPhoto(item, photo);
          if (item.error) announce.textContent = `${file.name}: ${item.error}`;
        });
        jobs.push(item.ready);
      }
      renumber();
      applyHintsMode();
      if (!opened && items.length) open(items[0]);
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
      const pick = event.target.closest("button[data-pick]");
      if (pick) { open(itemOf(pick), true); return; }
      const pressed = event.target.closest("button[data-move]");
      if (!pressed) return;
      const node = pressed.closest(".scene-card");
      const from = items.findIndex((item) => item.node === node);
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
      const item = itemOf(pressed);
      const from = items.indexOf(item);
      if (pressed.hasAttribute("data-next")) {
        const next = items[from + 1];
        if (next) { open(next, true); next.panel.scrollIntoView({ block: "start" }); }
        return;
      }
      dropItem(item);
      removed.push({ item, from });
      renumber();
      syncFiles();
      saveDraft();
      if (items.length) open(items[Math.min(from, items.length - 1)]);
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
      prefill(item);
      renumber();
      applyHintsMode();
      open(item);
      syncFiles();
      saveDraft();
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
        renumber();
        if (to !== from) moved(item, to);
      };
      // On the window: the events bubble there whether or not the capture holds.
      window.addEventListener("pointermove", follow);
      window.addEventListener("pointerup", drop);
      window.addEventListener("pointercancel", drop);
    });

    // Enter: on to the next field; from a scene's last field, on to the next scene's first.
    initEnterMovesOn(form, (at, go) => {
      const item = itemOf(at);
      if (!item) return null;
      const here = shown(item.panel);
      if (here.indexOf(at) < here.length - 1) return here[here.indexOf(at) + 1];
      const next = items[items.indexOf(item) + 1];
      if (!next || hintsLater()) return null;
      if (!go) return true;  // asked only whether there is one (the Enter key's label)
      open(next);
      return shown(next.panel)[0] || null;
    });

    // The draft: every field by name and the photos in order, saved shortly after each change.
    let saveTimer = null;
    function saveDraft() {
      window.clearTimeout(saveTimer);
      saveTimer = window.setTimeout(writeDraft, 300);
    }
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
      for (const photo of draft.photos.slice(0, max)) showPhoto(addCard(photo), photo);
      renumber();
      fillFields(draft.fields);
      items.forEach((item) => {
        for (const [key, source] of Object.entries(prefillFields)) {
          const target = field(item, key);
          if (target.value === source.value.trim()) target.dataset.prefilled = target.value;
          else delete target.dataset.prefilled;
        }
      });
      syncFiles();
      applyHintsMode();
      if (items.length) open(items[0]);
      $("#draft-note").hidden = false;
      announce.textContent = `지난번에 쓰던 사진 ${items.length}장과 힌트를 되살렸어요.`;
    }
    $("#draft-clear").addEventListener("click", async () => {
      items.slice().forEach((item) => { dropItem(item); forget(item); });
      removed.splice(0).forEach(({ item }) => forget(item));
      showUndo();
      form.reset();
      syncFiles();
      applyHintsMode();
      $("#draft-note").hidden = true;
      try { await draftStore.clear(); } catch (e) { /* nothing kept */ }
      announce.textContent = "쓰던 내용을 지웠어요.";
    });
    form.addEventListener("input", (event) => {
      saveDraft();
      const item = itemOf(event.target);
      if (item) summarize(item);
    });
    form.addEventListener("change", (event) => { if (event.target !== input) saveDraft(); });

    // Messages beside the fields they name; the keys are form field names ("scenes-1-name"), and
    // "images[2]" is the third photo, whose row says it.
    function clearErrors() {
      $$("[data-js-error]", form).forEach((el) => el.remove());
      $$("[aria-invalid][data-js-invalid]", form).forEach((f) => {
        f.removeAttribute("aria-invalid");
        f.removeAttribute("data-js-invalid");
        f.setAttribute("aria-describedby", (f.getAttribute("aria-describedby") || "").replace(/\s*\S+-error\b/g, "").trim());
      });
      alertBox.hidden = true;
      showProblems([]);
    }
    function showFieldErrors(fields) {
      let first = null;
      const photos = Object.keys(fields || {}).filter((name) => /^images\[\d+\]$/.test(name));
      for (const [name, message] of Object.entries(fields || {})) {
        const photo = /^images\[(\d+)\]$/.exec(name);
        if (photo) {
          // Every photo was sent, in this order; the server reads them the same way each time, so this one stays refused.
          const item = items[Number(photo[1])];
          if (item) {
            item.error = message;
            item.file = null;
            showNote(item, message, true);
            $(".no-preview", item.node).textContent = item.url ? "" : "!";
            first = first || $("[data-pick]", item.node);
          }
          continue;
        }
        if (name === "images") { if (!photos.length) showProblems([message]); first = first || input; continue; }
        const target = form.elements.namedItem(name);
        if (!target || !target.id) continue;
        const note = document.createElement("p");
        note.className = "field-error";
        note.id = `${target.id}-error`;
        note.dataset.jsError = "";
        note.textContent = message;
        target.closest(".field").appendChild(note);
        target.setAttribute("aria-invalid", "true");
        target.dataset.jsInvalid = "";
        target.setAttribute("aria-describedby", `${target.getAttribute("aria-describedby") || ""} ${note.id}`.trim());
        const details = target.closest("details");
        if (details) details.open = true;
        first = first || target;
      }
      items.forEach(summarize);
      const item = first && itemOf(first);
      if (item && first.closest(".scene-panel")) open(item);
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

    // The browser's own check, scene by scene: a required hint left empty in a closed scene opens it.
    function firstInvalid() {
      return $$("input, select, textarea", form).find((f) => !f.disabled && f.willValidate && !f.checkValidity()) || null;
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

    function refused(status, body, stage) {
      const error_ = body && body.error;
      if (body && body.fields) {
        const first = showFieldErrors(body.fields);
        showAlert(body.problems || [error_.message]);
        if (first && first !== input) first.focus({ preventScroll: false });
        return;
      }
      showAlert([error_ && error_.message ? error_.message : notSent(status, stage)]);
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
      const broken = items.filter((item) => item.error);
      if (broken.length) {
        busy(false);
        showAlert(broken.map((item) => `장면 ${items.indexOf(item) + 1} (${item.name}): 보낼 수 없는 사진이에요. 사진을 누르고 ‘사진 빼기’로 빼 주세요.`));
        open(broken[0]);
        return;
      }
      const invalid = firstInvalid();
      if (invalid) {
        busy(false);
        const item = itemOf(invalid);
        if (item) open(item);
        invalid.focus();
        invalid.reportValidity();
        return;
      }
      busy(true, "보낼 수 있는지 확인하고 있어요…");
      let verdict;
      try {
        verdict = await check();
      } catch (e) {
        busy(false);
        refused(e.status || 0, e.body, "check");
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
      refused(answer.status, answer.body, "upload");
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
      // A caption is waited for only where photos are described (TALES_CAPTIONER is not none).
      const describing = root.dataset.captions !== "off" && (book.status === "queued" || book.status === "captioning");
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
    const annotate = $(".annotate-form");  // the book page's hints, written after the captions
    if (annotate) initEnterMovesOn(annotate);
    const book = $("#book");
    if (book) { initBook(book); initReadAloud(book); }
  });
})();
