// Draws every element with a data-figure attribute (plotly figure JSON made on the server).
// Map outlines come from this portal, not a CDN: the portal must work without internet.
(function () {
  const topojsonURL = document.currentScript.dataset.topojson;
  document.querySelectorAll("[data-figure]").forEach((element) => {
    const figure = JSON.parse(element.dataset.figure);
    Plotly.newPlot(element, figure.data, figure.layout, { responsive: true, displaylogo: false, topojsonURL });
  });
})();
