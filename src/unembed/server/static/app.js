// The demo page: one inversion streamed as server-sent events, drawn as a token grid.
"use strict";
const $ = (id) => document.getElementById(id);
const STEP_DELAY_MS = 180;  // so a person can watch the steps of a fast model
const GUIDED = ["correct", "refine"];  // strategies that stream rounds, not steps
let examples = [];
let mode = "text";

function show(el, visible) { el.classList.toggle("hidden", !visible); }
function status(message) { $("status").textContent = message || ""; }
function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
function visible(piece) { return piece === "" ? "∅" : piece.replace(/^ /, "·"); }

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error((await r.json()).error || r.statusText);
  return r.json();
}

async function init() {
  try {
    const { models } = await getJSON("/v1/models");
    for (const m of models) $("model").add(new Option(`${m.name} (${m.dim}-d, ${m.encoder || "vectors"})`, m.name));
    const strategies = () => {  // each model offers its own (correct needs a corrector)
      const m = models.find((x) => x.name === $("model").value) || models[0];
      $("strategy").replaceChildren(...m.strategies.map((s) => new Option(GUIDED.includes(s) ? `${s} (calls the encoder)` : s, s)));
      $("strategy").value = m.sampling.strategy;
      $("steps").value = m.sampling.steps;
    };
    $("model").addEventListener("change", strategies);
    strategies();
    examples = (await getJSON("/v1/examples")).texts;
  } catch (e) { status(`Could not reach the server: ${e.message}`); }
}

function setMode(next) {
  mode = next;
  show($("text"), mode === "text"); show($("vector"), mode === "vector");
  show($("mode-text"), mode === "vector"); show($("mode-vector"), mode === "text");
}

function request() {
  const body = { model: $("model").value, strategy: $("strategy").value, steps: Number($("steps").value) };
  if (mode === "text") {
    const text = $("text").value.trim();
    if (!text) throw new Error("Type a sentence first.");
    body.text = text;
  } else {
    let vector;
    try { vector = JSON.parse($("vector").value); } catch { throw new Error("The vector is not valid JSON: paste an array of numbers."); }
    if (!Array.isArray(vector) || !vector.every((x) => typeof x === "number")) throw new Error("The vector must be a JSON array of numbers.");
    body.vector = vector;
  }
  return body;
}

// Server-sent events from a POST response: yields {event, data}.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield { event, data: JSON.parse(data) };
    }
  }
}

function drawGrid(tokens, states) {
  const grid = $("grid");
  grid.replaceChildren(...tokens.map((t, i) => {
    const cell = document.createElement("span");
    cell.className = `cell ${states[i]}`;
    cell.textContent = states[i] === "masked" ? "▒" : visible(t);
    return cell;
  }));
}

function drawHistogram(values) {
  const canvas = $("histogram"), ctx = canvas.getContext("2d");
  const bins = 40, lo = Math.min(...values), hi = Math.max(...values);
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo || 1)) * bins))]++;
  const top = Math.max(...counts), w = canvas.width / bins;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#3559d1";
  counts.forEach((c, i) => { const h = (c / top) * (canvas.height - 4); ctx.fillRect(i * w + 1, canvas.height - h, w - 2, h); });
}

// Longest common subsequence of two token lists: which tokens of each the other shares.
function shared(a, b) {
  const n = a.length, m = b.length, L = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const inA = new Array(n).fill(false), inB = new Array(m).fill(false);
  for (let i = 0, j = 0; i < n && j < m;) {
    if (a[i] === b[j]) { inA[i] = inB[j] = true; i++; j++; } else if (L[i + 1][j] >= L[i][j + 1]) i++; else j++;
  }
  return [inA, inB];
}

function spans(tokens, marks, missClass) {
  return tokens.map((t, i) => { const s = document.createElement("span"); s.className = marks[i] ? "hit" : missClass; s.textContent = t; return s; });
}

function showResult(done, start) {
  const norm = start.vector.norm.toFixed(3);
  $("norm").textContent = `${start.vector.dim}-d, norm ${norm}`;
  drawHistogram(start.vector.values);
  $("cosine").textContent = done.cosine == null ? "–" : done.cosine.toFixed(3);
  $("accuracy").textContent = done.token_accuracy == null ? "–" : `${(100 * done.token_accuracy).toFixed(1)}%`;
  if (done.reference_tokens) {
    const [inRef, inHyp] = shared(done.reference_tokens, done.tokens);
    $("original").replaceChildren(...spans(done.reference_tokens, inRef, "miss"));
    $("recovered").replaceChildren(...spans(done.tokens, inHyp, "extra"));
  } else {
    $("original").textContent = "(a pasted vector: no original text)";
    $("recovered").textContent = done.text;
  }
  $("recovered").dataset.text = done.text;
  $("warning").textContent = done.warning ? `This text: ${done.warning}.` : "";  // a script the model cannot write
  show($("warning"), Boolean(done.warning));
  show($("result"), true);
  $("result").dataset.done = "true";
}

async function invert() {
  status(""); show($("result"), false); $("result").dataset.done = "false";
  let body;
  try { body = request(); } catch (e) { status(e.message); return; }
  $("invert").disabled = true;
  try {
    const response = await fetch("/v1/invert/stream", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) {
      const retry = response.headers.get("Retry-After");
      throw new Error(((await response.json()).error || response.statusText) + (retry ? ` (retry in ${retry} s)` : ""));
    }
    let start = null;
    for await (const { event, data } of events(response)) {
      if (event === "start") {
        start = data;
        drawGrid(new Array(data.length).fill(""), new Array(data.length).fill("masked"));
        $("stepinfo").textContent = `${data.length} tokens, ${data.steps} steps`;
        $("rounds").replaceChildren();
        show($("rounds"), GUIDED.includes(data.strategy));
      } else if (event === "round") {
        const item = document.createElement("li");
        item.innerHTML = `<span class="round-score"></span> <span class="round-text"></span>`;
        // which proposal wrote the best text so far: the plain decode, a steer, the corrector's rewrite or edit, the LM
        item.querySelector(".round-score").textContent = `round ${data.round} · cosine ${data.cosine.toFixed(3)} · ${data.encoder_calls} calls · by ${data.written_by}`;
        item.querySelector(".round-text").textContent = data.text;
        $("rounds").append(item);
        $("stepinfo").textContent = `round ${data.round}: cosine ${data.cosine.toFixed(3)} after ${data.encoder_calls} encoder calls`;
      } else if (event === "step") {
        await sleep(STEP_DELAY_MS);
        drawGrid(data.tokens, data.states);
        $("stepinfo").textContent = `step ${data.step + 1} of ${start.steps}`;
      } else if (event === "done") {
        if (GUIDED.includes(start.strategy)) drawGrid(data.tokens, data.tokens.map(() => "kept"));
        showResult(data, start);
      } else if (event === "error") {
        throw new Error(data.error);
      }
    }
  } catch (e) {
    status(e.message);
  } finally {
    $("invert").disabled = false;
  }
}

$("invert").addEventListener("click", invert);
$("random").addEventListener("click", () => { setMode("text"); $("text").value = examples[Math.floor(Math.random() * examples.length)] || ""; });
$("mode-vector").addEventListener("click", () => setMode("vector"));
$("mode-text").addEventListener("click", () => setMode("text"));
$("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); invert(); } });
init();
