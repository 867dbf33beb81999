// A finished job's counts as a bar chart: uPlot over the numbers the server put in the chart's
// data-counts-chart attribute (JSON; htmx drops a <script> data block from swapped content), the
// same numbers as the table beside it. Drawn again when htmx swaps the job in as it ends.

function color(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function draw() {
  const target = document.querySelector("[data-counts-chart]");
  if (!target || !window.uPlot) return;
  const chart = JSON.parse(target.dataset.countsChart);
  target.replaceChildren();
  const labels = chart.outcomes;
  const axis = { stroke: color("--fg"), grid: { stroke: color("--line") } };
  const options = {
    width: Math.max(240, Math.min(900, target.clientWidth)), height: 220, legend: { show: false },
    scales: { x: { time: false, range: [-0.5, labels.length - 0.5] } },
    axes: [{ ...axis, splits: () => labels.map((_, i) => i), values: (_, ticks) => ticks.map((i) => labels[i] ?? "") },
           axis],
    series: [{}, { label: chart.label, fill: color("--accent"), stroke: color("--accent"),
                   paths: window.uPlot.paths.bars({ size: [0.6, 64] }), points: { show: false } }],
  };
  new window.uPlot(options, [labels.map((_, i) => i), chart.counts], target);
}

if (document.readyState === "complete") draw();
else window.addEventListener("load", draw);
document.addEventListener("htmx:load", draw);  // new content: the job swapped in as it ended
