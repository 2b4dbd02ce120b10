// The aixgo web console: plain JavaScript, no build step, nothing from elsewhere. It talks only to the
// sessions API and /v1/chat/completions of the server that serves it, as any client does; the key is in an
// HttpOnly cookie (set by POST /ui/api/signin) and every change carries the CSRF token from /ui/api/me.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { me: null, cursors: [], next: null, query: {}, session: null, turn: null };

// -- talking to the server ------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, path, body, extra) {
  const headers = { Accept: "application/json", ...(extra || {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.me) headers["X-CSRF-Token"] = state.me.csrf;
  const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin" });
  const text = await answer.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (answer.status === 401 && !path.startsWith("/ui/api/signin")) { showSignin(); throw new ApiError(401, data); }
  if (!answer.ok) throw new ApiError(answer.status, data);
  return data;
}

// -- small DOM helpers ----------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function when(iso) {
  if (!iso) return "";
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  const ago = (n, unit) => `${Math.floor(n)}${unit} ago`;
  if (seconds < 5) return "just now";
  if (seconds < 60) return ago(seconds, "s");
  if (seconds < 3600) return ago(seconds / 60, "m");
  if (seconds < 86400) return ago(seconds / 3600, "h");
  if (seconds < 86400 * 60) return ago(seconds / 86400, "d");
  return iso.slice(0, 10);
}

function show(name) {
  for (const id of ["signin-view", "list-view", "session-view"]) $(id).hidden = id !== name;
}

function confirmed(text) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

function flash(text, isError) {
  const status = $("chat-status");
  status.textContent = text;
  status.className = isError ? "error" : "muted";
}

// -- signing in -----------------------------------------------------------------------------------

function showSignin() {
  state.me = null;
  $("who").hidden = true;
  show("signin-view");
  $("signin-key").focus();
}

async function whoami() {
  try {
    state.me = await api("GET", "/ui/api/me");
  } catch (error) {
    if (error.status === 401) return false;
    throw error;
  }
  $("who").hidden = false;
  $("signout").hidden = !state.me.keys_required;
  $("who-name").textContent = state.me.keys_required
    ? `${state.me.user || "(no user)"} · ${state.me.role}` : "no keys: loopback only";
  $("filter-user").hidden = state.me.role !== "admin";
  return true;
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").hidden = true;
  try {
    await api("POST", "/ui/api/signin", { key: $("signin-key").value });
    $("signin-key").value = "";
    await whoami();
    route();
  } catch (error) {
    $("signin-error").textContent = error.message;
    $("signin-error").hidden = false;
  }
});

$("signout").addEventListener("click", async () => {
  await api("POST", "/ui/api/signout", {});
  showSignin();
});

// -- the sessions list ----------------------------------------------------------------------------

async function loadAgents() {
  const models = await api("GET", "/v1/models");
  const filter = $("filter-agent");
  const chooser = $("new-agent");
  if (filter.options.length > 1) return;
  for (const model of models.data) {
    filter.append(el("option", { value: model.id, text: model.id }));
    chooser.append(el("option", { value: model.id, text: model.id }));
  }
}

async function showList(params) {
  show("list-view");
  await loadAgents();
  state.query = { q: params.get("q") || "", agent: params.get("agent") || "", user: params.get("user") || "" };
  $("search").value = state.query.q;
  $("filter-agent").value = state.query.agent;
  $("filter-user").value = state.query.user;
  const before = params.get("before") || "";
  const query = new URLSearchParams({ limit: "50" });
  for (const [key, value] of Object.entries(state.query)) if (value) query.set(key, value);
  if (before) query.set("before", before);
  const page = await api("GET", `/v1/sessions?${query}`);
  const body = $("sessions");
  body.replaceChildren();
  for (const info of page.data) {
    const title = el("td", { class: "title" },
      el("a", { href: `#/session/${encodeURIComponent(info.id)}`, text: info.title || "(no message yet)" }),
      info.damage ? el("span", { class: "badge damaged", title: info.damage, text: "damaged" }) : null,
      el("span", { class: "id", text: info.id }));
    body.append(el("tr", { "data-id": info.id }, title,
      el("td", { text: info.agent }), el("td", { text: info.user_id || "–" }),
      el("td", { title: info.updated_at, text: when(info.updated_at) }),
      el("td", { class: "num", text: String(info.message_count) }),
      el("td", { class: "num", text: info.tokens === null ? "–" : info.tokens.toLocaleString() })));
  }
  $("list-empty").hidden = page.data.length > 0;
  state.next = page.next;
  $("older").disabled = !page.next;
  $("newer").disabled = !before;
}

function listHash(extra) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...state.query, ...(extra || {}) })) if (value) query.set(key, value);
  const text = query.toString();
  return text ? `#/?${text}` : "#/";
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.query = { q: $("search").value.trim(), agent: $("filter-agent").value, user: $("filter-user").value.trim() };
  state.cursors = [];
  location.hash = listHash();
});
$("older").addEventListener("click", () => {
  state.cursors.push(new URLSearchParams(location.hash.split("?")[1] || "").get("before") || "");
  location.hash = listHash({ before: state.next });
});
$("newer").addEventListener("click", () => {
  const before = state.cursors.pop() || "";
  location.hash = listHash({ before });
});
$("new-chat").addEventListener("click", () => {
  location.hash = `#/new/${encodeURIComponent($("new-agent").value)}`;
});

// -- a session ------------------------------------------------------------------------------------

const ROLE_CLASS = { user: "user", assistant: "assistant", system: "assistant", tool: "tool", error: "error", usage: "usage" };

function entryNode(entry) {
  const view = entry.view;
  const speaker = view.speaker;
  const kind = speaker.startsWith("summary") ? "summary" : (ROLE_CLASS[speaker.split(" ")[0]] || "metadata");
  const cancelled = entry.type === "error" && entry.data.error === "CancelledError";
  const who = el("div", { class: "who" }, el("span", { class: "seq", text: `[${entry.seq}]` }),
    el("span", { class: "role", text: speaker }),
    cancelled ? el("span", { class: "badge cancelled", text: "cancelled turn" }) : null,
    entry.abandoned ? el("span", { class: "badge abandoned", text: "abandoned branch" }) : null,
    el("time", { datetime: entry.timestamp, title: entry.timestamp, text: when(entry.timestamp) }));
  const node = el("li", { class: `entry ${kind}${entry.abandoned ? " abandoned" : ""}`, "data-seq": String(entry.seq),
    "data-type": entry.type }, who);
  if (kind === "tool") {  // a tool result: collapsed, its first line as the summary
    const first = view.text.split("\n")[0];
    node.append(el("details", { class: "call result" },
      el("summary", { text: first.length > 120 ? `${first.slice(0, 119)}…` : first || "(empty result)" }),
      el("pre", { text: view.text })));
  } else if (view.text) {
    node.append(el("div", { class: "text", text: view.text }));
  }
  for (const call of view.tool_calls) node.append(toolCallNode(call.name, call.arguments, call.id));
  return node;
}

function toolCallNode(name, args, id) {
  return el("details", { class: "call", "data-tool": name },
    el("summary", { text: `→ ${name}(${args.length > 80 ? `${args.slice(0, 79)}…` : args})` }),
    el("pre", { text: `${name}(${args})${id ? `  [${id}]` : ""}` }));
}

function renderTimeline(checkpoints) {
  const list = $("timeline");
  list.replaceChildren();
  $("timeline-empty").hidden = checkpoints.length > 0;
  for (const cp of checkpoints) {
    const meta = Object.entries(cp.metadata || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
    list.append(el("li", { class: cp.branch === "abandoned" ? "abandoned" : "", "data-checkpoint": cp.id },
      el("div", { class: "cp-id", text: cp.id }),
      el("div", { class: "cp-meta", text: `seq ${cp.seq} · ${cp.branch} · ${when(cp.timestamp)}` }),
      meta ? el("div", { class: "cp-meta", text: meta }) : null,
      el("div", { class: "cp-actions" },
        el("button", { type: "button", class: "restore", text: "Restore", onclick: () => restore(cp) }),
        el("button", { type: "button", class: "fork-at", text: "Fork here", onclick: () => fork(cp) }))));
  }
}

async function showSession(id, agent) {
  show("session-view");
  state.session = { id, agent };
  $("message").value = "";
  flash("");
  if (id === null) {  // a new chat: the session exists once the first message is sent
    $("s-title").textContent = "New chat";
    for (const [field, value] of [["s-id", "(new)"], ["s-agent", agent], ["s-user", state.me.user || "–"],
      ["s-updated", "–"], ["s-messages", "0"], ["s-tokens", "0"]]) $(field).textContent = value;
    for (const button of ["s-checkpoint", "s-fork"]) $(button).disabled = true;
    $("s-export").removeAttribute("href");
    $("s-damage").hidden = true;
    renderTimeline([]);
    $("approvals-list").replaceChildren();
    $("approvals-empty").hidden = false;
    $("transcript").replaceChildren();
    $("message").focus();
    return;
  }
  await reloadSession();
}

async function reloadSession() {
  const id = state.session.id;
  let data;
  try {
    data = await api("GET", `/v1/sessions/${encodeURIComponent(id)}${$("s-all").checked ? "?all=true" : ""}`);
  } catch (error) {
    $("s-title").textContent = error.status === 404 ? "No such session" : "Cannot read this session";
    $("s-damage").textContent = error.message;
    $("s-damage").hidden = false;
    $("transcript").replaceChildren();
    return;
  }
  const info = data.session;
  state.session.agent = info.agent;
  $("s-title").textContent = info.title || "(no message yet)";
  $("s-id").textContent = info.id;
  $("s-agent").textContent = info.agent;
  $("s-user").textContent = info.user_id || "–";
  $("s-updated").textContent = `${when(info.updated_at)} (${info.updated_at})`;
  $("s-messages").textContent = String(info.message_count);
  const usage = data.usage;
  $("s-tokens").textContent = `${usage.total_tokens.toLocaleString()} (${usage.prompt_tokens.toLocaleString()} prompt, `
    + `${usage.completion_tokens.toLocaleString()} completion, ${usage.turns} turn${usage.turns === 1 ? "" : "s"})`;
  for (const button of ["s-checkpoint", "s-fork"]) $(button).disabled = false;
  $("s-export").href = `/v1/sessions/${encodeURIComponent(id)}/export`;
  $("s-damage").hidden = true;
  renderTimeline(data.checkpoints);
  const marks = {};
  for (const cp of data.checkpoints) (marks[cp.entry_id] = marks[cp.entry_id] || []).push(cp);
  const list = $("transcript");
  list.replaceChildren();
  const mark = (cp) => el("li", { class: "checkpoint-mark", text: `— checkpoint ${cp.id} (seq ${cp.seq}) —` });
  for (const cp of marks.null || []) list.append(mark(cp));
  for (const entry of data.entries) {
    list.append(entryNode(entry));
    for (const cp of marks[entry.id] || []) list.append(mark(cp));
  }
  if (await loadApprovals()) flash("The turn waits for a tool call to be approved or denied (above).");
}

async function loadApprovals() {
  const id = state.session.id;
  const list = $("approvals-list");
  let data;
  try {
    data = await api("GET", `/v1/sessions/${encodeURIComponent(id)}/approvals`);
  } catch (error) {
    list.replaceChildren();
    $("approvals-empty").hidden = false;
    return 0;
  }
  const pending = data.data.filter((approval) => approval.status === "pending");
  list.replaceChildren();
  for (const approval of pending) {
    list.append(el("li", { "data-call": approval.call_id },
      el("span", { class: "call-text", text: `${approval.name}(${approval.arguments})  [${approval.call_id}]` }),
      el("span", { class: "decide" },
        el("button", { type: "button", class: "primary approve", text: "Approve", onclick: () => decide(approval, "approve") }),
        el("button", { type: "button", class: "deny", text: "Deny", onclick: () => decide(approval, "deny") }))));
  }
  $("approvals-empty").hidden = pending.length > 0;
  return pending.length;
}

async function decide(approval, decision) {
  if (decision === "deny" && !await confirmed(`Deny ${approval.name}(${approval.arguments})? It does not run; the `
    + "model is told it was denied and the turn goes on.")) return;
  for (const button of $("approvals-list").querySelectorAll("button")) button.disabled = true;
  flash(decision === "approve" ? "Approved: the turn goes on…" : "Denied: the turn goes on…");
  try {
    await api("POST", `/v1/sessions/${encodeURIComponent(state.session.id)}/approvals/${encodeURIComponent(approval.call_id)}`,
      { decision, by: state.me.user || "console" });
    flash("");
  } catch (error) { flash(error.message, true); }
  await reloadSession();
}

async function restore(cp) {
  if (!await confirmed(`Restore session ${state.session.id} to checkpoint ${cp.id} (seq ${cp.seq})? `
    + "What came after it leaves the history (it stays stored as an abandoned branch).")) return;
  try {
    await api("POST", `/v1/sessions/${encodeURIComponent(state.session.id)}/restore`, { checkpoint_id: cp.id });
    flash(`Restored to ${cp.id}.`);
  } catch (error) { flash(error.message, true); }
  await reloadSession();
}

async function fork(cp) {
  const at = cp ? ` as it was at checkpoint ${cp.id} (seq ${cp.seq})` : "";
  if (!await confirmed(`Copy session ${state.session.id}${at} to a new session? The original is unchanged.`)) return;
  try {
    const copy = await api("POST", `/v1/sessions/${encodeURIComponent(state.session.id)}/fork`,
      cp ? { checkpoint_id: cp.id } : {});
    location.hash = `#/session/${encodeURIComponent(copy.id)}`;
  } catch (error) { flash(error.message, true); }
}

$("s-fork").addEventListener("click", () => fork(null));
$("s-all").addEventListener("change", () => reloadSession());
$("s-checkpoint").addEventListener("click", async () => {
  try {
    const cp = await api("POST", `/v1/sessions/${encodeURIComponent(state.session.id)}/checkpoints`,
      { metadata: { by: "console" } });
    flash(`Checkpoint ${cp.id} taken.`);
  } catch (error) { flash(error.message, true); }
  await reloadSession();
});

// -- chatting -------------------------------------------------------------------------------------

function* sseEvents(buffer) {  // complete events in the buffer: [{event, data}], and what is left
  let start = 0;
  for (;;) {
    const end = buffer.text.indexOf("\n\n", start);
    if (end < 0) break;
    const block = buffer.text.slice(start, end);
    start = end + 2;
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    yield { event, data: data.join("\n") };
  }
  buffer.text = buffer.text.slice(start);
}

async function send(text) {
  const session = state.session;
  const list = $("transcript");
  list.append(entryNode({ seq: "…", type: "message", timestamp: new Date().toISOString(), data: {},
    view: { speaker: "user", text, tool_calls: [] } }));
  const answerText = el("div", { class: "text", id: "live-text" });
  const live = el("li", { class: "entry assistant live", id: "live" },
    el("div", { class: "who" }, el("span", { class: "role", text: "assistant" }),
      el("span", { class: "seq", text: "streaming…" })), answerText);
  list.append(live);
  live.scrollIntoView({ block: "end" });
  const controller = new AbortController();
  state.turn = controller;
  $("stop").disabled = false;
  $("send").disabled = true;
  flash("The agent is answering…");
  const headers = { "Content-Type": "application/json", Accept: "text/event-stream", "X-Aixgo-Events": "1",
    "X-CSRF-Token": state.me.csrf };
  if (session.id) headers["X-Session-Id"] = session.id;
  let outcome = "done";
  try {
    const answer = await fetch("/v1/chat/completions", { method: "POST", headers, signal: controller.signal,
      credentials: "same-origin",
      body: JSON.stringify({ model: session.agent, stream: true, messages: [{ role: "user", content: text }] }) });
    if (!answer.ok) {
      let body = null;
      try { body = await answer.json(); } catch (_) { body = null; }
      throw new ApiError(answer.status, body);
    }
    session.id = answer.headers.get("X-Session-Id") || session.id;
    const reader = answer.body.getReader();
    const decoder = new TextDecoder();
    const buffer = { text: "" };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer.text += decoder.decode(value, { stream: true });
      for (const item of sseEvents(buffer)) {
        if (item.data === "[DONE]") continue;
        const data = JSON.parse(item.data);
        if (item.event === "aixgo") {
          if (data.type === "tool_call") live.insertBefore(toolCallNode(data.name, data.arguments, data.id), answerText);
          else if (data.type === "tool_result") {
            live.insertBefore(el("details", { class: "call result", "data-tool-result": data.name },
              el("summary", { text: `← ${data.name}: ${data.content.split("\n")[0].slice(0, 100)}` }),
              el("pre", { text: data.content })), answerText);
          }
        } else if (data.error) {
          if (controller.stopped || data.error.code === "TurnStoppedError") { controller.stopped = true; break; }
          throw new Error(data.error.message);
        } else if (data.choices && data.choices[0] && data.choices[0].delta.content) {
          answerText.textContent += data.choices[0].delta.content;
        }
      }
    }
    flash("");
  } catch (error) {
    if (!controller.signal.aborted && !controller.stopped) {
      outcome = "failed";
      flash(error.message, true);
    }
  } finally {
    state.turn = null;
    $("stop").disabled = true;
    $("send").disabled = false;
  }
  if (controller.stopped || controller.signal.aborted) {  // however the stream ended: Stop was pressed
    outcome = "stopped";
    flash("Stopped: the turn was cancelled (it stays in the session, marked cancelled, and is not sent again).");
  }
  live.dataset.outcome = outcome;
  if (session.id && location.hash !== `#/session/${encodeURIComponent(session.id)}`) {
    history.replaceState(null, "", `#/session/${encodeURIComponent(session.id)}`);
  }
  if (session.id) await reloadSession();
  for (let tries = 0; outcome === "stopped" && tries < 40 && !lastTurnCancelled(); tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 250));  // the server records the cancelled turn
    await reloadSession();
  }
}

function lastTurnCancelled() {
  const errors = $("transcript").querySelectorAll('.entry[data-type="error"]');
  const users = $("transcript").querySelectorAll('.entry.user');
  if (!errors.length || !users.length) return false;
  const lastError = errors[errors.length - 1];
  return Number(lastError.dataset.seq) > Number(users[users.length - 1].dataset.seq);
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("message").value.trim();
  if (!text || state.turn) return;
  $("message").value = "";
  send(text);
});
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("composer").requestSubmit();
});
$("stop").addEventListener("click", async () => {
  const turn = state.turn;
  if (!turn) return;
  $("stop").disabled = true;
  turn.stopped = true;  // before asking: the stream may end (stopped) before the answer to the request comes
  if (state.session.id) {  // the server stops the turn (the answer being streamed ends), as Ctrl-C does
    try { await api("POST", `/v1/sessions/${encodeURIComponent(state.session.id)}/stop`, {}); } catch (_) { /* reported below */ }
  }
  turn.abort();
});

// -- routes ---------------------------------------------------------------------------------------

async function route() {
  if (!state.me && !await whoami()) { showSignin(); return; }
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  try {
    if (path.startsWith("/session/")) await showSession(decodeURIComponent(path.slice(9)), null);
    else if (path.startsWith("/new/")) await showSession(null, decodeURIComponent(path.slice(5)));
    else await showList(params);
  } catch (error) {
    if (error.status !== 401) flash(error.message, true);
  }
}

window.addEventListener("hashchange", route);
route();
