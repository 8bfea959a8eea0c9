"use strict";
// Lineage of a target: which attempt wrote it from which inputs, upstream, across runs.
async function trace(uri) {
  const note = document.getElementById("lineage-note");
  const data = await api("/api/lineage?uri=" + encodeURIComponent(uri));
  const short = (text) => (text.length > 46 ? "…" + text.slice(-45) : text);
  const elements = data.nodes.map((node) => {
    const label = node.kind === "task"
      ? `${node.label}\nrun ${node.run_id.slice(0, 12)} attempt ${node.attempt}` : short(node.label);
    const longest = Math.max(...label.split("\n").map((line) => line.length));
    return { data: { ...node, uri: node.kind === "target" ? node.label : null, label,
      w: longest * 6.2 + 16, color: node.kind === "task" ? colorOf(node.status) : "#eceff1" },
      classes: node.kind };
  });
  for (const edge of data.edges) elements.push({ data: { id: edge.source + ">" + edge.target, ...edge } });
  note.textContent = data.nodes.length <= 1 && !data.edges.length
    ? `No recorded producer of ${uri}.` : `${data.nodes.filter((n) => n.kind === "task").length} producing attempts` +
      (data.truncated ? " (truncated)" : "") + ". Click a task to open it, a target to trace it.";
  const cy = cytoscape({
    container: document.getElementById("cy"), elements, maxZoom: 1.5,
    style: [
      { selector: "node", style: { label: "data(label)", "background-color": "data(color)", "font-size": 11,
        "text-wrap": "wrap", "text-valign": "center", "text-halign": "center", width: "data(w)",
        "border-width": 1, "border-color": "#455a64" } },
      { selector: "node.target", style: { shape: "rectangle", height: 22 } },
      { selector: "node.task", style: { shape: "round-rectangle", height: 36, "border-width": 2 } },
      { selector: "edge", style: { width: 1.2, "line-color": "#90a4ae", "target-arrow-color": "#90a4ae",
        "target-arrow-shape": "triangle", "curve-style": "bezier" } },
    ],
    layout: { name: "dagre", rankDir: "LR", nodeSep: 20, rankSep: 80 },
  });
  cy.on("tap", "node", (event) => {
    const node = event.target.data();
    if (node.kind === "task") location.href = taskHref(node.run_id, node.task_id);
    else location.href = lineageHref(node.uri);
  });
  document.getElementById("cy").dataset.nodes = String(cy.nodes().length);
  document.body.dataset.rendered = "1";
}

const form = document.getElementById("lineage-form");
const initial = new URLSearchParams(location.search).get("uri");
form.addEventListener("submit", (event) => {
  event.preventDefault();
  location.href = lineageHref(form.elements.uri.value);
});
if (initial) { form.elements.uri.value = initial; trace(initial).catch(showError); }
