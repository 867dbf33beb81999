// The page's one live connection: the API's CloudEvents WebSocket (/api/v1/events), turned into DOM
// events on <body> that htmx fragments listen to (hx-trigger="pc-runs from:body"):
//   pc-runs (run, step and batch events), pc-documents, pc-notifications, pc-event (any), and
//   pc-resync after a reconnect, once the missed events were replayed from the cursor.
// The session cookie authenticates it. It reconnects with backoff and resumes from the last
// sequence seen, so nothing is missed; the badge in the header says how the connection is.
// Also here: "/" focuses the search box.

const body = document.body;
const topics = (body.dataset.liveTopics || "").split(",").filter(Boolean);
const badge = document.getElementById("live-badge");
const EVENT_FOR = { run: "pc-runs", step: "pc-runs", batch: "pc-runs", document: "pc-documents",
                    notification: "pc-notifications" };
const UNAUTHORIZED = 4001;
let cursor = body.dataset.liveSince ? Number(body.dataset.liveSince) : null;
let delay = 1000;
let connectedBefore = false;

function show(state) {
  if (!badge) return;
  badge.dataset.state = state;
  badge.textContent = badge.dataset["label" + state[0].toUpperCase() + state.slice(1)] || state;
}

function fire(name, detail) {
  body.dispatchEvent(new CustomEvent(name, { detail }));
}

function handle(message) {
  let data;
  try {
    data = JSON.parse(message.data);
  } catch {
    return;
  }
  if (data.type === "subscribed") {
    show("live");
    delay = 1000;
    if (cursor === null) cursor = data.seq;
    if (connectedBefore) fire("pc-resync", { seq: data.seq });
    connectedBefore = true;
  } else if (data.specversion) {
    cursor = Math.max(cursor || 0, Number(data.sequence));
    const kind = String(data.type).replace("io.paperchain.", "").split(".")[0];
    if (EVENT_FOR[kind]) fire(EVENT_FOR[kind], data);
    fire("pc-event", data);
  }
}

function connect() {
  show("connecting");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + "/api/v1/events");
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "subscribe", topics, since: cursor }));
  });
  socket.addEventListener("message", handle);
  socket.addEventListener("close", (closed) => {
    show("offline");
    if (closed.code === UNAUTHORIZED) return; // the session ended: the next page load goes to login
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  });
}

if (topics.length && badge) connect();

document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  const search = document.getElementById("search");
  if (event.key === "/" && !typing && search && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    search.focus();
  }
});
