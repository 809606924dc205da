// quivo-bulk ui: the little JavaScript the pages need. No library, no build step.
"use strict";

const meta = document.querySelector('meta[name="quivo-token"]');
const TOKEN = meta ? meta.content : "";
const HEADER = meta ? meta.dataset.header : "X-Quivo-Token";

function say(text, kind) {
  const box = document.getElementById("message");
  if (!box) return;
  box.textContent = text;
  box.className = "message " + (kind || "error");
  box.hidden = !text;
}

// Every change is a POST with the token in a header (a cross-site form cannot send one).
async function post(url, body) {
  const headers = { [HEADER]: TOKEN, Accept: "application/json" };
  let payload = body;
  if (!(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body || {});
  }
  const response = await fetch(url, { method: "POST", headers, body: payload, credentials: "same-origin" });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: response.status === 413 ? "the file is larger than the upload limit" : await response.text().catch(() => "") || ("request failed: " + response.status) }; }
  if (!response.ok && !data.error) data.error = "request failed: " + response.status;
  return data;
}

async function postAndGo(url, body) {
  say("");
  const data = await post(url, body);
  if (data.error) { say(data.error); return data; }
  if (data.next) window.location.assign(data.next);
  return data;
}

function setupUpload() {
  const form = document.getElementById("upload");
  if (!form) return;
  const input = document.getElementById("files");
  const drop = document.getElementById("drop");
  const picked = document.getElementById("picked");
  const show = () => { picked.textContent = Array.from(input.files).map((f) => f.name).join(", "); };
  input.addEventListener("change", show);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); input.files = e.dataTransfer.files; show(); });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!input.files.length) { say("pick a file first"); return; }
    postAndGo(form.dataset.post, new FormData(form));
  });
}

function setupColumns() {
  const form = document.getElementById("columns");
  if (!form) return;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const columns = {};
    form.querySelectorAll("select.mapping").forEach((s) => { if (s.value) columns[s.dataset.header] = s.value; });
    const field = (name) => { const el = form.elements[name]; return el ? el.value : ""; };
    postAndGo(form.dataset.post, { columns, action: field("action"), address_type: field("address_type"), sheet: field("sheet") });
  });
}

// The grid: only the rows in view are in the DOM (windowed rendering); rows come
// from the server in pages of JSON, fetched as they scroll into view.
const ROW_PX = 28, PAGE = 200, OVERSCAN = 10;

function setupGrid() {
  const grid = document.getElementById("grid");
  if (!grid) return;
  const columns = JSON.parse(grid.dataset.columns);
  const editable = grid.dataset.editable === "1";
  const filter = document.getElementById("errors-only");
  let total = 0, pages = new Map(), pending = new Set(), frame = 0;

  const head = document.createElement("div");
  head.className = "grid-head";
  const template = (editable ? ["row", ...columns, "problem"] : columns).map((c) => (c === "row" ? "70px" : c === "problem" || c === "error" ? "minmax(220px, 2fr)" : "minmax(110px, 1fr)")).join(" ");
  head.style.gridTemplateColumns = template;
  (editable ? ["row", ...columns, "problem"] : columns).forEach((c) => { const d = document.createElement("div"); d.textContent = c; d.title = c; head.appendChild(d); });
  const body = document.createElement("div");
  body.className = "grid-body";
  const spacer = document.createElement("div");
  spacer.className = "grid-spacer";
  const rowsBox = document.createElement("div");
  rowsBox.className = "grid-rows";
  spacer.appendChild(rowsBox);
  body.appendChild(spacer);
  grid.append(head, body);

  const url = (offset) => `${grid.dataset.rows}?offset=${offset}&limit=${PAGE}&errors=${filter && filter.checked ? 1 : 0}`;
  let generation = 0; // a new filter starts a new generation; older answers are dropped
  async function load(page) {
    if (pages.has(page) || pending.has(page)) return;
    const asked = generation;
    pending.add(page);
    const response = await fetch(url(page * PAGE), { headers: { Accept: "application/json" } });
    const data = await response.json();
    if (asked !== generation) return;
    pending.delete(page);
    total = data.total;
    pages.set(page, data.rows);
    spacer.style.height = total * ROW_PX + "px";
    schedule();
  }
  function rowAt(i) { const p = pages.get(Math.floor(i / PAGE)); return p ? p[i % PAGE] : undefined; }
  function cellsOf(row) {
    if (!editable) return row.cells;
    return [row.hidden ? row.row + " (hidden)" : row.row, ...row.cells, row.message || (row.status === "duplicate" ? "duplicate: sent once" : "")];
  }
  function render() {
    frame = 0;
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_PX) - OVERSCAN);
    const last = Math.min(total, Math.ceil((body.scrollTop + body.clientHeight) / ROW_PX) + OVERSCAN);
    for (let p = Math.floor(first / PAGE); p <= Math.floor(Math.max(last - 1, 0) / PAGE); p++) load(p);
    const out = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const row = rowAt(i);
      const line = document.createElement("div");
      line.className = "grid-row " + (row ? row.status : "loading") + (row && row.hidden ? " hidden-row" : "");
      line.style.top = i * ROW_PX + "px";
      line.style.gridTemplateColumns = template;
      line.dataset.position = i;
      if (row) {
        line.dataset.index = row.index;
        if (row.code) line.dataset.code = row.code;
        const marked = new Set(row.marked || []);
        cellsOf(row).forEach((value, c) => {
          const cell = document.createElement("div");
          cell.textContent = value === null || value === undefined ? "" : value;
          const column = editable ? ["row", ...columns, "problem"][c] : columns[c];
          cell.dataset.column = column;
          cell.title = cell.textContent; // the whole value when the column is too narrow
          if (marked.has(column)) { cell.classList.add("bad"); cell.title = row.message; }
          if (editable && c > 0 && c <= columns.length) cell.classList.add("editable");
          line.appendChild(cell);
        });
      }
      out.appendChild(line);
    }
    rowsBox.replaceChildren(out);
    grid.dataset.total = total; // set once drawn: tests and benchmarks wait for it
  }
  function schedule() { if (!frame) frame = requestAnimationFrame(render); }
  function reset() {
    generation += 1; pages = new Map(); pending = new Set(); total = 0;
    delete grid.dataset.total; body.scrollTop = 0; load(0);
  }

  body.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", schedule);
  if (filter) filter.addEventListener("change", reset);
  if (editable) {
    rowsBox.addEventListener("dblclick", (e) => {
      const cell = e.target.closest(".editable");
      if (!cell || cell.querySelector("input")) return;
      const line = cell.parentElement;
      const input = document.createElement("input");
      input.value = cell.textContent;
      cell.textContent = "";
      cell.appendChild(input);
      input.focus();
      let done = false;
      const save = async (keep) => {
        if (done) return;
        done = true;
        if (!keep) { schedule(); return; }
        const data = await post(grid.dataset.edit, { index: Number(line.dataset.index), header: cell.dataset.column, value: input.value });
        if (data.error) { say(data.error); schedule(); return; }
        say("");
        const position = Number(line.dataset.position);
        const page = pages.get(Math.floor(position / PAGE));
        if (page) page[position % PAGE] = data.row;
        for (const [key, count] of Object.entries(data.counts)) {
          const el = document.querySelector(`[data-count="${key}"]`);
          if (el) el.textContent = count;
        }
        grid.dataset.edits = String(Number(grid.dataset.edits || 0) + 1);
        schedule();
      };
      input.addEventListener("keydown", (k) => { if (k.key === "Enter") save(true); if (k.key === "Escape") save(false); });
      input.addEventListener("blur", () => save(true));
    });
  }
  load(0);
}

function setupHidden() {
  const box = document.getElementById("hidden-rows");
  if (!box) return;
  box.querySelectorAll('input[name="skip-hidden"]').forEach((radio) => {
    radio.addEventListener("change", () => postAndGo(box.dataset.post, { skip: radio.value === "skip" }));
  });
}

function setupSend() {
  const form = document.getElementById("send");
  if (!form) return;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const confirmBox = document.getElementById("confirm");
    const body = confirmBox ? { confirm: Number(confirmBox.value) } : {};
    postAndGo(form.dataset.post, body);
  });
}

function seconds(s) {
  if (s === null || s === undefined) return "…";
  return s < 90 ? Math.round(s) + " s" : Math.round(s / 60) + " min";
}

function setupProgress() {
  const box = document.getElementById("progress");
  if (!box) return;
  const set = (id, value) => { document.getElementById(id).textContent = value; };
  const source = new EventSource(box.dataset.events);
  source.onmessage = (event) => {
    const s = JSON.parse(event.data);
    if (s.total !== undefined) {
      set("done", s.done); set("total", s.total); set("good", s.good); set("bad", s.bad);
      set("rate", s.rate_per_s); set("eta", seconds(s.eta_s));
      const bar = document.getElementById("bar");
      bar.max = Math.max(s.total, 1); bar.value = s.done;
    }
    set("state", s.state);
    if (s.state !== "running") {
      source.close();
      document.getElementById("stop").hidden = true;
      const link = document.getElementById("to-results");
      if (s.run) link.href = "/run/" + s.run;
      link.hidden = false;
      if (s.error) say(s.error);
      box.dataset.finished = s.state;
    }
  };
  document.getElementById("stop").addEventListener("click", async () => {
    const data = await post(box.dataset.stop, {});
    if (data.error) say(data.error); else say("stopping: rows not sent yet stay resumable", "info");
  });
}

function setupActions() {
  document.querySelectorAll("button[data-action]").forEach((button) => {
    button.addEventListener("click", () => { button.disabled = true; postAndGo(button.dataset.action, {}).then((d) => { if (d.error) button.disabled = false; }); });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupUpload(); setupColumns(); setupGrid(); setupHidden(); setupSend(); setupProgress(); setupActions();
});
