// The assessment's ranking chart (horizontal bars, vetoed units in red). Data comes from a
// <script type="application/json"> block: the Content-Security-Policy forbids inline code.
(function () {
  "use strict";
  var node = document.getElementById("assessment-chart-data");
  var canvas = document.getElementById("assessment-chart");
  if (!node || !canvas || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  new window.Chart(canvas, {
    type: "bar",
    data: { labels: data.labels, datasets: [{
      label: data.label, data: data.totals,
      backgroundColor: data.vetoed.map(function (v) { return v ? "#c53030" : "#1a56a0"; })
    }] },
    options: { indexAxis: "y", animation: false, responsive: true,
               scales: { x: { min: 0, max: 100 } },
               plugins: { legend: { display: false } } }
  });
}());
