"use strict";
// Shared by every page: status colours, fetching the API, small formatting helpers.
const STATUS_COLORS = {
  PENDING: "#b0bec5", READY: "#81d4fa", RUNNING: "#1e88e5", RETRY_WAIT: "#ffb74d",
  SUCCESS: "#43a047", DONE: "#a5d6a7", FAILED: "#e53935", UPSTREAM_FAILED: "#8d6e63",
  MISSING_EXTERNAL: "#ab47bc", DISABLED: "#616161", CANCELLED: "#424242",
  TIMEOUT: "#e53935", LOST: "#ff7043", YIELDED: "#9ccc65",
  // run statuses
  SUCCESS_WITH_RETRY: "#7cb342", FAILED_AND_SCHEDULING_FAILED: "#e53935",
  SCHEDULING_FAILED: "#c62828", NOT_RUN: "#78909c", MISSING_EXT: "#ab47bc",
};
const STATUS_LABELS = {
  PENDING: "pending", READY: "ready", RUNNING: "running", RETRY_WAIT: "retry wait",
  SUCCESS: "done", DONE: "skipped (already complete)", FAILED: "failed",
  UPSTREAM_FAILED: "upstream failed", MISSING_EXTERNAL: "missing external",
  DISABLED: "disabled", CANCELLED: "cancelled",
};
// The status a group of tasks shows: the most urgent one it holds.
const STATUS_ORDER = ["FAILED", "UPSTREAM_FAILED", "RUNNING", "RETRY_WAIT", "READY", "PENDING",
  "MISSING_EXTERNAL", "CANCELLED", "DISABLED", "SUCCESS", "DONE"];

function colorOf(status) { return STATUS_COLORS[status] || "#90a4ae"; }

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) throw new Error(path + ": " + response.status + " " + response.statusText);
  return response.json();
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function badge(status) {
  const node = el("span", { class: "badge", "data-status": status }, status);
  node.style.background = colorOf(status);
  return node;
}

function fmtTime(iso) { return iso ? iso.replace("T", " ").slice(0, 19) : "-"; }

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 60) return seconds.toFixed(2) + "s";
  const whole = Math.floor(seconds), h = Math.floor(whole / 3600), m = Math.floor(whole % 3600 / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}h ${String(m).padStart(2, "0")}m ${s}s` : `${m}m ${s}s`;
}

function taskHref(runId, taskId) {
  return "/task?run=" + encodeURIComponent(runId) + "&task=" + encodeURIComponent(taskId);
}

function lineageHref(uri) { return "/lineage?uri=" + encodeURIComponent(uri); }

function showError(error) {
  const main = document.getElementById("main");
  main.prepend(el("p", { class: "note", id: "error" }, "Error: " + error.message));
}

if (window.cytoscape && window.cytoscapeDagre) cytoscape.use(cytoscapeDagre);
