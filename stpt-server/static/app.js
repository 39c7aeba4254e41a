// stpt pages: live badges, the live run view and the run details panel.
// Data from the server is only ever put into the page with textContent, never innerHTML.
"use strict";

const STATUSES = ["passed", "failed", "error", "warning", "cancelled", "unknown", "skipped", "running", "waiting"];
// The path prefix the server is served under (`--base-path`), "" at the root: the server
// writes it on <body> as data-base; every URL this script makes starts with it.
const BASE = (document.body && document.body.dataset.base) || "";

const FINISHED = ["passed", "failed", "error", "warning", "cancelled", "unknown", "skipped"];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function setStatus(node, status) {
  if (!node) return;
  for (const c of [...node.classList]) if (c.startsWith("s-")) node.classList.remove(c);
  node.classList.add("s-" + status);
  node.dataset.status = status;
  if (node.classList.contains("badge")) node.textContent = status;
}

// A duration as every page shows it; the server's pages write theirs with the same rule
// (pages::rendering::duration): "< 0.1 s", "0.5 s", "1 min 05 s", "2 h 03 min".
function duration(seconds) {
  if (!isFinite(seconds) || seconds < 0) return "–";
  const tenths = Math.round(seconds * 10);
  if (tenths < 1) return "< 0.1 s";
  if (tenths < 600) return Math.floor(tenths / 10) + "." + (tenths % 10) + " s";
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
  if (h > 0) return h + " h " + String(m).padStart(2, "0") + " min";
  return m + " min " + String(s).padStart(2, "0") + " s";
}

// A WebSocket that reconnects with backoff and shows its state in #conn.
function follow(path, onMessage, onOpen) {
  const indicator = document.getElementById("conn");
  let delay = 500, failures = 0;
  function show(state) {
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = state;
  }
  function open() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let socket;
    try {
      socket = new WebSocket(scheme + location.host + BASE + path);
    } catch (e) {
      retry();
      return;
    }
    socket.onopen = () => {
      delay = 500;
      failures = 0;
      show("live");
      if (onOpen) onOpen();
    };
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      onMessage(message);
    };
    socket.onclose = () => retry();
  }
  function retry() {
    failures += 1;
    show(failures > 4 || !navigator.onLine ? "offline" : "reconnecting");
    setTimeout(open, delay + Math.random() * 250);
    delay = Math.min(delay * 2, 15000);
  }
  window.addEventListener("online", () => { if (failures > 0) { delay = 500; } });
  open();
}

// --- list pages -------------------------------------------------------------------------

function machinesPage() {
  follow("/ws/machine/status", (message) => {
    const update = message.machine_id_status;
    if (!update) return;
    const row = document.querySelector('tr[data-machine-id="' + Number(update.id) + '"]');
    if (row) setStatus(row.querySelector(".badge"), update.status);
  });
}

function machinePage() {
  const heading = document.querySelector("[data-machine-id]");
  if (!heading) return;
  const id = Number(heading.dataset.machineId);
  follow("/ws/machine/" + id + "/runs", (message) => {
    const update = message.run_data;
    if (!update) return;
    const row = document.querySelector('tr[data-run-id="' + Number(update.id) + '"]');
    if (!row) return;
    setStatus(row.querySelector(".badge"), update.status);
    // An event was heard, so the run is not silent any more; the sweep closing it as stale
    // turns it unknown, and then the marks stay.
    if (update.status !== "unknown") {
      for (const mark of row.querySelectorAll(".s-stale, .stale-note")) mark.remove();
    }
  });
}

// --- test output ------------------------------------------------------------------------

// A count as people read it: "1,234".
function count(n) {
  return Number(n).toLocaleString("en-US");
}

// A size as people read it: "512 bytes", "56 KiB", "1.5 MiB" (the run page writes the same).
function size(bytes) {
  if (bytes < 1024) return bytes + " bytes";
  if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KiB";
  return (bytes / (1024 * 1024)).toFixed(1) + " MiB";
}

// The notice standing where a test's output was dropped.
function droppedText(lines, bytes) {
  return "… " + count(lines) + " lines (" + size(bytes) + ") dropped …";
}

const ANSI_SEQUENCE = /\x1b(?:\[([0-9;:?]*)[ -\/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.?)/g;

// One line of a rig's output as nodes: text only, its ANSI colour codes (SGR) turned into
// spans with classes, every other escape sequence and control character dropped.
function ansiLine(text) {
  const nodes = [];
  let fg = null, bold = false, last = 0;
  function push(part) {
    part = part.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
    if (!part) return;
    if (fg === null && !bold) { nodes.push(part); return; }
    const span = el("span", (fg === null ? "" : "ansi-" + fg) + (bold ? " ansi-bold" : ""), part);
    nodes.push(span);
  }
  for (const m of text.matchAll(ANSI_SEQUENCE)) {
    push(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[0].startsWith("\x1b[") && m[0].endsWith("m")) {
      const codes = (m[1] || "0").split(/[;:]/).map((c) => Number(c || 0));
      for (let i = 0; i < codes.length; i++) {
        const c = codes[i];
        if (c === 0) { fg = null; bold = false; }
        else if (c === 1) bold = true;
        else if (c === 22) bold = false;
        else if (c >= 30 && c <= 37) fg = c - 30;
        else if (c >= 90 && c <= 97) fg = c - 90 + 8;
        else if (c === 39) fg = null;
        else if (c === 38 || c === 48) i += codes[i + 1] === 5 ? 2 : 4; // 256 and true colours: skipped
      }
    }
  }
  push(text.slice(last));
  return nodes;
}

// One line of output as an element.
function outputLine(line) {
  const node = el("div", line.stream === "stderr" ? "line stderr" : "line");
  node.append(...ansiLine(line.text || ""));
  return node;
}

// The live page's output pane: the output of the run's running test, following the end
// until the reader scrolls up, and again once they scroll back to the bottom.
function outputPane() {
  const box = document.getElementById("output-box");
  const pane = document.getElementById("output");
  const title = document.getElementById("output-test");
  const resume = document.getElementById("output-follow");
  const MAX_LINES = 5000;
  let shown = null;      // the test id whose output is shown
  let runId = null;
  let following = true;
  let loading = null;    // frames' lines received while the stored output is read
  let offTop = 0;        // lines removed from the top of the pane to bound it

  function atBottom() {
    return pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 4;
  }
  pane.addEventListener("scroll", () => {
    following = atBottom();
    resume.hidden = following;
  });
  resume.addEventListener("click", () => {
    following = true;
    resume.hidden = true;
    pane.scrollTop = pane.scrollHeight;
  });

  function append(nodes) {
    pane.append(...nodes);
    let excess = pane.querySelectorAll(".line").length - MAX_LINES;
    if (excess > 0) {
      offTop += excess;
      for (const line of [...pane.querySelectorAll(".line")].slice(0, excess)) line.remove();
      let note = pane.querySelector(".off-top");
      if (!note) { note = el("div", "notice off-top"); pane.prepend(note); }
      note.textContent = "… " + count(offTop) + " earlier lines are on the run page …";
    }
    if (following) pane.scrollTop = pane.scrollHeight;
  }

  // Reads the test's stored output and shows it, then what arrived meanwhile (without the
  // lines the stored output already had).
  let loads = 0;
  async function load(testId, name) {
    const generation = ++loads;
    shown = testId;
    offTop = 0;
    title.textContent = name || "";
    box.hidden = false;
    loading = [];
    let log = null;
    try {
      const response = await fetch("/api/v1/tests/" + Number(testId) + "/output", { cache: "no-store" });
      if (response.ok) log = await response.json();
    } catch (e) { /* shown from the live lines */ }
    // A later read (another test, or the same one again) supersedes this one.
    if (generation !== loads) return;
    const arrived = loading || [];
    loading = null;
    pane.replaceChildren();
    const nodes = [];
    let stored = [];
    if (log) {
      for (const line of log.head) nodes.push(outputLine(line));
      if (log.dropped_lines > 0 || log.tail.length > 0) {
        nodes.push(el("div", "notice dropped", droppedText(log.dropped_lines, log.dropped_bytes)));
      }
      for (const line of log.tail) nodes.push(outputLine(line));
      stored = log.tail.length ? log.tail : log.head;
    }
    nodes.push(...fresh(stored, arrived).map(outputLine));
    append(nodes);
  }

  // The lines of `arrived` the stored output does not end with already.
  function fresh(stored, arrived) {
    for (let k = Math.min(stored.length, arrived.length); k > 0; k--) {
      let same = true;
      for (let i = 0; i < k && same; i++) same = stored[stored.length - k + i].text === arrived[i].text;
      if (same) return arrived.slice(k);
    }
    return arrived;
  }

  function testName(run, testId) {
    for (const scenario of run.scenarios) {
      for (const test of scenario.tests) if (test.pk === testId) return test.file_name;
    }
    return "";
  }

  function running(run) {
    for (const scenario of run.scenarios) {
      for (const test of scenario.tests) if (test.status === "running") return test.pk;
    }
    return null;
  }

  let run = null;
  return {
    // A new state of the machine's newest run: a test that starts running takes the pane.
    update(current) {
      run = current;
      if (!run) return;
      if (run.pk !== runId) {
        runId = run.pk;
        shown = null;
        pane.replaceChildren();
        box.hidden = true;
      }
      const now = running(run);
      if (now !== null && now !== shown) load(now, testName(run, now));
    },
    // A batch of output from the socket.
    message(message) {
      if (message.output_skipped) {
        if (shown !== null && run) load(shown, testName(run, shown));
        return;
      }
      const batch = message.test_output;
      if (!batch || !run || batch.run_id !== run.pk) return;
      if (batch.test_id !== shown) {
        // Late lines of a test that stopped do not take the pane from the running one.
        const now = running(run);
        if (shown !== null && now === shown) return;
        load(batch.test_id, testName(run, batch.test_id));
        return;
      }
      if (loading) { loading.push(...batch.lines); return; }
      append(batch.lines.map(outputLine));
    },
    // After a reconnect: read again what may have been missed.
    reread() {
      if (shown !== null && run) load(shown, testName(run, shown));
    },
  };
}

// --- the live run -----------------------------------------------------------------------

function livePage() {
  const root = document.getElementById("live");
  const machine = Number(root.dataset.machineId);
  let data = null;      // machine_last_data body
  const output = outputPane();
  let timing = null;    // /page_api/live timing of data's run
  let skew = 0;         // server clock minus browser clock, in ms
  const serverNow = () => Date.now() + skew;

  async function readTiming() {
    const response = await fetch(BASE + "/page_api/live/" + machine, { cache: "no-store" });
    if (!response.ok) return;
    const body = await response.json();
    if (body.timing) skew = body.timing.now_ms - Date.now();
    timing = body.timing;
    apply(body.machine_data);
  }

  async function reread() {
    // After a reconnect, read the state again so nothing missed stays missing.
    try {
      const response = await fetch(BASE + "/tm_api/machine_last_data/" + machine, { cache: "no-store" });
      if (response.ok) apply(await response.json());
      await readTiming();
    } catch (e) { /* the socket's backoff retries */ }
  }

  function apply(machineData) {
    data = machineData;
    const run = data && data.last_master_scenario;
    if (run && (!timing || timing.run !== run.pk)) {
      // A new run started on the rig: switch to it and fetch its estimates.
      timing = { run: run.pk, started_ms: null, stopped_ms: null, tests: {} };
      readTiming();
    }
    if (run && timing) noteTimes(run);
    render();
    output.update(run || null);
  }

  // Times the pushed shape does not carry are noted as the changes arrive.
  let refresh = null;
  function noteTimes(run) {
    const now = serverNow();
    const known = JSON.stringify(timing.tests);
    for (const scenario of run.scenarios) {
      for (const test of scenario.tests) {
        const t = timing.tests[test.pk] || (timing.tests[test.pk] = {});
        if (test.status === "running" && !t.started_ms) t.started_ms = now;
        if (FINISHED.includes(test.status) && t.started_ms && !t.stopped_ms) t.stopped_ms = now;
        if (test.status !== "waiting" && !timing.started_ms) timing.started_ms = now;
      }
    }
    const finished = !["running", "waiting"].includes(run.status);
    if (finished && timing.started_ms && !timing.stopped_ms) timing.stopped_ms = now;
    if (!finished) timing.stopped_ms = null;
    // Guessed from the arrival time: ask the server for the recorded times shortly.
    if (JSON.stringify(timing.tests) !== known && !refresh) {
      refresh = setTimeout(() => { refresh = null; readTiming(); }, 400);
    }
  }

  function render() {
    const tree = document.getElementById("tree");
    const run = data && data.last_master_scenario;
    if (!run) {
      tree.replaceChildren(el("p", "card empty", "This machine has no run yet. The view switches to it as soon as one starts."));
      return;
    }
    document.getElementById("run-name").textContent = run.file_name;
    setStatus(document.getElementById("run-status"), run.status);
    const link = document.getElementById("run-link");
    link.textContent = "#" + run.pk;
    link.href = BASE + "/machine/run_data/" + run.pk;
    // Stale is the server's judgement (its clock and limit), read with the timing.
    const stale = Boolean(timing && timing.run === run.pk && timing.stale);
    document.getElementById("run-stale").hidden = !stale;
    const staleNote = document.getElementById("run-stale-note");
    staleNote.hidden = !stale;
    staleNote.textContent = stale ? (timing.stale_note || "") : "";

    const stats = run.tests_statistics || {};
    const total = run.tests_count || 0;
    const finished = FINISHED.reduce((n, s) => n + (stats[s] || 0), 0);
    document.getElementById("progress-text").textContent = finished + " / " + total;
    const bar = document.getElementById("progress");
    bar.setAttribute("aria-valuenow", total ? Math.round((finished * 100) / total) : 0);
    bar.replaceChildren(...STATUSES.filter((s) => s !== "waiting" && stats[s]).map((s) => {
      const part = el("span", "s-" + s);
      part.style.width = (stats[s] * 100) / total + "%";
      part.title = stats[s] + " " + s;
      return part;
    }));
    document.getElementById("counts").replaceChildren(...STATUSES.filter((s) => stats[s]).map((s) => {
      const chip = el("span", "chip s-" + s);
      chip.dataset.status = s;
      chip.append(el("b", null, stats[s]), " " + s);
      return chip;
    }));

    tree.replaceChildren(...run.scenarios.map((scenario) => {
      const box = el("div", "scenario card");
      box.dataset.scenarioPk = scenario.pk;
      const title = el("div", "scenario-title");
      title.append(el("span", "dot s-" + scenario.status), el("span", "name", scenario.file_name),
        el("span", "badge s-" + scenario.status, scenario.status));
      const list = el("ul", "tests");
      for (const test of scenario.tests) {
        const item = el("li");
        item.dataset.testPk = test.pk;
        item.dataset.status = test.status;
        if (test.status === "running") item.classList.add("is-running");
        const row = el("a", "test-row");
        row.href = BASE + "/machine/run_data/" + run.pk + "?test=" + test.pk;
        const t = (timing && timing.tests[test.pk]) || {};
        const time = el("span", "muted small time");
        time.dataset.pk = test.pk;
        row.append(el("span", "dot s-" + test.status), el("span", "name", test.file_name), time);
        const history = el("a", "small history", "history");
        history.href = BASE + "/test/" + Number(test.pk) + "/history";
        item.append(row, history);
        list.append(item);
        fillTime(time, test, t);
      }
      box.append(title, list);
      return box;
    }));
    tick();
  }

  // A test's time: its duration once finished; while it runs, the time so far against what
  // it usually takes (an estimate under a tenth of a second is said so, not rounded to 0).
  function fillTime(node, test, t) {
    const expected = typeof t.expected_s === "number" ? t.expected_s : null;
    const usual = expected === null ? "" : "usually " + duration(expected);
    if (FINISHED.includes(test.status) && typeof t.duration_s === "number") {
      node.textContent = duration(t.duration_s);
    } else if (FINISHED.includes(test.status) && t.started_ms && t.stopped_ms) {
      node.textContent = duration((t.stopped_ms - t.started_ms) / 1000);
    } else if (test.status === "running" && t.started_ms) {
      const ran = (serverNow() - t.started_ms) / 1000;
      if (expected === null) node.textContent = duration(ran);
      else if (ran <= expected && expected >= 0.05) node.textContent = duration(ran) + " of ~" + duration(expected);
      else node.textContent = duration(ran) + " · " + usual;
    } else if (test.status === "waiting" && expected !== null) {
      node.textContent = usual;
    } else {
      node.textContent = "";
    }
  }

  // The time left: what the ongoing tests usually take, less what the running one has run.
  // It is a lower bound ("≥") when some test has no history or one runs past its estimate,
  // and never claims "~0 s" while tests remain.
  function timeLeft(run, now) {
    let left = 0, known = 0, unknown = 0, over = false;
    for (const scenario of run.scenarios) {
      for (const test of scenario.tests) {
        if (test.status !== "waiting" && test.status !== "running") continue;
        const t = timing.tests[test.pk] || {};
        if (typeof t.expected_s !== "number") { unknown += 1; continue; }
        known += 1;
        const done = test.status === "running" && t.started_ms ? (now - t.started_ms) / 1000 : 0;
        if (done > t.expected_s) over = true;
        left += Math.max(0, t.expected_s - done);
      }
    }
    if (known === 0 && unknown === 0) return "done";
    if (known === 0) return "no history yet";
    const unsure = unknown > 0 || over;
    if (left >= 1) return (unsure ? "≥ " : "~") + duration(left);
    if (!unsure) return "under a second";
    return over ? "past the estimate" : "not known yet";
  }

  function tick() {
    const run = data && data.last_master_scenario;
    if (!run || !timing) return;
    const now = serverNow();
    const elapsed = document.getElementById("elapsed");
    elapsed.textContent = timing.started_ms
      ? duration(((timing.stopped_ms || now) - timing.started_ms) / 1000) : "not started";
    for (const scenario of run.scenarios) {
      for (const test of scenario.tests) {
        if (test.status !== "running") continue;
        const node = document.querySelector('.time[data-pk="' + Number(test.pk) + '"]');
        if (node) fillTime(node, test, timing.tests[test.pk] || {});
      }
    }
    document.getElementById("eta").textContent = timeLeft(run, now);
  }

  setInterval(tick, 1000);
  // A silent run turns stale without any event to announce it: ask again now and then.
  setInterval(() => { if (document.visibilityState === "visible") readTiming().catch(() => {}); }, 60000);
  readTiming().finally(() => {
    follow("/ws/machine/" + machine + "/last", (message) => {
      if (message.machine_data) apply(message.machine_data);
    }, reread);
    follow("/ws/machine/" + machine + "/output", output.message, output.reread);
  });
}

// --- one run ----------------------------------------------------------------------------

const KEYWORDS = new Set(("False None True and as assert async await break class continue def del elif else " +
  "except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield " +
  "const let var function new this typeof").split(" "));
const TOKENS = /(#[^\n]*|\/\/[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|\b(\d+(?:\.\d+)?)\b|\b([A-Za-z_]\w*)\b(\s*\()?/g;

// A tiny highlighter for Python-like scripts: comments, strings, numbers, keywords, calls.
function highlight(target, source) {
  target.replaceChildren();
  let last = 0;
  for (const m of source.matchAll(TOKENS)) {
    if (m.index > last) target.append(source.slice(last, m.index));
    let cls = null, text = m[0];
    if (m[1]) cls = "tok-com";
    else if (m[2]) cls = "tok-str";
    else if (m[3]) cls = "tok-num";
    else if (m[4]) {
      text = m[4];
      cls = KEYWORDS.has(m[4]) ? "tok-kw" : (m[5] ? "tok-fn" : null);
    }
    target.append(cls ? el("span", cls, text) : text);
    if (m[4] && m[5]) target.append(m[5]);
    last = m.index + m[0].length;
  }
  if (last < source.length) target.append(source.slice(last));
}

function runPage() {
  const panel = document.getElementById("details");
  const split = document.querySelector(".split");
  let selected = null;
  async function open(button) {
    if (selected) selected.classList.remove("selected");
    selected = button;
    button.classList.add("selected");
    const response = await fetch(BASE + "/page_api/node/" + encodeURIComponent(button.dataset.kind) + "/" +
      Number(button.dataset.id), { cache: "no-store" });
    if (!response.ok) return;
    const node = await response.json();
    document.getElementById("d-name").textContent = node.file_name;
    document.getElementById("d-kind").textContent = node.kind;
    setStatus(document.getElementById("d-status"), node.status);
    document.getElementById("d-path").textContent = node.file_path;
    document.getElementById("d-start").textContent = node.timestamp_start || "–";
    document.getElementById("d-stop").textContent = node.timestamp_stop || "–";
    document.getElementById("d-duration").textContent = node.duration || "–";
    const hasMessage = !!node.message;
    document.getElementById("d-message-box").hidden = !hasMessage;
    const message = document.getElementById("d-message");
    message.textContent = node.message || "";
    setStatus(message, node.status);
    highlight(document.getElementById("d-script"), node.script || "");
    panel.hidden = false;
    split.classList.add("open");
    if (window.matchMedia("(max-width: 720px)").matches) panel.scrollIntoView({ behavior: "smooth" });
  }
  document.querySelectorAll("button.node").forEach((b) => b.addEventListener("click", () => open(b)));
  document.getElementById("d-close").addEventListener("click", () => {
    panel.hidden = true;
    split.classList.remove("open");
  });
  const wanted = new URLSearchParams(location.search).get("test");
  if (wanted) {
    const button = document.querySelector('button.node[data-kind="test"][data-id="' + Number(wanted) + '"]');
    if (button) open(button);
  }
}

// --- start ------------------------------------------------------------------------------

document.querySelectorAll("select[data-autosubmit]").forEach((select) =>
  select.addEventListener("change", () => select.form.submit()));

({ machines: machinesPage, machine: machinePage, live: livePage, run: runPage }[document.body.dataset.page] || (() => {}))();
