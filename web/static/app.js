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

  // New book: the chosen photos live in `items`, in story order; the file input is rebuilt from
  // them after every change, so a plain form post sends the photos in the order shown.
  function initNewBook(form) {
    const input = $("#images", form);
    const list = $("#scene-list", form);
    const template = $("#scene-template");
    const announce = $("#order-status", form);
    const error = $("#images-error", form);
    const max = Number(form.dataset.max);
    const maxBytes = Number(form.dataset.maxMb) * 1e6;
    const items = [];
    const canRebuildFiles = typeof DataTransfer === "function";

    const hintsLater = () => ($("input[name=hints]:checked", form) || {}).value === "later";

    function applyHintsMode() {
      const later = hintsLater();
      $$(".scene-hints", list).forEach((box) => {
        box.hidden = later;
        $$("input, select, textarea", box).forEach((field) => { field.disabled = later; });
      });
      $("#hints-now-help").hidden = later;
    }

    function renumber() {
      items.forEach((item, position) => {
        const n = position + 1;
        $$("[id], [for], [name], [data-fill], [aria-describedby]", item.node).forEach((el) => {
          for (const attr of ["id", "for", "name", "data-fill", "aria-describedby"]) {
            const value = el.getAttribute(attr);
            if (value) el.setAttribute(attr, value.replace(/^(scenes?-)(?:\d+|__i__)-/, `$1${position}-`));
          }
        });
        $(".scene-no", item.node).textContent = n;
        $(".preview", item.node).alt = `장면 ${n} 사진 (${item.file.name})`;
        const [up, down] = $$("[data-move]", item.node);
        up.disabled = position === 0;
        down.disabled = position === items.length - 1;
        up.setAttribute("aria-label", `장면 ${n} 사진을 앞으로`);
        down.setAttribute("aria-label", `장면 ${n} 사진을 뒤로`);
        $("[data-remove]", item.node).setAttribute("aria-label", `장면 ${n} 사진 빼기`);
      });
    }

    function syncFiles() {
      if (!canRebuildFiles) return;
      const transfer = new DataTransfer();
      items.forEach((item) => transfer.items.add(item.file));
      input.files = transfer.files;
    }

    function showProblems(problems) {
      error.hidden = problems.length === 0;
      error.textContent = problems.join(" ");
    }

    input.addEventListener("change", () => {
      const problems = [];
      const picked = Array.from(input.files);
      // Without DataTransfer the input cannot be rebuilt: it then holds exactly the latest pick.
      if (!canRebuildFiles) { items.splice(0).forEach((item) => { item.node.remove(); URL.revokeObjectURL(item.url); }); }
      for (const file of picked) {
        if (items.length >= max) { problems.push(`사진은 ${max}장까지예요: ${file.name}은 넣지 않았어요.`); continue; }
        if (!file.type.startsWith("image/")) { problems.push(`${file.name}은 사진 파일이 아니에요.`); continue; }
        if (file.size > maxBytes) { problems.push(`${file.name}은 너무 커요 (${form.dataset.maxMb}MB까지).`); continue; }
        const node = template.content.firstElementChild.cloneNode(true);
        const url = URL.createObjectURL(file);
        $(".preview", node).src = url;
        $(".file-name", node).textContent = file.name;
        items.push({ file, url, node });
        list.appendChild(node);
      }
      showProblems(problems);
      renumber();
      syncFiles();
      applyHintsMode();
      announce.textContent = `사진 ${items.length}장을 골랐어요.`;
    });

    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-move], button[data-remove]");
      if (!button) return;
      const node = button.closest(".scene-card");
      const from = items.findIndex((item) => item.node === node);
      if (button.hasAttribute("data-remove")) {
        const [gone] = items.splice(from, 1);
        URL.revokeObjectURL(gone.url);
        node.remove();
        renumber();
        syncFiles();
        announce.textContent = `${gone.file.name} 사진을 뺐어요. 이제 ${items.length}장이에요.`;
        const next = items[Math.min(from, items.length - 1)];
        (next ? $("[data-remove]", next.node) : input).focus();
        return;
      }
      const to = from + Number(button.dataset.move);
      if (to < 0 || to >= items.length) return;
      const [moved] = items.splice(from, 1);
      items.splice(to, 0, moved);
      list.insertBefore(node, items[to + 1] ? items[to + 1].node : null);
      renumber();
      syncFiles();
      announce.textContent = `${moved.file.name} 사진을 ${to + 1}번째 장면으로 옮겼어요.`;
      // Keep the keyboard where it was; at either end the pressed button turns off, so use its twin.
      const again = $(`[data-move="${button.dataset.move}"]`, node);
      (again.disabled ? $(`[data-move="${-Number(button.dataset.move)}"]`, node) : again).focus();
    });

    $$("input[name=hints]", form).forEach((radio) => radio.addEventListener("change", applyHintsMode));
    applyHintsMode();

    form.addEventListener("submit", () => {
      const button = $("#submit-book", form);
      button.disabled = true;
      button.textContent = "사진을 올리고 있어요…";
    });
  }

  // Book page: poll the JSON API with the session cookie while the book is being made or an
  // email is on its way. Progress updates in place; when the book leaves the working states
  // (done, failed, waiting for hints) the page reloads, and the server shows the next step.
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
    // When the book last moved, on this browser's clock, from how long ago the server said it did.
    let movedAt = Date.now() - Number(root.dataset.idle || 0) * 1000;
    let updated = root.dataset.updated;
    const slowAfter = Number(root.dataset.slowAfter || 60) * 1000;

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

    function reloadInPlace() {
      // The first page whose top is on screen (else the one the screen is inside): its own controls
      // change with the state, so a page above it may grow while this one's top stays put.
      const seen = $$(".page", root).filter((p) => p.getBoundingClientRect().bottom > 0 && p.getBoundingClientRect().top < window.innerHeight);
      const page = seen.find((p) => p.getBoundingClientRect().top >= 0) || seen[0];
      if (page) {
        const place = { path: window.location.pathname, scene: page.dataset.scene, top: page.getBoundingClientRect().top };
        try {
          window.sessionStorage.setItem(KEEP, JSON.stringify(place));
          window.history.scrollRestoration = "manual";
          keeping = true;
        } catch (e) { /* storage off: the browser's own restore keeps the offset */ }
      }
      window.location.reload();
    }

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
      timer = waiting() ? window.setTimeout(tick, wait) : null;
    }

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
        if (scene.text && text.textContent !== scene.text) { text.textContent = scene.text; page.classList.add("arrived"); }
      }
    }

    async function refreshEmails() {
      const html = await (await fetch(window.location.pathname, { credentials: "same-origin" })).text();
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("emails");
      const here = document.getElementById("emails");
      if (fresh && here) here.replaceWith(fresh);
    }

    async function tick() {
      try {
        // "no-cache": the browser revalidates its copy with If-None-Match, so an unchanged book
        // costs the server a 304 with no body, and this page nothing (same ETag, nothing to redraw).
        const response = await fetch(root.dataset.poll, { credentials: "same-origin", cache: "no-cache", headers: { Accept: "application/json" } });
        if (response.status === 401 || response.status === 404) { window.location.reload(); return; }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const tag = response.headers.get("ETag");
        if (!tag || tag !== etag) {
          etag = tag;
          const book = await response.json();
          if (book.status !== status && !(active.has(status) && active.has(book.status))) {
            reloadInPlace();
            return;
          }
          status = book.status;
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
  function initReadAloud(root) {
    const pages = $$(".page", root).filter((page) => $("[data-audio]", page));
    if (!pages.length) return;
    const playAll = $("[data-play-all]", root);
    const now = $("#reading-now");
    let current = null;  // the page playing now
    let queue = [];  // pages still to play after it, when the whole book is read

    function mark(page, time) {
      for (const span of $$(".sentence", page)) {
        const on = time !== null && time >= Number(span.dataset.start) && time < Number(span.dataset.end);
        span.classList.toggle("reading", on);
        if (on) span.setAttribute("aria-current", "true"); else span.removeAttribute("aria-current");
      }
    }

    function stop() {
      if (current) {
        const audio = $("[data-audio]", current);
        audio.pause();
        mark(current, null);
        $("[data-play]", current).setAttribute("aria-pressed", "false");
        current.classList.remove("playing");
      }
      current = null;
      queue = [];
      if (playAll) playAll.setAttribute("aria-pressed", "false");
    }

    function play(page) {
      current = page;
      const audio = $("[data-audio]", page);
      $("[data-play]", page).setAttribute("aria-pressed", "true");
      page.classList.add("playing");
      page.scrollIntoView({ behavior: "smooth", block: "center" });
      if (now) now.textContent = `${page.dataset.scene}쪽을 읽고 있어요`;
      audio.currentTime = 0;
      audio.play().catch(() => stop());
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
        const next = queue.shift();
        const rest = queue;
        mark(page, null);
        $("[data-play]", page).setAttribute("aria-pressed", "false");
        page.classList.remove("playing");
        if (next) { play(next); queue = rest; } else stop();
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
    initCopy();
    initChips();
    initEmailForm();
    const focus = $("[data-focus]");
    if (focus) focus.focus();
    const form = $("#new-book");
    if (form) initNewBook(form);
    const book = $("#book");
    if (book) { initBook(book); initReadAloud(book); }
  });
})();
