import { $, $$ } from "../dom.js";

// The style picker shows the first photo drawn in each style (the server draws the page's small
// copy with the same OpenCV filter the book uses); a new first photo draws them again.
export function initStylePreviews(state) {
  const { form, items } = state;
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
      img.parentElement.toggleAttribute("data-drawing", Boolean(thumb) && img.dataset.stylePreview !== "photo");
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
        frame.removeAttribute("data-drawing");
        if (!answer.ok) { frame.hidden = true; continue; }
        const drawn = await answer.blob();
        if (previewed !== thumb) return;
        img.src = URL.createObjectURL(drawn);
      } catch (e) {
        if (previewed !== thumb) return;
        frame.removeAttribute("data-drawing");
        frame.hidden = true;  // no preview is no loss: the style's name and description stay
      }
    }
  }

  return { updateStylePreviews };
}
