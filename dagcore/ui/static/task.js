"use strict";
// A task of a run: parameters, every attempt (error, traceback, log, links), its targets.
const query = new URLSearchParams(location.search);
const runId = query.get("run"), taskId = query.get("task");

function kv(rows) {
  const table = el("table", { class: "kv" });
  for (const [key, value] of rows) {
    if (value === null || value === undefined || value === "") continue;
    table.append(el("tr", {}, el("td", {}, key), el("td", {}, value)));
  }
  return table;
}

function uriList(uris) {
  if (!uris.length) return "-";
  const list = el("ul");
  for (const uri of uris) list.append(el("li", {}, el("a", { href: lineageHref(uri) }, uri)));
  return list;
}

function attemptCard(a) {
  const card = el("div", { class: "attempt", id: "attempt-" + a.attempt, "data-status": a.status });
  card.style.borderLeftColor = colorOf(a.status);
  card.append(el("h2", {}, `Attempt ${a.attempt} `, badge(a.status)));
  // Only http(s) links: a tracking URL is whatever the task reported.
  const link = (href, text) => {
    if (!href) return null;
    if (!/^https?:\/\//i.test(href)) return text;
    return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, text);
  };
  card.append(kv([
    ["host", a.host], ["worker", a.worker], ["started", fmtTime(a.started_at)],
    ["finished", fmtTime(a.finished_at)], ["duration", fmtDuration(a.duration_seconds)],
    ["status message", a.status_message],
    ["progress", a.progress === null ? null : `${Math.round(a.progress)}%`],
    ["tracking URL", link(a.tracking_url, a.tracking_url)],
    ["Celery task", a.celery_id], ["Flower", link(a.flower_url, "open in Flower")],
    ["error", a.error_type ? `${a.error_type}: ${a.error_message || ""}` : null],
  ]));
  if (a.traceback) card.append(el("h3", {}, "Traceback"), el("pre", { class: "traceback" }, a.traceback));
  card.append(el("h3", {}, "Log"));
  card.append(a.log ? el("pre", { class: "log" }, a.log) : el("p", { class: "note log-missing" }, "No log recorded for this attempt."));
  card.append(el("h3", {}, "Read"), uriList(a.reads), el("h3", {}, "Wrote"), uriList(a.writes));
  return card;
}

async function load() {
  const data = await api("/api/task?run=" + encodeURIComponent(runId) + "&task=" + encodeURIComponent(taskId));
  const t = data.task;
  const name = `${t.family}(${Object.entries(t.params).map(([k, v]) => `${k}=${v}`).join(", ")})`;
  document.title = name + " · dagcore";
  document.getElementById("task-title").replaceChildren(name + " ", badge(t.status));
  const box = document.getElementById("task");
  const links = (ids) => (ids.length ? ids.map((id) => el("div", {}, el("a", { href: taskHref(runId, id) }, id))) : ["-"]);
  box.append(kv([
    ["task id", t.task_id], ["run", el("a", { href: "/runs/" + runId }, runId)],
    ["family", t.family], ["module", t.module],
    ["queue", t.queue], ["priority", t.priority], ["attempts", t.attempts],
    ["started", fmtTime(t.started_at)], ["finished", fmtTime(t.finished_at)],
    ["duration", fmtDuration(t.duration_seconds)],
  ]));
  box.append(el("h2", {}, "Parameters"), kv(Object.entries(t.params)));
  const upstream = el("div", {}, ...links(data.upstream)), downstream = el("div", {}, ...links(data.downstream));
  box.append(el("h2", {}, "Requires"), upstream, el("h2", {}, "Required by"), downstream);
  box.append(el("h2", {}, `Attempts (${data.attempts.length})`));
  if (!data.attempts.length) box.append(el("p", { class: "note" }, "No attempt: the task did not run in this run."));
  for (const attempt of data.attempts) box.append(attemptCard(attempt));
}
load().catch(showError);
