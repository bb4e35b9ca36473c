// Draws every element with a data-figure attribute (plotly figure JSON made on the server).
document.querySelectorAll("[data-figure]").forEach((element) => {
  const figure = JSON.parse(element.dataset.figure);
  Plotly.newPlot(element, figure.data, figure.layout, { responsive: true, displaylogo: false });
});
