// The page's behaviour: plain JavaScript, no build step, no library, nothing from outside.
"use strict";

let visitor = null;
let caps = {};
const maHistory = [];

async function api(path, body) {
  const options = body === undefined
    ? {}
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = { detail: `HTTP ${response.status}` };
  }
  return { ok: response.ok, status: response.status, data };
}

// What Python would print for a failed call, or FastAPI's validation complaint.
function errorText(result) {
  const detail = result.data && result.data.detail;
  if (Array.isArray(detail)) {
    return `HTTP ${result.status}: ` + detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  return detail || `HTTP ${result.status}`;
}

async function newVisitor() {
  const result = await api("/api/visitor", {});
  visitor = result.data.visitor;
}

// A call on this visitor's objects; a visitor the server has expired is replaced once.
async function objectCall(path, fields) {
  if (!visitor) await newVisitor();
  let result = await api(`/api/${path}`, { visitor, ...fields });
  if (result.status === 404 && String(result.data.detail).includes("visitor")) {
    await newVisitor();
    result = await api(`/api/${path}`, { visitor, ...fields });
  }
  return result;
}

function show(out, text, failed) {
  out.textContent = text;
  out.classList.toggle("error", Boolean(failed));
}

function append(out, line, failed) {
  const lines = out.textContent ? out.textContent.split("\n") : [];
  lines.push(line);
  show(out, lines.slice(-8).join("\n"), failed);
}

function readFields(form) {
  const fields = {};
  for (const input of form.querySelectorAll("input[name]")) {
    const raw = input.value.trim();
    if (input.hasAttribute("data-json")) {
      try {
        fields[input.name] = JSON.parse(raw);
      } catch (err) {
        throw new Error(`${input.name}: not JSON (${err.message})`);
      }
    } else if (input.type === "number" || input.hasAttribute("data-number")) {
      if (raw === "" || Number.isNaN(Number(raw))) throw new Error(`${input.name}: not a number`);
      fields[input.name] = Number(raw);
    } else if (input.hasAttribute("data-item")) {
      fields[input.name] = /^-?\d+$/.test(raw) ? Number(raw) : raw;
    } else {
      fields[input.name] = input.value;
    }
  }
  return fields;
}

function outOf(el) {
  const form = el.closest("form") || el;
  if (form.dataset && form.dataset.out) return document.getElementById(form.dataset.out);
  return el.closest("section").querySelector("pre.out");
}

function fmtTime(seconds) {
  for (const [unit, scale] of [["ns", 1e-9], ["µs", 1e-6], ["ms", 1e-3]]) {
    if (seconds < scale * 1000) return `${(seconds / scale).toPrecision(3)} ${unit}`;
  }
  return `${seconds.toPrecision(3)} s`;
}

// --- module functions -----------------------------------------------------------------

async function callFunction(form) {
  const out = outOf(form);
  let fields;
  try {
    fields = readFields(form);
  } catch (err) {
    append(out, err.message, true);
    return;
  }
  const name = form.dataset.call;
  const result = await api(`/api/${name}`, fields);
  if (result.ok) {
    append(out, `>>> rust_demo.${result.data.call}\n${result.data.repr}`, false);
  } else {
    append(out, `>>> rust_demo.${name}(...)\n${errorText(result)}`, true);
  }
}

// --- the visitor's objects ---------------------------------------------------------------

function drawMovingAverage() {
  const svg = document.getElementById("ma-chart");
  const points = maHistory.slice(-40);
  if (!points.length) {
    svg.innerHTML = "";
    return;
  }
  const all = points.flatMap((p) => [p.value, p.average]);
  let low = Math.min(...all);
  let high = Math.max(...all);
  if (high === low) {
    high += 1;
    low -= 1;
  }
  const x = (i) => 30 + (i * 550) / Math.max(1, points.length - 1);
  const y = (v) => 180 - ((v - low) * 160) / (high - low);
  const line = (key) => points.map((p, i) => `${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
  const dots = points.map((p, i) => `<circle class="value" cx="${x(i).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="4"></circle>`).join("");
  svg.innerHTML =
    `<text x="2" y="20">${high.toPrecision(4)}</text><text x="2" y="195">${low.toPrecision(4)}</text>` +
    `<polyline class="value" points="${line("value")}"></polyline>${dots}` +
    `<polyline class="avg" points="${line("average")}"></polyline>`;
}

function drawRing(state) {
  const slots = document.getElementById("rb-slots");
  slots.innerHTML = "";
  for (let i = 0; i < state.capacity; i++) {
    const slot = document.createElement("div");
    slot.className = "slot";
    if (i < state.items.length) {
      slot.textContent = JSON.stringify(state.items[i]);
      slot.classList.add("full");
      if (i === 0) slot.title = "rb[0], the oldest: pop() takes it, a push on a full buffer drops it";
      if (i === state.items.length - 1) slot.classList.add("newest");
    } else {
      slot.textContent = "·";
    }
    const label = document.createElement("small");
    label.textContent = i < state.items.length ? `[${i}]` : "";
    slot.appendChild(label);
    slots.appendChild(slot);
  }
}

async function objectAction(path, fields, out) {
  const result = await objectCall(path, fields);
  if (!result.ok) {
    append(out, `>>> ${path.replace("/", ".")}(...)\n${errorText(result)}`, true);
    return;
  }
  const state = result.data;
  append(out, `>>> ${state.call}\n${state.repr}`, false);
  if (path.startsWith("moving_average")) {
    if (path.endsWith("/new") || path.endsWith("/clear")) maHistory.length = 0;
    if (path.endsWith("/add")) maHistory.push({ value: fields.value, average: state.result });
    drawMovingAverage();
  } else if (path.startsWith("ring_buffer")) {
    drawRing(state);
  } else if (path.startsWith("counter")) {
    document.getElementById("counter-value").textContent = `c.value() == ${state.value}`;
  }
}

async function objectForm(form) {
  const out = outOf(form);
  let fields;
  try {
    fields = readFields(form);
  } catch (err) {
    append(out, err.message, true);
    return;
  }
  await objectAction(form.dataset.object, fields, out);
}

// --- timings -------------------------------------------------------------------------------

function drawRace(target, data) {
  const rows = [data.rust, ...data.peers];
  const slowest = Math.max(...rows.map((r) => r.seconds));
  const bars = rows.map((r) => {
    const ratio = r === data.rust ? "" : ` (${(r.seconds / data.rust.seconds).toFixed(1)}× Rust's time)`;
    const width = Math.max(0.5, (100 * r.seconds) / slowest).toFixed(1);
    const kind = r === data.rust ? "rust" : "python";
    return `<div class="bar-row"><span class="bar-name">${r.name}</span><span class="bar ${kind}" style="width:${width}%"></span><span class="bar-time">${fmtTime(r.seconds)}${ratio}</span></div>`;
  });
  target.innerHTML = `<p><code>${data.workload}</code>, best of several runs on the server` +
    `${data.same_result ? "; every side gives the same result" : "; RESULTS DIFFER"}</p>${bars.join("")}`;
}

async function race(form) {
  const target = document.getElementById(`race-${form.dataset.race}`);
  let fields;
  try {
    fields = readFields(form);
  } catch (err) {
    target.textContent = err.message;
    return;
  }
  target.textContent = "timing…";
  const result = await api(`/api/race/${form.dataset.race}`, fields);
  if (result.ok) drawRace(target, result.data);
  else target.textContent = errorText(result);
}

async function parallel(form) {
  const svg = document.getElementById("parallel-chart");
  let fields;
  try {
    fields = readFields(form);
  } catch (err) {
    svg.innerHTML = `<text x="10" y="20">${err.message}</text>`;
    return;
  }
  svg.innerHTML = '<text x="10" y="20">running…</text>';
  const result = await api("/api/parallelism", fields);
  if (!result.ok) {
    svg.innerHTML = "";
    document.getElementById("parallel-note").textContent = errorText(result);
    return;
  }
  const { points, rust_task: rustTask, python_task: pythonTask } = result.data;
  const slowest = Math.max(...points.flatMap((p) => [p.rust_sequential_s, p.rust_threads_s, p.python_sequential_s, p.python_threads_s]));
  const h = (s) => (150 * s) / slowest;
  let parts = "";
  points.forEach((p, i) => {
    const x0 = 40 + i * (540 / points.length);
    const bars = [
      ["rust", p.rust_sequential_s, "Rust, 1 after another"],
      ["rust threads", p.rust_threads_s, `Rust, ${p.threads} threads`],
      ["python", p.python_sequential_s, "Python, 1 after another"],
      ["python threads", p.python_threads_s, `Python, ${p.threads} threads`],
    ];
    bars.forEach(([kind, s, label], j) => {
      const x = x0 + j * 26;
      parts += `<rect class="bar ${kind}" x="${x}" y="${(180 - h(s)).toFixed(1)}" width="22" height="${h(s).toFixed(1)}"><title>${label}: ${fmtTime(s)}</title></rect>`;
      parts += `<text class="small" x="${x}" y="${(175 - h(s)).toFixed(1)}">${(s * 1000).toFixed(0)}</text>`;
    });
    const yOne = 180 - h(p.rust_one_call_s);
    parts += `<line class="one-call" x1="${x0}" x2="${x0 + 50}" y1="${yOne.toFixed(1)}" y2="${yOne.toFixed(1)}"></line>`;
    parts += `<text x="${x0}" y="200">${p.threads} task${p.threads > 1 ? "s" : ""}: Rust ${(p.rust_sequential_s / p.rust_threads_s).toFixed(2)}×, Python ${(p.python_sequential_s / p.python_threads_s).toFixed(2)}×</text>`;
  });
  svg.innerHTML = `<text x="2" y="14" class="small">ms per batch of tasks · a Rust task: ${rustTask} · a Python task: ${pythonTask}</text>` + parts;
}

async function overhead(form) {
  const target = document.getElementById("overhead-out");
  let fields;
  try {
    fields = readFields(form);
  } catch (err) {
    target.textContent = err.message;
    return;
  }
  target.textContent = "timing…";
  const result = await api("/api/overhead", fields);
  if (!result.ok) {
    target.textContent = errorText(result);
    return;
  }
  const d = result.data;
  drawRace(target, {
    workload: `${d.size.toLocaleString()} items into a full buffer of ${d.size.toLocaleString()}`,
    rust: { name: "RingBuffer.extend(items), one call", seconds: d.ring_buffer_extend_s },
    peers: [
      { name: `RingBuffer.push(item) × ${d.size}`, seconds: d.ring_buffer_push_s },
      { name: "deque.extend(items)", seconds: d.deque_extend_s },
      { name: `deque.append(item) × ${d.size}`, seconds: d.deque_append_s },
    ],
    same_result: true,
  });
}

// --- why the GIL matters ---------------------------------------------------------------------

let gilRunning = false;

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function gilRun(kind) {
  if (gilRunning) return;
  gilRunning = true;
  const clients = 4; // browsers open at most 6 connections to one server
  // ?gil_seconds=N shortens the run (the browser test uses 1).
  const seconds = Number(new URLSearchParams(location.search).get("gil_seconds")) || 5;
  const deadline = performance.now() + seconds * 1000;
  let heavyDone = 0;
  const loadPath = kind === "rust" ? "/api/count_primes" : "/api/python/count_primes";
  const loadBody = kind === "rust" ? { n: caps.max_count_primes, threads: 1 } : { n: caps.max_py_load };
  const loaders = kind === "none" ? [] : Array.from({ length: clients }, async () => {
    while (performance.now() < deadline) {
      const result = await api(loadPath, loadBody);
      if (result.ok) heavyDone++;
    }
  });
  const latencies = [];
  await new Promise((resolve) => setTimeout(resolve, 300)); // let the load start
  while (performance.now() < deadline) {
    const start = performance.now();
    await api("/api/fibonacci", { n: 40 });
    latencies.push(performance.now() - start);
  }
  await Promise.all(loaders);
  latencies.sort((a, b) => a - b);
  const row = document.createElement("tr");
  row.className = `gil-${kind}`;
  const label = { none: "none", rust: `Rust count_primes × ${clients}`, python: `pure-Python sieve × ${clients}` }[kind];
  for (const cell of [label, latencies.length, `${percentile(latencies, 0.5).toFixed(1)} ms`, `${percentile(latencies, 0.99).toFixed(1)} ms`, heavyDone]) {
    const td = document.createElement("td");
    td.textContent = cell;
    row.appendChild(td);
  }
  document.getElementById("gil-table").appendChild(row);
  gilRunning = false;
}

// --- the page ----------------------------------------------------------------------------------

async function loadSources() {
  for (const section of document.querySelectorAll("section[data-source]")) {
    const details = document.createElement("details");
    details.className = "source";
    const summary = document.createElement("summary");
    summary.textContent = "The code, as lib.rs has it now";
    details.appendChild(summary);
    section.appendChild(details);
    const items = section.dataset.source.split(" ");
    summary.textContent = `The code, as lib.rs has it now: ${items.join(", ")}`;
    details.open = true;
    for (const item of items) {
        const result = await api(`/api/source?item=${encodeURIComponent(item)}`);
        const block = document.createElement("div");
        block.className = "snippet";
        if (result.ok && result.data.found) {
          block.innerHTML = `<p class="muted">lib.rs, line ${result.data.first_line}</p>${result.data.html}`;
        } else {
          block.textContent = result.ok ? result.data.note : errorText(result);
        }
        details.appendChild(block);
    }
  }
}

async function refreshStats() {
  const result = await api("/api/stats").catch(() => null);
  if (!result || !result.ok) return;
  const s = result.data;
  document.getElementById("stats").textContent =
    `Live: ${s.requests.toLocaleString()} requests, ${s.visitors} visitors (of at most ${s.max_visitors}), ` +
    `${s.heavy_running} heavy running, ${s.heavy_waiting} waiting, up ${Math.round(s.uptime_s)} s`;
}

async function start() {
  const info = (await api("/api/info")).data;
  caps = info.caps;
  document.getElementById("build").textContent =
    `rust_demo ${info.version}, ${info.build_profile} build · Python ${info.python} · FastAPI ${info.fastapi} · ${info.cores} cores`;
  document.getElementById("version").textContent = info.version;
  document.getElementById("stack").textContent = `pydantic ${info.pydantic}, pydantic-core ${info.pydantic_core}`;
  document.getElementById("cores").textContent = info.cores;
  document.getElementById("slots").textContent = info.heavy_slots;
  for (const el of document.querySelectorAll("[data-guide]")) el.textContent = info.guide[el.dataset.guide];
  for (const el of document.querySelectorAll("[data-cap]")) el.textContent = caps[el.dataset.cap].toLocaleString();
  document.querySelector("#parallel-form input").max = caps.max_threads;
  if (info.debug_build_warning) {
    const warning = document.getElementById("warning");
    warning.textContent = info.debug_build_warning;
    warning.hidden = false;
  }
  if (info.lan) {
    document.getElementById("room").hidden = false;
    const link = document.getElementById("room-url");
    link.href = info.url;
    link.textContent = info.url;
    document.getElementById("qr").src = "/qr.svg";
  }
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (form.dataset.call) callFunction(form);
      else if (form.dataset.object) objectForm(form);
      else if (form.dataset.race) race(form);
      else if (form.id === "parallel-form") parallel(form);
      else if (form.id === "overhead-form") overhead(form);
    });
  }
  for (const button of document.querySelectorAll("button[data-simple]")) {
    button.addEventListener("click", () => objectAction(button.dataset.simple, {}, outOf(button)));
  }
  for (const kind of ["none", "rust", "python"]) {
    document.getElementById(`gil-${kind}`).addEventListener("click", () => gilRun(kind));
  }
  await loadSources();
  await newVisitor();
  document.body.dataset.ready = "1";
  refreshStats();
  setInterval(refreshStats, 3000);
}

document.addEventListener("DOMContentLoaded", start);
