// The console's one script (a module, no inline script anywhere): the chart, the copy button and the
// live parts of a page. Every page works without it.

/** Draws each canvas[data-chart] with Chart.js (served from the chart.js npm package). */
function drawCharts() {
  const Chart = globalThis.Chart;
  if (!Chart) return;
  const colours = { pending: '#8c959f', retrying: '#bf8700', succeeded: '#1a7f37', dead: '#cf222e' };
  for (const canvas of document.querySelectorAll('canvas[data-chart]')) {
    const data = JSON.parse(canvas.dataset.chart);
    for (const set of data.datasets) set.backgroundColor = colours[set.label] ?? '#0969da';
    new Chart(canvas, {
      type: 'bar',
      data,
      options: {
        animation: false,
        responsive: true,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
      },
    });
  }
}

/** A button[data-copy] copies the text of the element it names. */
function wireCopyButtons() {
  for (const button of document.querySelectorAll('button[data-copy]')) {
    button.addEventListener('click', async () => {
      const text = document.getElementById(button.dataset.copy)?.textContent ?? '';
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    });
  }
}

/** An element [data-refresh] is fetched again from the same page every 2 s and replaced. */
function refreshLiveParts() {
  const parts = document.querySelectorAll('[data-refresh]');
  if (parts.length === 0) return;
  setInterval(async () => {
    const response = await fetch(location.href, { headers: { accept: 'text/html' } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), 'text/html');
    for (const part of parts) {
      const fresh = page.getElementById(part.id);
      if (fresh && fresh.innerHTML !== part.innerHTML) part.replaceChildren(...fresh.childNodes);
    }
  }, 2_000);
}

drawCharts();
wireCopyButtons();
refreshLiveParts();
