"use strict";
// The list of runs, filtered through the query string.
function countsText(counts) {
  const done = (counts.SUCCESS || 0) + (counts.DONE || 0);
  const failed = (counts.FAILED || 0) + (counts.UPSTREAM_FAILED || 0);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return `${done}/${total}` + (failed ? ` (${failed} failed)` : "");
}

async function loadRuns() {
  const form = document.getElementById("filters");
  const params = new URLSearchParams(location.search);
  for (const [key, value] of params) if (form.elements[key]) form.elements[key].value = value;
  const runs = await api("/api/runs?" + params.toString());
  const body = document.querySelector("#runs tbody");
  body.replaceChildren();
  for (const run of runs) {
    body.append(el("tr", { "data-run": run.run_id },
      el("td", {}, el("a", { href: "/runs/" + run.run_id }, run.run_id.slice(0, 12))),
      el("td", {}, badge(run.status)),
      el("td", {}, fmtTime(run.started_at)),
      el("td", {}, fmtDuration(run.duration_seconds)),
      el("td", {}, countsText(run.task_counts)),
      el("td", {}, run.root_tasks.join(", ")),
      el("td", {}, run.executor || "-"),
      el("td", {}, run.user ? `${run.user}@${run.host}` : "-")));
  }
  document.getElementById("empty").hidden = runs.length > 0;
  // While a run goes on, the list follows it.
  clearTimeout(window.runsTimer);
  if (runs.some((run) => run.status === "RUNNING")) {
    window.runsTimer = setTimeout(() => loadRuns().catch(showError), 3000);
  }
}

document.getElementById("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(event.target)) if (value) params.set(key, value);
  history.replaceState(null, "", "?" + params.toString());
  loadRuns().catch(showError);
});
loadRuns().catch(showError);
