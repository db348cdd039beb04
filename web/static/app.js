// Live pages over the JSON API (the session cookie authenticates). Values are set as text, never as HTML.
"use strict";

const POLL_MS = 2000;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) { window.location.href = "/login"; throw new Error("logged out"); }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : {};
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function showError(id, error) {
  const node = document.getElementById(id);
  node.textContent = error ? String(error.message || error) : "";
  node.hidden = !error;
}

// -- the jobs page ------------------------------------------------------------------------------

function renderJobs(jobs) {
  const body = document.querySelector("#jobs tbody");
  body.replaceChildren(...jobs.map((job) => el("tr", { "data-job": job.job, "data-state": job.state },
    el("td", {}, el("a", { href: `/jobs/${job.job}`, text: job.job })),
    el("td", { text: job.created }),
    el("td", { text: job.style }),
    el("td", { class: `state ${job.state}`, text: job.state }),
    el("td", {}, el("progress", { max: "1", value: String(job.progress.fraction) }),
      el("span", { class: "muted", text: job.progress.current ? ` ${job.progress.current}` : "" })))));
  document.getElementById("no-jobs").hidden = jobs.length > 0;
}

async function pollJobs() {
  try { renderJobs((await api("/api/v1/jobs")).jobs); } catch (e) { /* next poll */ }
  setTimeout(pollJobs, POLL_MS);
}

function setUpNewJob(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    for (const [key, value] of [...data.entries()]) {  // empty fields keep the CLI's defaults
      if (value === "" || (value instanceof File && value.size === 0 && key !== "photos")) data.delete(key);
    }
    const button = document.getElementById("submit-job");
    button.disabled = true;
    showError("submit-error", null);
    try {
      const job = await api("/api/v1/jobs", { method: "POST", body: data });
      window.location.href = `/jobs/${job.job}`;
    } catch (e) {
      showError("submit-error", e);
      button.disabled = false;
    }
  });
}

// -- a job's page -------------------------------------------------------------------------------

function renderJob(job) {
  document.getElementById("job-state").textContent = job.state;
  document.getElementById("job-state").className = `state ${job.state}`;
  document.getElementById("job-style").textContent = job.style;
  document.getElementById("job-progress").value = job.progress.fraction;
  document.getElementById("job-current").textContent = job.progress.current ? `running: ${job.progress.current}` : "";
  document.getElementById("job-errors").replaceChildren(...job.errors.map((e) => el("li", { text: e })));
  document.getElementById("resume").hidden = !job.resumable;
  document.getElementById("stages").replaceChildren(...job.stages.map((s) => el("tr", { "data-stage": s.stage },
    el("td", { text: s.stage }), el("td", { class: `state ${s.state.replace(" ", "-")}`, text: s.state }),
    el("td", { text: s.error || "" }))));
  document.getElementById("photos").replaceChildren(...job.photos.map((p) => el("figure", { class: p.status },
    p.url ? el("img", { src: p.url, alt: `curated ${p.photo}` }) : null,
    el("figcaption", { text: `${p.photo}: ${p.status}${p.reason ? ` (${p.reason})` : ""}` }))));
}

function renderResults(results) {
  const gallery = document.getElementById("gallery");
  gallery.replaceChildren(...results.images.map((r) => el("figure", { class: r.kept ? "kept" : "dropped" },
    el("img", { src: r.url, alt: `result ${r.rank ?? ""} seed ${r.seed}`, class: "result" }),
    el("figcaption", { text: r.kept ? `#${r.rank} · score ${r.score ?? "n/a"} · seed ${r.seed}`
                                    : `dropped: ${r.reason} · seed ${r.seed}` }),
    el("a", { href: r.download, text: "download" }))));
  document.getElementById("downloads").replaceChildren(...Object.entries(results.files).map(([name, url]) =>
    el("a", { href: url, class: "download", text: name })));
  document.getElementById("no-results").hidden = results.images.length > 0;
}

async function pollJob(id, shownResults) {
  let next = shownResults;
  try {
    const job = await api(`/api/v1/jobs/${id}`);
    renderJob(job);
    if (job.results && job.state === "completed" && shownResults !== job.prefect?.flow_run_id) {
      renderResults(await api(job.results));
      next = job.prefect?.flow_run_id;
    }
  } catch (e) { /* next poll */ }
  setTimeout(() => pollJob(id, next), POLL_MS);
}

function setUpJob(section) {
  const id = section.dataset.job;
  const rerun = (body) => api(`/api/v1/jobs/${id}/rerun`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    .then(() => showError("rerun-error", null), (e) => showError("rerun-error", e));
  document.getElementById("restyle").addEventListener("submit", (event) => {
    event.preventDefault();
    rerun({ stage: "generate", set: { style: document.getElementById("restyle-style").value } });
  });
  document.getElementById("rekeep").addEventListener("submit", (event) => {
    event.preventDefault();
    rerun({ stage: "rank", set: { keep: Number(document.getElementById("rekeep-keep").value) } });
  });
  document.getElementById("resume").addEventListener("click", () =>
    api(`/api/v1/jobs/${id}/resume`, { method: "POST" }).catch((e) => showError("rerun-error", e)));
  document.getElementById("delete").addEventListener("click", async () => {
    if (!window.confirm("Delete this job (cancelling it if it runs), its photos and its results?")) return;
    await api(`/api/v1/jobs/${id}`, { method: "DELETE" });
    window.location.href = "/";
  });
  pollJob(id, null);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("new-job");
  if (form) { setUpNewJob(form); pollJobs(); }
  const job = document.getElementById("job");
  if (job) setUpJob(job);
});
