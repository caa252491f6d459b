import { $, $$ } from "./dom.js";

// Read aloud: each narrated page has its audio and its sentences with where they are spoken.
// A page's button plays that page; "처음부터 읽어 주기" plays them all in order, bringing each
// page into view. The sentence being read is highlighted (and marked aria-current) as it plays.
// Audio that cannot load is said (and the whole book goes on to the next page); a pause or a
// play from outside the page (a lock screen, headphones) shows on the buttons.
export function initReadAloud(root) {
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
