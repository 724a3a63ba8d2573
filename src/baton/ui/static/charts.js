// Draw each figure the page carries as JSON (<script type="application/json" class="plotly-figure">)
// with the packaged Plotly: no inline script, so the page keeps a strict Content-Security-Policy.
// No mode bar: Plotly styles it through <style> elements, which that policy refuses
// (zoom by dragging, double-click to reset, click a legend entry to hide it).
(function () {
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  var figures = document.querySelectorAll("script.plotly-figure");
  var drawn = [];
  figures.forEach(function (block) {
    var figure = JSON.parse(block.textContent);
    var layout = figure.layout || {};
    if (dark) {
      layout.template = layout.template || {};
      layout.paper_bgcolor = "#0d1117";
      layout.plot_bgcolor = "#161b22";
      layout.font = Object.assign({}, layout.font, { color: "#e6edf3" });
    }
    var target = document.createElement("div");
    target.setAttribute("role", "img");
    var title = layout.title && (layout.title.text || layout.title);
    target.setAttribute("aria-label", (typeof title === "string" ? title.replace(/<[^>]*>/g, " ") : "chart"));
    block.parentNode.appendChild(target);
    drawn.push(Plotly.newPlot(target, figure.data, layout, { responsive: true, displayModeBar: false }));
  });
  Promise.all(drawn).then(function () { document.body.dataset.charts = String(drawn.length); });
})();
