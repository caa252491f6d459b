import { $ } from "./dom.js";

// The draft: IndexedDB, because it stores Blobs as they are and holds the reduced photos
// (about 1-2 MB each, up to 10): localStorage keeps only ~5 MB of strings per site.
export const draftStore = {
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
export function initForgetDrafts() {
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
