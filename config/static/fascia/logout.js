// Logging out forgets what the chart screen kept on this device (unsent chart
// text), so the next person at a shared computer finds nothing of it.
document.getElementById("logout-form")?.addEventListener("submit", () => {
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith("fascia-chart-")) localStorage.removeItem(key);
  }
});
