// The page's one live connection: the API's CloudEvents WebSocket (/api/v1/events), turned into DOM
// events on <body> that htmx fragments listen to (hx-trigger="pc-runs from:body"):
//   pc-runs (run, step and batch events), pc-documents, pc-notifications: at most one a second
//   per kind, and always one after the last event of a burst, so a fragment refreshes promptly,
//   never floods the server, and never misses the final state;
//   pc-event: every event, with the CloudEvent as its detail (for scripts that follow one run);
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
const SPACING_MS = 1000;
const pending = new Map(); // DOM event name -> whether another came while it was spaced out
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

function fireSpaced(name) {
  if (pending.has(name)) {
    pending.set(name, true);
    return;
  }
  fire(name);
  pending.set(name, false);
  const again = () => {
    if (pending.get(name)) {
      fire(name);
      pending.set(name, false);
      setTimeout(again, SPACING_MS);
    } else {
      pending.delete(name);
    }
  };
  setTimeout(again, SPACING_MS);
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
    fire("pc-event", data);
    if (EVENT_FOR[kind]) fireSpaced(EVENT_FOR[kind]);
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
