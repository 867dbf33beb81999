// The ONNX import form, sent with the session's CSRF token in the X-CSRF-Token header. The guard reads
// a multipart body's token only from that header (it never reads an upload before checking it), and a
// plain HTML form cannot set a header: the core's upload page does the same (upload.js).
const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";

for (const form of document.querySelectorAll("form[data-import-onnx]")) {
  const shown = form.querySelector("[data-import-error]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    shown.hidden = true;
    try {
      const reply = await fetch(form.action, {
        method: "POST", body: new FormData(form), headers: { "X-CSRF-Token": csrf }, credentials: "same-origin",
      });
      if (reply.ok && reply.redirected) {
        window.location.assign(reply.url);
        return;
      }
      // An error page: show its message beside the form, which keeps what was entered.
      const page = new DOMParser().parseFromString(await reply.text(), "text/html");
      const message = page.getElementById("error-message");
      shown.textContent = message ? message.textContent : String(reply.status);
    } catch (error) {
      shown.textContent = String(error);
    }
    shown.hidden = false;
    button.disabled = false;
  });
}
