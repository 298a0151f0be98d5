// Charts of the prosecutor view. Data comes from <script type="application/json"> blocks
// rendered by the server (no inline script: the Content-Security-Policy forbids it).
// Chart.js is served from /static/vendor (installed by scripts/vendor-assets.sh), never a CDN.
(function () {
  "use strict";
  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  var navKey = location.pathname === "/" ? "dashboard" : location.pathname.split("/")[1];
  if (location.search.indexOf("leads=1") >= 0) { navKey = "leads"; }
  var active = document.querySelector('[data-nav="' + navKey + '"]');
  if (active) { active.setAttribute("aria-current", "page"); active.style.fontWeight = "700"; }
  if (typeof window.Chart === "undefined") { return; }
  var labels = readJson("chart-labels") || {};
  var trend = readJson("trend-data");
  var trendCanvas = document.getElementById("trend-chart");
  if (trend && trendCanvas) {
    new window.Chart(trendCanvas, {
      type: "bar",
      data: { labels: trend.labels, datasets: [
        { label: labels.entered, data: trend.entered, backgroundColor: "#1a56a0" },
        { label: labels.late, data: trend.late, backgroundColor: "#c53030" },
        { label: labels.referrals, data: trend.referrals, backgroundColor: "#b7791f" }
      ] },
      options: { animation: false, responsive: true, plugins: { legend: { position: "bottom" } } }
    });
  }
  var card = readJson("scorecard-data");
  var entries = document.getElementById("entries-chart");
  if (card && entries) {
    new window.Chart(entries, {
      type: "bar",
      data: { labels: card.labels, datasets: [
        { label: labels.entered, data: card.entered, backgroundColor: "#1a56a0" },
        { label: labels.late, data: card.late, backgroundColor: "#c53030" },
        { label: labels.referrals, data: card.referrals, backgroundColor: "#b7791f" }
      ] },
      options: { animation: false, plugins: { legend: { position: "bottom" } } }
    });
  }
  var timeliness = document.getElementById("timeliness-chart");
  if (card && timeliness) {
    new window.Chart(timeliness, {
      type: "line",
      data: { labels: card.labels, datasets: [
        { label: labels.timeliness, data: card.timeliness, borderColor: "#2f855a", spanGaps: true }
      ] },
      options: { animation: false, scales: { y: { min: 0, max: 100 } },
                 plugins: { legend: { position: "bottom" } } }
    });
  }
}());
