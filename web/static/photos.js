// Each photo chosen for a new book, made ready to send (new-book/strip.js): shrunk to print size, with its preview.
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
export async function preparePhoto(file) {
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
