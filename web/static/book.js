import { $, $$ } from "./dom.js";

// Book page: poll the JSON API with the session cookie while the book is being made or an
// email is on its way. Progress updates in place; when the book leaves the working states
// (done, failed, waiting for hints) the page reloads, and the server shows the next step —
// unless a field on the page holds typing not sent yet (a title, a page's text, a note): then
// a notice with "새로 고침" says the book changed, and the page reloads when the parent asks.
// A book that does not move for data-slow-after seconds gets a notice saying what to do; a
// browser that is offline, or polls that keep failing, get one saying so, gone when back.
export function initBook(root) {
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
