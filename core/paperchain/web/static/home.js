// Home's charts: uPlot over the numbers the server put in #chart-data (no request of its own).
// Colors come from the theme's CSS variables, so the charts follow light and dark.

function color(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function draw() {
  const source = document.getElementById("chart-data");
  if (!source || !window.uPlot) return;
  const data = JSON.parse(source.textContent);
  const width = Math.max(280, Math.min(900, document.getElementById("main").clientWidth - 32));
  const axes = [{ stroke: color("--fg"), grid: { stroke: color("--line") } },
                { stroke: color("--fg"), grid: { stroke: color("--line") } }];
  const throughput = document.getElementById("chart-throughput");
  const steps = document.getElementById("chart-steps");
  throughput.replaceChildren();
  steps.replaceChildren();
  new window.uPlot({
    width, height: 200, axes,
    series: [{}, { label: data.labels.succeeded, stroke: color("--ok"), width: 2 },
                 { label: data.labels.failed, stroke: color("--danger"), width: 2 }],
  }, [data.x, data.succeeded, data.failed], throughput);
  new window.uPlot({
    width, height: 200, axes,
    series: [{}, { label: data.labels.step_seconds, stroke: color("--accent"), width: 2, spanGaps: true }],
  }, [data.x, data.step_seconds], steps);
}

if (document.readyState === "complete") draw();
else window.addEventListener("load", draw);
