// The book page's share links: copy a link, hand it to the system share sheet (phones), confirm before ending one.
// Making and ending links are plain forms that work without this script; it only adds to them.
"use strict";

(function () {
  function say(item, text) {
    const status = item.querySelector("[data-share-status]");
    if (status) status.textContent = text;
  }

  async function copy(item) {
    const field = item.querySelector("[data-share-url]");
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (error) {
      // No clipboard permission (an older browser, an http page): select it for the parent to copy.
      field.focus();
      field.select();
      say(item, "링크를 선택했어요. 길게 누르거나 Ctrl+C로 복사해 주세요.");
      return;
    }
    say(item, "링크를 복사했어요. 메시지나 메일에 붙여 넣어 보내 주세요.");
  }

  async function send(item) {
    const url = item.querySelector("[data-share-url]").value;
    const title = item.dataset.shareTitle || document.title;
    try {
      await navigator.share({ title: title, text: `‘${title}’ 그림책을 함께 봐요.`, url: url });
      say(item, "링크를 보냈어요.");
    } catch (error) {
      // The parent closed the share sheet: nothing to say. Anything else: copying still works.
      if (error && error.name !== "AbortError") say(item, "공유 창을 열 수 없어요. ‘복사’를 눌러 링크를 보내 주세요.");
    }
  }

  function init() {
    document.querySelectorAll("[data-share-link]").forEach((item) => {
      const copyButton = item.querySelector("[data-share-copy]");
      const sendButton = item.querySelector("[data-share-send]");
      if (copyButton) {
        copyButton.hidden = false;
        copyButton.addEventListener("click", () => copy(item));
      }
      // The Web Share API ("보내기": the system share sheet) where the browser has one (phones, some desktops); elsewhere copy alone.
      if (sendButton && typeof navigator.share === "function") {
        sendButton.hidden = false;
        sendButton.addEventListener("click", () => send(item));
      }
    });
    // On the form itself, so a cancelled confirmation stops the post before the page's other
    // submit handlers (forms.js initSendOnce disables a sent form's buttons) see it.
    document.querySelectorAll("form[data-share-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.shareConfirm)) {
          event.preventDefault();
          event.stopPropagation();
        }
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
