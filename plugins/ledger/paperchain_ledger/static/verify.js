// Verify by drop: the SHA-256 of a dropped (or chosen) file is computed here with SubtleCrypto and
// only the hash is posted, through the page's own form (htmx). The file never leaves the browser.
const zone = document.getElementById("ledger-drop");
const input = document.getElementById("ledger-file");
const form = document.getElementById("ledger-verify");
const field = document.getElementById("ledger-sha256");
const status = document.getElementById("ledger-status");

async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function verifyFile(file) {
  if (!file) return;
  if (!globalThis.crypto || !crypto.subtle) {
    status.textContent = zone.dataset.labelNoCrypto;
    return;
  }
  status.textContent = zone.dataset.labelHashing.replace("%(name)s", file.name);
  field.value = await sha256Hex(file);
  status.textContent = "";
  form.requestSubmit();
}

if (zone && input && form && field) {
  input.addEventListener("change", () => verifyFile(input.files[0]));
  // Anywhere on the page (the zone shows where): one set of listeners, so a drop is handled once.
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    verifyFile(event.dataTransfer && event.dataTransfer.files[0]);
  });
}
