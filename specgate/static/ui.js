// The operator page: polls /ui/data every 2 s, keeps the last 10 minutes of samples in memory,
// draws requests/s, error rate and p50/p99 with uPlot, and refreshes the tables and tiles.
(function () {
  "use strict";
  const POLL_MS = 2000, KEEP = 300;
  const samples = [];  // {t, requests, errors, p50, p99}
  const series = { t: [], rps: [], errs: [], p50: [], p99: [] };
  let charts = null, polls = 0;

  function text(id, value) { const el = document.getElementById(id); if (el) el.textContent = value; }
  function fmt(v) { return v === null || v === undefined ? "-" : String(v); }

  function cell(name, value) {
    const td = document.createElement("td");
    td.dataset.field = name;
    td.textContent = value === null || value === undefined ? "-" : (typeof value === "number" && !Number.isInteger(value)) ? value.toFixed(6) : String(value);
    return td;
  }

  function rows(tbody, items, columns, keys) {
    tbody.replaceChildren(...items.map((item) => {
      const tr = document.createElement("tr");
      keys.forEach((k) => { tr.dataset[k.replace(/_(\w)/g, (_, c) => c.toUpperCase())] = item[k]; });
      columns.forEach((c) => tr.appendChild(cell(c, item[c])));
      return tr;
    }));
  }

  function chart(id, label, names, colors) {
    const el = document.getElementById(id);
    const opts = {
      width: 420, height: 180, legend: { show: true },
      scales: { x: { time: true } },
      series: [{ label: "time" }, ...names.map((n, i) => ({ label: n, stroke: colors[i], width: 2 }))],
    };
    return new uPlot(opts, [[], ...names.map(() => [])], el);
  }

  function update(data) {
    const t = data.time;
    const last = samples.length ? samples[samples.length - 1] : null;
    samples.push({ t, requests: data.requests, errors: data.errors });
    if (last && t > last.t) {
      const dr = data.requests - last.requests, de = data.errors - last.errors;
      series.t.push(t);
      series.rps.push(dr / (t - last.t));
      series.errs.push(dr > 0 ? (100 * de) / dr : 0);
      series.p50.push(data.p50_ms);
      series.p99.push(data.p99_ms);
      if (series.t.length > KEEP) Object.values(series).forEach((s) => s.shift());
      text("rps", (dr / (t - last.t)).toFixed(2));
    }
    if (samples.length > KEEP) samples.shift();
    text("requests-total", data.requests);
    text("errors-total", data.errors);
    text("error-rate", (data.error_rate * 100).toFixed(2));
    text("p50", fmt(data.p50_ms));
    text("p99", fmt(data.p99_ms));
    text("jobs-running", data.work.jobs_running);
    text("jobs-queued", data.work.jobs_queued);
    text("batches-running", data.work.batches_running);
    text("batch-pending", data.work.batch_requests_pending);
    rows(document.querySelector("#usage tbody"), data.usage_last_hour,
      ["key_id", "model", "requests", "errors", "refused", "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "count_tokens", "cost_usd"],
      ["key_id", "model"]);
    rows(document.querySelector("#providers tbody"), data.providers,
      ["provider", "requests", "share", "upstream_ok", "upstream_failed", "retries", "fallbacks", "health"], ["provider"]);
    if (!charts) {
      charts = {
        rps: chart("chart-rps", "req/s", ["req/s"], ["#2563eb"]),
        errs: chart("chart-errors", "error %", ["error %"], ["#dc2626"]),
        lat: chart("chart-latency", "ms", ["p50", "p99"], ["#059669", "#d97706"]),
      };
    }
    charts.rps.setData([series.t, series.rps]);
    charts.errs.setData([series.t, series.errs]);
    charts.lat.setData([series.t, series.p50, series.p99]);
    polls += 1;
    document.body.dataset.polls = String(polls);
  }

  async function poll() {
    try {
      const resp = await fetch(window.location.origin + "/ui/data", { credentials: "same-origin", cache: "no-store" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      update(await resp.json());
      text("status", "live · every 2 s");
    } catch (err) {
      text("status", "disconnected: " + err.message);
    }
  }

  update(JSON.parse(document.getElementById("initial").dataset.json));
  setInterval(poll, POLL_MS);
  poll();
})();
