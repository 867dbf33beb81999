// Analytics charts: uPlot over the numbers the server put in #analytics-data (no request of its
// own). Each [data-chart] element names its chart; the tables beside them hold the same numbers.
// Line colors: the theme's accent, then a palette readable on light and dark backgrounds.

const PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#8c8c8c"];

function color(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function draw() {
  const source = document.getElementById("analytics-data");
  if (!source || !window.uPlot) return;
  const data = JSON.parse(source.textContent);
  const axes = [{ stroke: color("--fg"), grid: { stroke: color("--line") } },
                { stroke: color("--fg"), grid: { stroke: color("--line") } }];
  for (const target of document.querySelectorAll("[data-chart]")) {
    const chart = data.charts[target.dataset.chart];
    target.replaceChildren();
    if (!chart || chart.series.length === 0) continue;
    const width = Math.max(240, Math.min(900, target.clientWidth));  // the figure's width: no sideways scroll
    const series = [{}].concat(chart.series.map((s, i) => ({
      label: s.label, stroke: i === 0 ? color("--accent") : PALETTE[i % PALETTE.length], width: 2, spanGaps: true,
    })));
    new window.uPlot({ width, height: 220, axes, series },
                     [data.x].concat(chart.series.map((s) => s.values)), target);
  }
}

if (document.readyState === "complete") draw();
else window.addEventListener("load", draw);
