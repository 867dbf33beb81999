// The upload page: files dropped anywhere (or chosen) are sent one request each, with a progress
// bar; then the run started on each is followed through the live events live.js fires on <body>.

const form = document.getElementById("upload-form");
const input = document.getElementById("upload-files");
const list = document.getElementById("uploads");
const hint = document.getElementById("drop-hint");
const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
const label = (name) => list.dataset["label" + name[0].toUpperCase() + name.slice(1)] || name;
const following = new Map(); // run id -> its list item
const ended = new Map(); // run id -> [state, error] of runs that ended before their upload's answer came

function item(file) {
  const li = document.createElement("li");
  const name = document.createElement("strong");
  name.textContent = file.name;
  const status = document.createElement("span");
  status.className = "status";
  status.textContent = label("uploading");
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", file.name);
  li.append(name, " ", status, bar);
  list.append(li);
  return { li, status, bar };
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function upload(file) {
  const shown = item(file);
  const body = new FormData();
  body.append("file", file);
  const workflow = form.elements.workflow.value;
  const request = new XMLHttpRequest();
  request.open("POST", "/upload" + (workflow ? "?workflow=" + encodeURIComponent(workflow) : ""));
  request.setRequestHeader("X-CSRF-Token", csrf);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) shown.bar.value = Math.round((event.loaded / event.total) * 100);
  });
  request.addEventListener("load", () => {
    let answer = {};
    try {
      answer = JSON.parse(request.responseText);
    } catch {
      answer = { error: label("error") + " (" + request.status + ")" };
    }
    if (request.status >= 400 || answer.error) {
      shown.li.classList.add("failed");
      shown.status.textContent = label("error") + ": " + (answer.error || request.status);
      shown.bar.remove();
      return;
    }
    shown.bar.value = 100;
    shown.document = answer.url;
    if (answer.run) {
      shown.status.textContent = label("processing");
      shown.bar.removeAttribute("value"); // indeterminate while the run works
      shown.li.dataset.run = answer.run;
      following.set(answer.run, shown);
      if (ended.has(answer.run)) {
        following.delete(answer.run);
        finish(shown, ...ended.get(answer.run));
      }
    } else {
      finish(shown, "stored");
    }
  });
  request.addEventListener("error", () => {
    shown.status.textContent = label("error");
    shown.li.classList.add("failed");
  });
  request.send(body);
}

function finish(shown, state, error) {
  shown.bar.remove();
  shown.li.dataset.state = state;
  shown.status.textContent = label(state) + (error ? ": " + error : "");
  shown.li.append(" ", link(shown.document, label("document")));
  if (shown.li.dataset.run) shown.li.append(" ", link("/runs/" + shown.li.dataset.run, label("run")));
}

document.body.addEventListener("pc-event", (event) => {
  const data = event.detail;
  const kind = String(data.type).replace("io.paperchain.", "");
  const runId = kind.startsWith("step.") ? data.data.run : data.subject;
  const shown = following.get(runId);
  const end = ["run.succeeded", "run.failed", "run.cancelled"].includes(kind);
  if (!shown) {
    if (end) ended.set(runId, [kind.slice(4), data.data.error]);
    return;
  }
  if (kind === "step.started") {
    shown.status.textContent = label("processing") + " · " + label("step") + " " + data.data.step;
  } else if (end) {
    following.delete(runId);
    finish(shown, kind.slice(4), data.data.error);
  }
});

input.addEventListener("change", () => {
  for (const file of input.files) upload(file);
  input.value = "";
});

document.addEventListener("dragover", (event) => {
  event.preventDefault();
  hint.hidden = false;
});
document.addEventListener("dragleave", (event) => {
  if (!event.relatedTarget) hint.hidden = true;
});
document.addEventListener("drop", (event) => {
  event.preventDefault();
  hint.hidden = true;
  for (const file of event.dataTransfer.files) upload(file);
});
