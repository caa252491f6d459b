// Spoken hints on the new-book form: record (or choose a sound file), listen, send, then take the
// hints heard into the fields. The markup is web/templates/books/_voice.html, rendered hidden: this
// script shows it. Nothing reaches the book until the parent sends the form; the server deletes the
// recording once it is transcribed. Scene panels are cloned from a <template> by new-book/scenes.js, so every
// listener is on the document, and the template itself is shown here before any clone is made.
"use strict";

(function () {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  // What MediaRecorder can make here: webm/opus on Chrome, Edge and Firefox; mp4/aac on iOS Safari.
  const TYPES = [["audio/webm;codecs=opus", "webm"], ["audio/webm", "webm"], ["audio/mp4", "m4a"],
                 ["audio/ogg;codecs=opus", "ogg"]];
  const canRecord = typeof window.MediaRecorder === "function" && !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  const POLL_MS = [800, 1000, 1500, 2000, 3000];
  const GIVE_UP_MS = 5 * 60 * 1000;
  const state = new WeakMap();  // each voice box: its recorder, recording, timer, poll

  function pickType() {
    if (!canRecord || typeof MediaRecorder.isTypeSupported !== "function") return ["", "webm"];
    return TYPES.find(([type]) => MediaRecorder.isTypeSupported(type)) || ["", "webm"];
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function boxState(box) {
    if (!state.has(box)) state.set(box, {});
    return state.get(box);
  }

  function say(box, text) {
    $("[data-voice-status]", box).textContent = text;
  }

  function show(box) {
    box.hidden = false;
    if (!canRecord) $("[data-voice-record]", box).hidden = true;  // a sound file still works
  }

  function init() {
    $$("template").forEach((template) => $$("[data-voice]", template.content).forEach(show));
    $$("[data-voice]").forEach(show);
    document.addEventListener("click", onClick);
    document.addEventListener("change", (event) => {
      const input = event.target.closest && event.target.closest("[data-voice-file]");
      if (!input || !input.files.length) return;
      const box = input.closest("[data-voice]");
      const file = input.files[0];
      input.value = "";
      review(box, file, file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "audio");
    });
  }

  function onClick(event) {
    const button = event.target.closest && event.target.closest("[data-voice] button");
    if (!button) return;
    const box = button.closest("[data-voice]");
    if (button.hasAttribute("data-voice-open")) toggle(box, button);
    else if (button.hasAttribute("data-voice-record")) record(box);
    else if (button.hasAttribute("data-voice-stop")) stop(box);
    else if (button.hasAttribute("data-voice-choose")) $("[data-voice-file]", box).click();
    else if (button.hasAttribute("data-voice-send")) send(box);
    else if (button.hasAttribute("data-voice-accept")) accept(box);
    else if (button.hasAttribute("data-voice-dismiss")) dismiss(box);
  }

  function toggle(box, button) {
    const panel = $("[data-voice-panel]", box);
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    if (panel.hidden) stop(box);
    else ($("[data-voice-record]", box).hidden ? $("[data-voice-choose]", box) : $("[data-voice-record]", box)).focus();
  }

  async function record(box) {
    const st = boxState(box);
    if (st.recorder) return;
    const [type, extension] = pickType();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      say(box, "마이크를 쓸 수 없어요. 브라우저에서 마이크를 허락하거나, 녹음한 소리 파일을 골라 주세요.");
      return;
    }
    const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    const chunks = [];
    const max = Number(box.dataset.maxS) || 60;
    const timer = $("[data-voice-timer]", box);
    st.recorder = recorder;
    recorder.addEventListener("dataavailable", (e) => { if (e.data && e.data.size) chunks.push(e.data); });
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      clearInterval(st.tick);
      st.recorder = null;
      setRecording(box, false);
      const blob = new Blob(chunks, { type: recorder.mimeType || type || "audio/webm" });
      const seconds = (performance.now() - st.started) / 1000;
      review(box, blob, extension, `${clock(seconds)} 녹음했어요. 들어 보고 ‘보내서 글로 바꾸기’를 눌러 주세요.`);
    });
    st.started = performance.now();
    recorder.start(1000);
    setRecording(box, true);
    timer.textContent = `0:00 / ${clock(max)}`;
    st.tick = setInterval(() => {
      const seconds = (performance.now() - st.started) / 1000;
      timer.textContent = `${clock(seconds)} / ${clock(max)}`;
      if (seconds >= max) {
        say(box, `${clock(max)}가 되어 녹음을 멈췄어요.`);
        stop(box);
      }
    }, 250);
    say(box, `녹음하고 있어요. 다 말하면 ‘녹음 멈추기’를 눌러 주세요. ${clock(max)}가 되면 저절로 멈춰요.`);
  }

  function setRecording(box, on) {
    $("[data-voice-record]", box).hidden = on || !canRecord;
    $("[data-voice-stop]", box).hidden = !on;
    $("[data-voice-timer]", box).hidden = !on;
    $("[data-voice-choose]", box).disabled = on;
    if (on) {
      $("[data-voice-review]", box).hidden = true;
      $("[data-voice-result]", box).hidden = true;
      $("[data-voice-stop]", box).focus();
    }
  }

  function stop(box) {
    const st = boxState(box);
    if (st.recorder && st.recorder.state !== "inactive") st.recorder.stop();
  }

  // The recording (or the chosen file) waits here to be listened to before it is sent.
  function review(box, blob, extension, message) {
    const st = boxState(box);
    const maxBytes = Number(box.dataset.maxBytes) || 0;
    if (maxBytes && blob.size > maxBytes) {
      say(box, `소리 파일이 너무 커요. ${Math.floor(maxBytes / 1048576)}MB까지 보낼 수 있어요. 더 짧게 녹음해 주세요.`);
      return;
    }
    const player = $("[data-voice-playback]", box);
    if (player.src.startsWith("blob:")) URL.revokeObjectURL(player.src);
    player.src = URL.createObjectURL(blob);
    st.blob = blob;
    st.extension = extension;
    $("[data-voice-review]", box).hidden = false;
    $("[data-voice-result]", box).hidden = true;
    $("[data-voice-send]", box).disabled = false;
    say(box, message || "소리 파일을 골랐어요. 들어 보고 ‘보내서 글로 바꾸기’를 눌러 주세요.");
    $("[data-voice-send]", box).focus();
  }

  function csrf() {
    const meta = $("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }

  async function send(box) {
    const st = boxState(box);
    if (!st.blob) return;
    const button = $("[data-voice-send]", box);
    button.disabled = true;
    const body = new FormData();
    body.append("audio", st.blob, `hint.${st.extension || "webm"}`);
    say(box, "녹음을 보내고 있어요…");
    let answer;
    try {
      const response = await fetch(box.dataset.endpoint, {
        method: "POST", body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
      });
      answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error((answer.error && answer.error.message) || "녹음을 보내지 못했어요. 잠시 후 다시 해 주세요.");
    } catch (error) {
      button.disabled = false;
      say(box, error instanceof TypeError ? "서버에 닿지 않았어요. 연결을 확인하고 다시 보내 주세요." : error.message);
      return;
    }
    say(box, "글로 바꾸고 있어요. 잠시만 기다려 주세요…");
    poll(box, answer.url, Date.now(), 0);
  }

  async function poll(box, url, since, round) {
    const st = boxState(box);
    let answer;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      answer = await response.json();
      if (!response.ok) throw new Error((answer.error && answer.error.message) || "");
    } catch (error) {
      answer = null;
    }
    if (answer && answer.status === "done") return offer(box, answer);
    if (answer && answer.status === "failed") {
      $("[data-voice-send]", box).disabled = false;
      say(box, answer.error || "글로 바꾸지 못했어요. 다시 녹음해 주세요.");
      return;
    }
    if (Date.now() - since > GIVE_UP_MS) {
      $("[data-voice-send]", box).disabled = false;
      say(box, "글로 바꾸는 데 너무 오래 걸려요. 힌트는 글로 적거나 조금 뒤에 다시 보내 주세요.");
      return;
    }
    st.poll = setTimeout(() => poll(box, url, since, round + 1), POLL_MS[Math.min(round, POLL_MS.length - 1)]);
  }

  // The fields the heard hints may go to: the book's hero and company, or every hint of this scene.
  function fieldsOf(box) {
    if (box.dataset.voice === "book") {
      return { name: $("#book-name"), character: $("#book-character") };
    }
    const scope = box.closest(".scene-panel, .scene-card");
    if (!scope) return {};
    const fields = {};
    $$("input[name^='scenes-'], select[name^='scenes-']", scope).forEach((field) => {
      const key = field.name.replace(/^scenes-\d+-/, "");
      if (key && !field.disabled) fields[key] = field;
    });
    return fields;
  }

  function offer(box, answer) {
    const labels = JSON.parse(box.dataset.labels || "{}");
    const fields = fieldsOf(box);
    const list = $("[data-voice-suggestions]", box);
    list.replaceChildren();
    const usable = Object.entries(answer.hints || {}).filter(([key, value]) => fields[key] && String(value).trim());
    usable.forEach(([key, value]) => {
      const label = document.createElement("label");
      label.className = "checkbox voice-suggestion";
      const tick = document.createElement("input");
      tick.type = "checkbox";
      tick.checked = true;
      tick.dataset.key = key;
      tick.value = String(value);
      label.append(tick, ` ${labels[key] || key}: `);
      const strong = document.createElement("strong");
      strong.textContent = String(value);
      label.append(strong);
      list.append(label);
    });
    $("[data-voice-text]", box).textContent = answer.text || "";
    $("[data-voice-accept]", box).hidden = usable.length === 0;
    $("[data-voice-result]", box).hidden = false;
    say(box, usable.length
      ? `이렇게 들었어요. 힌트 ${usable.length}개를 찾았어요. 넣을 것을 고르고 ‘고른 힌트 넣기’를 눌러 주세요.`
      : "이렇게 들었어요. 힌트로 쓸 말은 찾지 못했어요. 칸에 직접 적어 주세요.");
    $("[data-voice-text]", box).closest("p").tabIndex = -1;
    $("[data-voice-text]", box).closest("p").focus();
  }

  // Required fields take the heard words; the comma-separated ones get them added, as the chips do.
  function fill(field, value) {
    if (field.tagName === "SELECT") {
      if (Array.from(field.options).some((option) => option.value === value)) field.value = value;
    } else if (field.name.endsWith("-name") || field.name.endsWith("-i_action") || field.id === "book-name") {
      field.value = value;
    } else {
      const items = field.value.split(",").map((s) => s.trim()).filter(Boolean);
      for (const word of value.split(",").map((s) => s.trim()).filter(Boolean)) if (!items.includes(word)) items.push(word);
      field.value = items.join(", ");
    }
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function accept(box) {
    const fields = fieldsOf(box);
    const chosen = $$("[data-voice-suggestions] input:checked", box).filter((input) => fields[input.dataset.key]);
    chosen.forEach((input) => {
      const field = fields[input.dataset.key];
      const details = field.closest("details");
      if (details) details.open = true;  // an optional hint filled where the parent can see it
      fill(field, input.value);
    });
    $("[data-voice-result]", box).hidden = true;
    box.dispatchEvent(new CustomEvent("voice:accepted", { bubbles: true, detail: { hints: Object.fromEntries(chosen.map((i) => [i.dataset.key, i.value])) } }));
    say(box, chosen.length ? `힌트 ${chosen.length}개를 칸에 넣었어요. 책을 만들기 전에 고칠 수 있어요.` : "넣은 힌트가 없어요.");
    if (chosen.length) fields[chosen[0].dataset.key].focus();
  }

  function dismiss(box) {
    $("[data-voice-result]", box).hidden = true;
    say(box, "힌트를 넣지 않았어요. 다시 녹음하거나 칸에 직접 적어 주세요.");
    $("[data-voice-open]", box).focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
