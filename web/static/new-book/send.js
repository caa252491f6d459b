import { $, $$ } from "../dom.js";
import { draftStore } from "../drafts.js";

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

// Sending: the form goes with XMLHttpRequest (upload progress) to the same endpoint the plain form
// posts to, after asking GET /books/new/check whether it would be taken; a refusal is shown beside
// the fields it names, and every photo and hint stays on the page.
export function initSending(state) {
  const { form, input, items } = state;
  const alertBox = $("#form-alert", form);
  const button = $("#submit-book", form);
  let sending = false;

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
    state.showProblems([]);
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
          state.showNote(item, message, true);
          $(".no-preview", item.node).textContent = item.url ? "" : "!";
          first = first || $("[data-pick]", item.node);
        }
        continue;
      }
      if (name === "images") { if (!photos.length) state.showProblems([message]); first = first || input; continue; }
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
    items.forEach(state.summarize);
    const item = first && state.itemOf(first);
    if (item && first.closest(".scene-panel")) state.open(item);
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
      state.showProblems(["사진을 1장 이상 골라 주세요."]);
      input.focus();
      return;
    }
    const broken = items.filter((item) => item.error);
    if (broken.length) {
      busy(false);
      showAlert(broken.map((item) => `장면 ${items.indexOf(item) + 1} (${item.name}): 보낼 수 없는 사진이에요. 사진을 누르고 ‘사진 빼기’로 빼 주세요.`));
      state.open(broken[0]);
      return;
    }
    const invalid = firstInvalid();
    if (invalid) {
      busy(false);
      const item = state.itemOf(invalid);
      if (item) state.open(item);
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
      state.stopSaving();
      try { await draftStore.clear(); } catch (e) { /* nothing kept */ }
      showProgress(1, "책 페이지로 가요…");
      window.location.assign(answer.body.location);
      return;
    }
    busy(false);
    refused(answer.status, answer.body, "upload");
  });
}
