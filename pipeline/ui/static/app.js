// quivo-bulk ui: the little JavaScript the pages need. No library, no build step.
"use strict";

const meta = document.querySelector('meta[name="quivo-token"]');
const TOKEN = meta ? meta.content : "";
const HEADER = meta ? meta.dataset.header : "X-Quivo-Token";

function word(key, fallback) {
  try { return JSON.parse(document.body.dataset.say || "{}")[key] || fallback; } catch (e) { return fallback; }
}

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
  try { data = await response.json(); } catch (e) { data = { error: response.status === 413 ? word("too_large", "the file is larger than the upload limit") : await response.text().catch(() => "") || (word("failed", "request failed:") + " " + response.status) }; }
  if (!response.ok && !data.error) data.error = word("failed", "request failed:") + " " + response.status;
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
    if (!input.files.length) { say(word("pick", "pick a file first")); return; }
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
// from the server in pages of JSON, fetched as they scroll into view. It is an ARIA
// grid: arrow keys move between cells, Home/End within a row, PageUp/PageDown by a
// screen; Enter or F2 edits a cell (Enter saves, Escape cancels).
const ROW_PX = 28, PAGE = 200, OVERSCAN = 10;

function setupGrid() {
  const grid = document.getElementById("grid");
  if (!grid) return;
  const columns = JSON.parse(grid.dataset.columns);
  const labels = grid.dataset.labels ? JSON.parse(grid.dataset.labels) : {};
  const editable = grid.dataset.editable === "1";
  const shown = editable ? ["row", ...columns, "problem", "detail"] : columns;
  const filter = document.getElementById("errors-only");
  let total = 0, pages = new Map(), pending = new Set(), frame = 0;
  let active = { i: 0, c: editable ? 1 : 0 }, focused = false, editing = false;

  grid.setAttribute("role", "grid");
  grid.setAttribute("aria-colcount", shown.length);
  const head = document.createElement("div");
  head.className = "grid-head";
  head.setAttribute("role", "row");
  head.setAttribute("aria-rowindex", "1");
  const template = shown.map((c) => (c === "row" ? "120px" : c === "problem" || c === "error" || c === "detail" ? "minmax(220px, 2fr)" : "minmax(110px, 1fr)")).join(" ");
  head.style.gridTemplateColumns = template;
  shown.forEach((c, n) => {
    const d = document.createElement("div");
    d.textContent = labels[c] || c; d.title = d.textContent;
    d.setAttribute("role", "columnheader"); d.setAttribute("aria-colindex", n + 1);
    head.appendChild(d);
  });
  const body = document.createElement("div");
  body.className = "grid-body";
  body.setAttribute("role", "rowgroup");
  const spacer = document.createElement("div");
  spacer.className = "grid-spacer";
  spacer.setAttribute("role", "none");
  const rowsBox = document.createElement("div");
  rowsBox.className = "grid-rows";
  rowsBox.setAttribute("role", "none");
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
    grid.setAttribute("aria-rowcount", total + 1);
    pages.set(page, data.rows);
    spacer.style.height = total * ROW_PX + "px";
    schedule();
  }
  function rowAt(i) { const p = pages.get(Math.floor(i / PAGE)); return p ? p[i % PAGE] : undefined; }
  function cellsOf(row) {
    if (!editable) return row.cells;
    const number = row.hidden ? `${row.row} (${labels.hidden || "hidden"})` : row.row;
    const detail = row.code ? `${row.code}: ${row.message || ""}` : "";
    return [number, ...row.cells, row.problem || "", detail];
  }
  function isEditable(c) { return editable && c > 0 && c <= columns.length; }
  function render() {
    frame = 0;
    if (editing) return; // the cell being edited stays as it is
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_PX) - OVERSCAN);
    const last = Math.min(total, Math.ceil((body.scrollTop + body.clientHeight) / ROW_PX) + OVERSCAN);
    for (let p = Math.floor(first / PAGE); p <= Math.floor(Math.max(last - 1, 0) / PAGE); p++) load(p);
    const out = document.createDocumentFragment();
    let target = null;
    for (let i = first; i < last; i++) {
      const row = rowAt(i);
      const line = document.createElement("div");
      line.className = "grid-row " + (row ? row.status : "loading") + (row && row.hidden ? " hidden-row" : "");
      line.style.top = i * ROW_PX + "px";
      line.style.gridTemplateColumns = template;
      line.dataset.position = i;
      line.setAttribute("role", "row");
      line.setAttribute("aria-rowindex", i + 2);
      if (row) {
        line.dataset.index = row.index;
        if (row.code) line.dataset.code = row.code;
        const marked = new Set(row.marked || []);
        cellsOf(row).forEach((value, c) => {
          const cell = document.createElement("div");
          cell.textContent = value === null || value === undefined ? "" : value;
          const column = shown[c];
          cell.dataset.column = column;
          cell.setAttribute("role", "gridcell");
          cell.setAttribute("aria-colindex", c + 1);
          cell.tabIndex = i === active.i && c === active.c ? 0 : -1;
          cell.title = cell.textContent; // the whole value when the column is too narrow
          if (marked.has(column)) { cell.classList.add("bad"); cell.title = row.problem || row.message; cell.setAttribute("aria-invalid", "true"); }
          if (isEditable(c)) cell.classList.add("editable"); else if (editable) cell.setAttribute("aria-readonly", "true");
          if (cell.tabIndex === 0) target = cell;
          line.appendChild(cell);
        });
      }
      out.appendChild(line);
    }
    const keep = focused || rowsBox.contains(document.activeElement);
    rowsBox.replaceChildren(out); // may blur the old cell: focus goes to its successor
    focused = keep;
    if (keep && target) target.focus({ preventScroll: true });
    if (!target && total && !rowsBox.querySelector('[tabindex="0"]')) {
      const any = rowsBox.querySelector('[role="gridcell"]');
      if (any) any.tabIndex = 0; // one cell is always reachable by Tab
    }
    grid.dataset.total = total; // set once drawn: tests and benchmarks wait for it
  }
  function schedule() { if (!frame) frame = requestAnimationFrame(render); }
  function reset() {
    generation += 1; pages = new Map(); pending = new Set(); total = 0; active = { i: 0, c: active.c };
    delete grid.dataset.total; body.scrollTop = 0; load(0);
  }
  function moveTo(i, c) {
    active = { i: Math.max(0, Math.min(total - 1, i)), c: Math.max(0, Math.min(shown.length - 1, c)) };
    const top = active.i * ROW_PX;
    if (top < body.scrollTop) body.scrollTop = top;
    else if (top + ROW_PX > body.scrollTop + body.clientHeight) body.scrollTop = top + ROW_PX - body.clientHeight;
    focused = true;
    render();
  }
  function cellOf(el) {
    const cell = el && el.closest ? el.closest('[role="gridcell"]') : null;
    if (!cell) return null;
    return { cell, i: Number(cell.parentElement.dataset.position), c: Number(cell.getAttribute("aria-colindex")) - 1 };
  }

  function edit(cell) {
    if (!cell || !cell.classList.contains("editable") || cell.querySelector("input")) return;
    const line = cell.parentElement;
    const input = document.createElement("input");
    input.value = cell.textContent;
    input.setAttribute("aria-label", `${labels.row || "row"} ${rowAt(Number(line.dataset.position)).row}, ${cell.dataset.column}`);
    cell.textContent = "";
    cell.appendChild(input);
    editing = true;
    input.focus();
    let done = false;
    const finish = () => { editing = false; focused = true; schedule(); };
    const save = async (keep) => {
      if (done) return;
      done = true;
      if (!keep) { finish(); return; }
      const data = await post(grid.dataset.edit, { index: Number(line.dataset.index), header: cell.dataset.column, value: input.value });
      if (data.error) { say(data.error); finish(); return; }
      say("");
      const position = Number(line.dataset.position);
      const page = pages.get(Math.floor(position / PAGE));
      if (page) page[position % PAGE] = data.row;
      for (const [key, count] of Object.entries(data.counts)) {
        const el = document.querySelector(`[data-count="${key}"]`);
        if (el) el.textContent = count;
      }
      grid.dataset.edits = String(Number(grid.dataset.edits || 0) + 1);
      finish();
    };
    input.addEventListener("keydown", (k) => {
      if (k.key === "Enter") { k.preventDefault(); save(true); }
      if (k.key === "Escape") { k.preventDefault(); save(false); }
      k.stopPropagation(); // arrows move the caret while editing, not the cell
    });
    input.addEventListener("blur", () => save(true));
  }

  body.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", schedule);
  if (filter) filter.addEventListener("change", reset);
  rowsBox.addEventListener("focusin", (e) => { const at = cellOf(e.target); if (at) { active = { i: at.i, c: at.c }; focused = true; } });
  rowsBox.addEventListener("focusout", (e) => { if (!rowsBox.contains(e.relatedTarget)) focused = false; });
  rowsBox.addEventListener("click", (e) => { const at = cellOf(e.target); if (at && !editing) { active = { i: at.i, c: at.c }; at.cell.focus(); } });
  rowsBox.addEventListener("keydown", (e) => {
    const at = cellOf(e.target);
    if (!at || editing) return;
    const screen = Math.max(1, Math.floor(body.clientHeight / ROW_PX) - 1);
    const moves = {
      ArrowDown: [1, 0], ArrowUp: [-1, 0], ArrowRight: [0, 1], ArrowLeft: [0, -1],
      PageDown: [screen, 0], PageUp: [-screen, 0],
    };
    if (moves[e.key]) { e.preventDefault(); moveTo(at.i + moves[e.key][0], at.c + moves[e.key][1]); }
    else if (e.key === "Home") { e.preventDefault(); moveTo(at.i, 0); }
    else if (e.key === "End") { e.preventDefault(); moveTo(at.i, shown.length - 1); }
    else if ((e.key === "Enter" || e.key === "F2") && editable) { e.preventDefault(); edit(at.cell); }
  });
  if (editable) rowsBox.addEventListener("dblclick", (e) => { const at = cellOf(e.target); if (at) edit(at.cell); });
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
  const set = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  const source = new EventSource(box.dataset.events);
  source.onmessage = (event) => {
    const s = JSON.parse(event.data);
    if (s.total !== undefined) {
      set("done", s.done); set("total", s.total); set("good", s.good); set("bad", s.bad);
      set("rate", s.rate_per_s); set("eta", seconds(s.eta_s));
      const bar = document.getElementById("bar");
      bar.max = Math.max(s.total, 1); bar.value = s.done;
    }
    const state = document.getElementById("state");
    const words = state.dataset.words ? JSON.parse(state.dataset.words) : {};
    state.textContent = words[s.state] || s.state;
    if (s.state !== "running") {
      source.close();
      if (box.dataset.reload) { window.location.reload(); return; }
      document.getElementById("stop").hidden = true;
      const link = document.getElementById("to-results");
      if (link) { if (s.run) link.href = "/run/" + s.run; link.hidden = false; }
      if (s.error) say(s.error);
      box.dataset.finished = s.state;
    }
  };
  document.getElementById("stop").addEventListener("click", async () => {
    const data = await post(box.dataset.stop, {});
    if (data.error) say(data.error); else say(word("stopping", "stopping"), "info");
  });
}

// Times come as UTC; shown in the browser's time zone and language.
function localTimes() {
  const lang = document.documentElement.lang || undefined;
  const format = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  document.querySelectorAll("time[datetime]").forEach((t) => {
    const moment = new Date(t.getAttribute("datetime"));
    if (!isNaN(moment)) { t.title = t.textContent; t.textContent = format.format(moment); }
  });
}

function setupForms() {
  document.querySelectorAll("#delete-draft, .delete-draft, #undo-confirm").forEach((form) => {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      postAndGo(form.dataset.post, {}).then((d) => { if (d.error && button) button.disabled = false; });
    });
  });
}

function setupActions() {
  document.querySelectorAll("button[data-action]").forEach((button) => {
    button.addEventListener("click", () => { button.disabled = true; postAndGo(button.dataset.action, {}).then((d) => { if (d.error) button.disabled = false; }); });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupUpload(); setupColumns(); setupGrid(); setupHidden(); setupSend(); setupProgress(); setupActions(); setupForms(); localTimes();
});
