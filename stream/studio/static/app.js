// paystream studio: one small page over the studio's JSON API (stream/studio/server.py).
"use strict";

const state = { yaml: "", original: "", samples: [], flows: [], problems: [], workers: [] };
const $ = (sel) => document.querySelector(sel);

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  return response.json();
}

function show(view) {
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === `view-${view}`));
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
}

// -- topology -------------------------------------------------------------------------
function selectFlow(name) {
  const flow = state.flows.find((f) => f.name === name);
  document.querySelectorAll("#topology .node").forEach((n) => n.classList.toggle("selected", n.dataset.flow === name));
  document.querySelectorAll("#topology .edge").forEach((e) => {
    e.classList.toggle("lit", e.dataset.from === `flow:${name}` || e.dataset.to === `flow:${name}`);
  });
  const box = $("#flow-details");
  box.replaceChildren(el("h3", `${flow.name} [${flow.kind}]`));
  for (const [label, items] of [["reads", flow.reads], ["writes", flow.writes], ["tables", flow.tables]]) {
    if (!items.length) continue;
    const list = el("ul");
    items.forEach((i) => list.append(el("li", i)));
    box.append(el("strong", label), list);
  }
  const live = $(`#live-${CSS.escape(name)}`);
  box.append(el("p", live && live.textContent ? `live: ${live.textContent}` : "live: no worker /metrics given", { class: "live-line" }));
  box.hidden = false;
}

async function selectTopic(name) {
  document.querySelectorAll("#topology .node").forEach((n) => n.classList.toggle("selected", n.dataset.topic === name));
  document.querySelectorAll("#topology .edge").forEach((e) => {
    e.classList.toggle("lit", e.dataset.from === `topic:${name}` || e.dataset.to === `topic:${name}`);
  });
  const box = $("#flow-details");
  box.replaceChildren(el("h3", `${name} [topic]: latest records`));
  box.hidden = false;
  const r = await api(`/api/records?topic=${encodeURIComponent(name)}`);
  if (!r.records) { box.append(el("p", `not read: ${r.why}`)); return; }
  const table = el("table", null, { id: "records" });
  table.append(row(["partition", "offset", "key", "mapping version", ""]));
  r.records.forEach((x) => table.append(row([x.partition, x.offset, x.key, x.mapping_version || "(none)",
    x.current ? "this mapping" : "another mapping"])));
  box.append(table, el("p", `${r.records.length} record(s); this mapping is ${r.current}`));
}

async function refreshLive() {
  if (!state.workers.length) return;
  const data = await api("/api/metrics");
  for (const [name, m] of Object.entries(data.flows)) {
    const text = $(`#live-${CSS.escape(name)}`);
    if (!text) continue;
    const rate = m.in_per_s === undefined ? `in ${m.in}` : `${m.in_per_s.toFixed(1)}/s in`;
    const lag = m.lag === undefined ? "" : ` · lag ${m.lag}`;
    text.textContent = `${rate}${lag} · DL ${m.dead_letters}`;
  }
}

// -- mapping tables -------------------------------------------------------------------
function cellInput(value, onChange, label) {
  const input = el("input", null, { value: value, "aria-label": label });
  input.addEventListener("change", () => onChange(input.value));
  return input;
}

function row(cells, attrs) {
  const tr = el("tr", null, attrs);
  for (const c of cells) {
    const td = el("td");
    if (c instanceof Node) td.append(c); else td.textContent = c;
    tr.append(td);
  }
  return tr;
}

function flagged(prefix) {
  return state.problems.some((p) => p.startsWith(prefix + ":") || p.startsWith(prefix + "."));
}

function renderTables(t) {
  $("#sf-object").textContent = t.object;
  $("#sf-extid").textContent = t.external_id;
  const fields = $("#t-fields tbody");
  fields.replaceChildren(...t.fields.map((f) => {
    const remove = el("button", "remove", { title: `remove ${f.salesforce}` });
    remove.addEventListener("click", () => edit({ op: "remove", path: f.path }));
    const where = `salesforce.fields.${f.salesforce}`;
    return row([
      f.paytrace,
      cellInput(f.canonical, (v) => edit({ op: "set", path: f.path, value: v }), `source of ${f.salesforce}`),
      cellInput(f.salesforce, (v) => edit({ op: "rename", path: f.path, value: v }), `Salesforce field ${f.salesforce}`),
      remove,
    ], { "data-field": f.salesforce, class: flagged(where) ? "flagged" : "" });
  }));
  $("#t-sagepro tbody").replaceChildren(...t.sagepro_fields.map((f) => row([f.paytrace, f.canonical, f.sagepro])));
  $("#t-statuses tbody").replaceChildren(...t.statuses.map((s) => row([
    s.canonical,
    cellInput(s.salesforce, (v) => edit({ op: "set", path: s.sf_path, value: v }), `Salesforce status for ${s.canonical}`),
    cellInput(s.sagepro, (v) => edit({ op: "set", path: s.sage_path, value: v }), `Sage Pro status for ${s.canonical}`),
  ])));
  $("#t-rules tbody").replaceChildren(...t.status_rules.map((r) => row([r.type, r.status, r.settled, r.canonical])));
  $("#t-gl tbody").replaceChildren(...t.gl.map((g) => row([
    g.type,
    cellInput(g.debit, (v) => edit({ op: "set", path: [...g.path, "debit"], value: v }), `debit for ${g.type}`),
    cellInput(g.credit, (v) => edit({ op: "set", path: [...g.path, "credit"], value: v }), `credit for ${g.type}`),
  ], { class: flagged(`sagepro.gl_accounts.${g.type}`) ? "flagged" : "" })));
  $("#t-triggers tbody").replaceChildren(...t.triggers.map((r) => row([r.kind, r.object, r.name, r.when, r.amount])));
  $("#t-custom-in tbody").replaceChildren(...t.custom_in.map((c) => row([c.name, c.field, c.pattern])));
  $("#t-custom-out tbody").replaceChildren(...t.custom_out.map((c) => row([c.field, c.template])));
}

// -- edits, diff ----------------------------------------------------------------------
function renderMapping(s) {
  state.yaml = s.yaml;
  $("#yaml").value = s.yaml;
  $("#diff").textContent = s.diff || "(no changes)";
  $("#changes").replaceChildren(...(s.changes || []).map((c) => el("li", c)));
  const errors = $("#errors");
  errors.replaceChildren(...(s.errors || []).map((e) => el("p", e, { class: "error" })));
  const version = $("#version");
  version.textContent = s.version ? `mapping ${s.version}` : "mapping invalid";
  version.classList.toggle("changed", s.version !== s.original_version);
  if (s.tables) { state.tables = s.tables; renderTables(s.tables); }
}

async function edit(op) {
  const result = await api("/api/mapping", { yaml: state.yaml, ops: op ? [op] : [] });
  if (result.edit_error) { $("#errors").replaceChildren(el("p", result.edit_error, { class: "error" })); return; }
  renderMapping(result);
}

function saveDiff() {
  const blob = new Blob([$("#diff").textContent], { type: "text/x-diff" });
  const link = el("a", null, { href: URL.createObjectURL(blob), download: "mapping.patch" });
  document.body.append(link);
  link.click();
  link.remove();
}

// -- preview --------------------------------------------------------------------------
function kv(title, object) {
  const card = el("div", null, { class: "card" });
  card.append(el("h3", title));
  const table = el("table");
  for (const [k, v] of Object.entries(object || {})) {
    table.append(row([k, typeof v === "object" && v !== null ? JSON.stringify(v) : v]));
  }
  card.append(table);
  return card;
}

function renderPreview(r) {
  const out = $("#preview-out");
  out.replaceChildren(el("p", `mapping version ${r.mapping_version || "-"}`, { class: "version-line" }));
  if (!r.ok) {
    const detail = Array.isArray(r.detail) ? r.detail.join("; ") : r.detail;
    out.append(el("p", `${r.stage}: ${r.reason || "invalid"}: ${detail}`, { class: "error", id: "preview-error" }));
    return;
  }
  if (r.salesforce && r.salesforce.record) out.append(kv(`${r.salesforce.object} upsert`, r.salesforce.record));
  if (r.sagepro && r.sagepro.postings) {
    r.sagepro.postings.forEach((p, i) => {
      out.append(kv(`Sage Pro payment ${i + 1}`, p.payment));
      if (p.journal_entry) {
        const card = el("div", null, { class: "card" });
        card.append(el("h3", `Journal entry ${p.journal_entry.reference}`));
        const table = el("table");
        table.append(row(["account", "debit", "credit"]));
        p.journal_entry.lines.forEach((l) => table.append(row([l.gl_account_id, l.debit || "", l.credit || ""])));
        card.append(table);
        out.append(card);
      }
    });
    out.append(el("p", `assumed: ${r.sagepro.assumed}`, { class: "hint" }));
  }
  if (r.sagepro && r.sagepro.ok === false) out.append(el("p", `${r.sagepro.stage}: ${r.sagepro.reason}: ${r.sagepro.detail}`, { class: "error" }));
  if (r.charge_commands) r.charge_commands.forEach((c) => {
    out.append(kv("Charge command", c.command));
    out.append(el("p", `charge agent: ${c.check}`, { class: "hint" }));
  });
  if (r.salesforce && r.salesforce.Case) {
    out.append(kv("Salesforce Case", r.salesforce.Case));
    out.append(el("p", `Payment__c status: ${r.salesforce.payment_status || "unchanged"}`));
  }
  if (r.sagepro && r.sagepro.journal_entries) r.sagepro.journal_entries.forEach((e) => {
    const card = el("div", null, { class: "card" });
    card.append(el("h3", `Journal entry ${e.reference}`));
    const table = el("table");
    table.append(row(["account", "debit", "credit"]));
    e.lines.forEach((l) => table.append(row([l.gl_account_id, l.debit || "", l.credit || ""])));
    card.append(table);
    out.append(card);
  });
}

function pickSample() {
  const sample = state.samples.find((s) => s.name === $("#sample").value);
  $("#kind").value = sample.kind;
  $("#record").value = JSON.stringify(sample.record, null, 2);
}

async function runPreview() {
  const result = await api("/api/preview", { kind: $("#kind").value, record: $("#record").value, yaml: state.yaml });
  renderPreview(result);
}

// -- checks ---------------------------------------------------------------------------
async function runChecks() {
  const out = $("#checks-out");
  out.replaceChildren(el("p", "checking…"));
  const r = await api("/api/check", { yaml: state.yaml });
  const problems = [...(r.structural || []), ...(r.org || [])];
  state.problems = problems;
  out.replaceChildren();
  if (!problems.length) out.append(el("p", "ok: the org and the books take this mapping", { class: "ok", id: "checks-ok" }));
  const list = el("ul", null, { id: "problems" });
  problems.forEach((p) => list.append(el("li", p, { class: "problem" })));
  out.append(list);
  // Field by field: every mapped field and GL account, with what the check said of it.
  const rows = [
    ...state.tables.fields.map((f) => [`Salesforce ${t_obj()}.${f.salesforce}`, `salesforce.fields.${f.salesforce}`]),
    ...state.tables.gl.map((g) => [`GL ${g.type}: Dr ${g.debit} / Cr ${g.credit}`, `sagepro.gl_accounts.${g.type}`]),
  ];
  const table = el("table", null, { id: "field-checks" });
  table.append(row(["mapped", "against the org"]));
  for (const [label, prefix] of rows) {
    const found = problems.filter((p) => p.startsWith(prefix + ":") || p.startsWith(prefix + "."));
    table.append(row([label, found.length ? found.join("; ") : (r.reached ? "ok" : "not checked")],
      { class: found.length ? "flagged" : "" }));
  }
  out.append(el("h2", "Field by field"), table);
  await edit(null);  // redraw the tables with the flagged rows
}

function t_obj() { return state.tables.object; }

// -- start ----------------------------------------------------------------------------
async function start() {
  const s = await api("/api/state");
  state.original = s.yaml;
  state.samples = s.samples;
  state.flows = s.flows;
  state.workers = s.workers;
  $("#file").textContent = s.file;
  $("#env").textContent = s.environment ? ` (environment ${s.environment})` : "";
  $("#workers").textContent = s.workers.length ? `; live figures from ${s.workers.length} worker(s)` : "";
  $("#diagram").innerHTML = s.svg;  // built server-side from the registry, every label escaped
  document.querySelectorAll("#topology .node[data-flow]").forEach((n) => {
    n.addEventListener("click", () => selectFlow(n.dataset.flow));
  });
  document.querySelectorAll("#topology .node[data-topic]").forEach((n) => {
    n.addEventListener("click", () => selectTopic(n.dataset.topic));
  });
  $("#sample").replaceChildren(...s.samples.map((x) => el("option", `${x.kind}: ${x.name}`, { value: x.name })));
  pickSample();
  renderMapping(s);
  document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));
  $("#sample").addEventListener("change", pickSample);
  $("#run-preview").addEventListener("click", runPreview);
  $("#run-checks").addEventListener("click", runChecks);
  $("#save-diff").addEventListener("click", saveDiff);
  $("#reset").addEventListener("click", () => { state.yaml = state.original; state.problems = []; edit(null); });
  $("#apply-yaml").addEventListener("click", () => { state.yaml = $("#yaml").value; edit(null); });
  $("#add-field").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.target;
    edit({ op: "add", path: ["salesforce", "fields"], key: form.key.value, value: form.value.value });
  });
  refreshLive();
  setInterval(refreshLive, 2000);
  document.body.dataset.ready = "true";
}

start();
