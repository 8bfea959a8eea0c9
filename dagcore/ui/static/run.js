"use strict";
// A run: its DAG (grouped by family when large), live status updates, timeline, task list.
const GROUP_ABOVE = 150;     // more tasks than this: one node per family until expanded
const EXPAND_LIMIT = 150;    // a larger family expands into one group per status first
const SHOW_STATUS_UP_TO = 60; // ... and a status group this small shows its tasks
const POLL_MS = 1000;
const runId = decodeURIComponent(location.pathname.split("/")[2]);
const state = { tasks: [], byId: new Map(), edges: [], expanded: new Set(), grouped: false,
  families: new Map(), cursor: null, cy: null, timelineShown: false };

function statusOfGroup(counts) {
  for (const status of STATUS_ORDER) if (counts[status]) return status;
  return "PENDING";
}

function familyLabel(name, members) {
  const counts = {};
  for (const i of members) counts[state.tasks[i][2]] = (counts[state.tasks[i][2]] || 0) + 1;
  const parts = STATUS_ORDER.filter((s) => counts[s]).map((s) => `${STATUS_LABELS[s] || s} ${counts[s]}`);
  return { counts, label: `${name} ×${members.length}\n${parts.join(", ")}` };
}

function shorten(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

function taskNode(i, id, family, status, attempts, label) {
  const text = shorten(label || id, 42) + (attempts > 1 ? ` ↻${attempts}` : "");
  return { data: { id: "t" + i, task: id, family, status, attempts, label: text,
    w: Math.max(40, text.length * 6.2 + 14), color: colorOf(status) } };
}

function statusGroups(family) {
  const groups = new Map();
  for (const i of state.families.get(family)) {
    const status = state.tasks[i][2];
    if (!groups.has(status)) groups.set(status, []);
    groups.get(status).push(i);
  }
  return groups;
}

// Where task i shows: itself, its family's node, or its family's node for its status.
function visibleId(i, groups) {
  const family = state.tasks[i][1];
  if (!state.grouped) return "t" + i;
  if (!state.expanded.has(family)) return "f:" + family;
  if (state.families.get(family).length <= EXPAND_LIMIT) return "t" + i;
  const status = state.tasks[i][2];
  const members = (groups.get(family) || statusGroups(family)).get(status);
  return members.length <= SHOW_STATUS_UP_TO ? "t" + i : `s:${family}:${status}`;
}

function elements() {
  const nodes = [], seen = new Set(), groups = new Map();
  for (const [family, members] of state.families) {
    if (state.grouped && state.expanded.has(family) && members.length > EXPAND_LIMIT) {
      const byStatus = statusGroups(family);
      groups.set(family, byStatus);
      for (const [status, inGroup] of byStatus) {
        if (inGroup.length <= SHOW_STATUS_UP_TO) {
          for (const i of inGroup) nodes.push(taskNode(i, ...state.tasks[i]));
          continue;
        }
        const label = `${family}: ${STATUS_LABELS[status] || status} ×${inGroup.length}`;
        nodes.push({ data: { id: `s:${family}:${status}`, family, group: true, expanded: true,
          size: inGroup.length, status, label, w: label.length * 6.2 + 18, color: colorOf(status) },
          classes: "group" });
      }
    } else if (!state.grouped || state.expanded.has(family)) {
      for (const i of members) {
        const [id, fam, status, attempts, label] = state.tasks[i];
        nodes.push(taskNode(i, id, fam, status, attempts, label));
      }
    } else {
      const { counts, label } = familyLabel(family, members);
      const status = statusOfGroup(counts);
      const longest = Math.max(...label.split("\n").map((line) => line.length));
      nodes.push({ data: { id: "f:" + family, family, group: true, size: members.length,
        status, label, w: longest * 6.2 + 18, color: colorOf(status) }, classes: "group" });
    }
  }
  const edges = [];
  for (const [up, down] of state.edges) {
    const a = visibleId(up, groups), b = visibleId(down, groups), key = a + ">" + b;
    if (a === b || seen.has(key)) continue;
    seen.add(key);
    edges.push({ data: { id: "e" + edges.length, source: a, target: b } });
  }
  return nodes.concat(edges);
}

function draw(focus) {
  const cy = state.cy;
  cy.startBatch();
  cy.elements().remove();
  cy.add(elements());
  cy.endBatch();
  cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 12, rankSep: 60, animate: false }).run();
  const shown = focus ? cy.nodes().filter((n) => n.data("family") === focus) : cy.nodes();
  if (shown.length > 40) {  // too many to fit legibly: zoom to a readable size on the first ones
    cy.zoom(1);
    cy.center(shown.slice(0, 20));
  }
  const note = document.getElementById("graph-note");
  note.textContent = state.grouped
    ? `${state.tasks.length} tasks in ${state.families.size} families: click a family to expand it (right click collapses it); a large family expands by status.`
    : `${state.tasks.length} tasks: click one to open it.`;
  document.getElementById("cy").dataset.nodes = String(cy.nodes().length);
}

function makeCy() {
  state.cy = cytoscape({
    container: document.getElementById("cy"),
    maxZoom: 1.5,
    style: [
      { selector: "node", style: { "background-color": "data(color)", label: "data(label)",
        shape: "round-rectangle", "font-size": 11, "text-wrap": "wrap", "text-valign": "center",
        "text-halign": "center", width: "data(w)", height: 24, "border-width": 1,
        "border-color": "#455a64", color: "#111" } },
      { selector: "node.group", style: { height: 38, "border-width": 3, "font-weight": "bold" } },
      { selector: "edge", style: { width: 1.2, "line-color": "#90a4ae", "target-arrow-color": "#90a4ae",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 } },
    ],
  });
  state.cy.on("tap", "node", (event) => {
    const data = event.target.data();
    if (data.group && data.expanded) {
      showTasksTab(data.family, data.status);
    } else if (data.group) {
      state.expanded.add(data.family); draw(data.family);
    } else {
      location.href = taskHref(runId, data.task);
    }
  });
  state.cy.on("cxttap", "node", (event) => {
    const data = event.target.data();
    if (state.expanded.delete(data.family)) draw();
  });
}

function applyTask(row) {
  const [id, family, status, attempts, label] = row;
  let i = state.byId.get(id);
  if (i === undefined) {  // a task that joined the plan later (dynamic dependencies)
    i = state.tasks.length; state.tasks.push(row); state.byId.set(id, i);
    if (!state.families.has(family)) state.families.set(family, []);
    state.families.get(family).push(i);
    if (!state.grouped) state.cy.add(taskNode(i, id, family, status, attempts, label));
    return family;
  }
  const old = state.tasks[i];
  state.tasks[i] = [id, old[1], status, attempts, old[4]];
  const node = state.cy.getElementById("t" + i);
  if (node.nonempty()) node.data(taskNode(i, id, old[1], status, attempts, old[4]).data);
  return state.tasks[i][1];
}

function refreshGroup(family) {
  if (state.expanded.has(family) && state.families.get(family).length > EXPAND_LIMIT) {
    clearTimeout(state.redraw);  // its status groups changed size: lay it out again, calmly
    state.redraw = setTimeout(() => draw(), 3000);
    return;
  }
  const node = state.cy.getElementById("f:" + family);
  if (node.empty()) return;
  const { counts, label } = familyLabel(family, state.families.get(family));
  const status = statusOfGroup(counts);
  node.data({ status, label, color: colorOf(status) });
}

function showRun(run) {
  document.getElementById("run-id").textContent = run.run_id;
  const status = document.getElementById("run-status");
  status.textContent = run.status; status.style.background = colorOf(run.status);
  status.dataset.status = run.status;
  document.getElementById("run-meta").replaceChildren(
    el("span", {}, "started " + fmtTime(run.started_at)),
    el("span", {}, "duration " + fmtDuration(run.duration_seconds)),
    el("span", {}, "executor " + (run.executor || "-")),
    el("span", {}, "by " + (run.user ? `${run.user}@${run.host}` : "-")),
    el("span", {}, "roots " + run.root_tasks.join(", ")));
}

async function poll() {
  const query = state.cursor ? "?since=" + encodeURIComponent(state.cursor) : "";
  const delta = await api(`/api/runs/${encodeURIComponent(runId)}/delta${query}`);
  const touched = new Set();
  for (const row of delta.tasks) touched.add(applyTask(row));
  if (state.grouped) for (const family of touched) refreshGroup(family);
  if (delta.cursor) state.cursor = delta.cursor;
  const status = document.getElementById("run-status");
  if (delta.status && delta.status !== status.dataset.status) {
    showRun(await api(`/api/runs/${encodeURIComponent(runId)}/summary`));
  }
  if (delta.status === "RUNNING" || delta.status === null) setTimeout(() => poll().catch(showError), POLL_MS);
  else if (state.timelineShown) drawTimeline().catch(showError);
}

function showTasksTab(family, status) {
  selectTab("tasks");
  const body = document.querySelector("#tasks tbody");
  body.replaceChildren();
  const rows = state.tasks.filter((row) => (!family || row[1] === family) && (!status || row[2] === status));
  for (const [id, , status, attempts] of rows.slice(0, 2000)) {
    body.append(el("tr", {}, el("td", {}, el("a", { href: taskHref(runId, id) }, id)),
      el("td", {}, badge(status)), el("td", {}, attempts)));
  }
  document.getElementById("tasks-note").textContent = rows.length > 2000
    ? `Showing 2000 of ${rows.length} tasks.`
    : `${rows.length} tasks` + (family ? ` of ${family}` : "") + (status ? ` (${STATUS_LABELS[status] || status})` : "");
}

function selectTab(name) {
  for (const button of document.querySelectorAll(".tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== "tab-" + name;
  if (name === "timeline") drawTimeline().catch(showError);
  if (name === "tasks" && !document.querySelector("#tasks tbody").children.length) showTasksTab(null);
  if (name === "graph") state.cy.resize();
}

async function drawTimeline() {
  state.timelineShown = true;
  const data = await api(`/api/runs/${encodeURIComponent(runId)}/timeline`);
  const box = document.getElementById("timeline");
  const bars = data.bars.filter((bar) => bar[3]);
  if (!bars.length) { box.textContent = "No attempts recorded yet."; return; }
  const now = Date.now();
  const start = Math.min(...bars.map((b) => Date.parse(b[3])));
  const end = Math.max(...bars.map((b) => (b[4] ? Date.parse(b[4]) : now)));
  const lanes = [...new Set(bars.map((b) => b[2]))].sort();
  const left = 200, width = Math.max(600, box.clientWidth - left - 20), laneH = 26;
  const span = Math.max(end - start, 1), x = (t) => left + (t - start) / span * width;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", left + width + 10);
  svg.setAttribute("height", lanes.length * laneH + 30);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node); return node;
  };
  lanes.forEach((lane, n) => add("text", { x: 4, y: n * laneH + 17 }, lane.length > 30 ? lane.slice(0, 29) + "…" : lane));
  add("text", { x: left, y: lanes.length * laneH + 20 }, fmtTime(new Date(start).toISOString()));
  add("text", { x: left + width - 160, y: lanes.length * laneH + 20 }, `+${fmtDuration(span / 1000)}`);
  // Failed and retried attempts are drawn last, so that they stay visible among thousands.
  const plain = (bar) => bar[5] === "SUCCESS" && bar[1] === 1;
  const ordered = bars.filter(plain).concat(bars.filter((bar) => !plain(bar)));
  const shown = ordered.slice(Math.max(0, ordered.length - 100000));
  if (shown.length < ordered.length) box.dataset.truncated = String(ordered.length - shown.length);
  for (const [index, attempt, lane, s, e, status] of shown) {
    const task = data.tasks[index], y = lanes.indexOf(lane) * laneH + 4;
    const x0 = x(Date.parse(s)), x1 = x(e ? Date.parse(e) : now);
    const rect = add("rect", { x: x0, y, width: Math.max(x1 - x0, 2), height: laneH - 8,
      fill: colorOf(status), class: "bar" + (attempt > 1 ? " retry" : ""), "data-task": task,
      "data-attempt": attempt, "data-status": status });
    const title = document.createElementNS(NS, "title");
    title.textContent = `${task} attempt ${attempt}: ${status} (${fmtTime(s)} – ${fmtTime(e)})`;
    rect.append(title);
    rect.addEventListener("click", () => { location.href = taskHref(runId, task); });
    if (x1 - x0 > 30) add("text", { x: x0 + 3, y: y + 13, "pointer-events": "none" }, (attempt > 1 ? `#${attempt} ` : "") + task);
  }
  box.replaceChildren(svg);
}

async function load() {
  const legend = document.getElementById("legend");
  for (const status of ["PENDING", "READY", "RUNNING", "RETRY_WAIT", "SUCCESS", "DONE", "FAILED", "UPSTREAM_FAILED", "MISSING_EXTERNAL"]) {
    const swatch = el("i"); swatch.style.background = colorOf(status);
    legend.append(el("span", {}, swatch, STATUS_LABELS[status]));
  }
  for (const button of document.querySelectorAll(".tabs button")) button.addEventListener("click", () => selectTab(button.dataset.tab));
  const graph = await api(`/api/runs/${encodeURIComponent(runId)}/graph`);
  showRun(graph.run);
  state.tasks = graph.tasks; state.edges = graph.edges; state.cursor = graph.cursor;
  state.tasks.forEach((row, i) => {
    state.byId.set(row[0], i);
    if (!state.families.has(row[1])) state.families.set(row[1], []);
    state.families.get(row[1]).push(i);
  });
  state.grouped = state.tasks.length > GROUP_ABOVE;
  makeCy(); draw();
  document.body.dataset.rendered = "1";
  if (graph.run.status === "RUNNING") setTimeout(() => poll().catch(showError), POLL_MS);
}
load().catch(showError);
