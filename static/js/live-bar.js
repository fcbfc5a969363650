// The header's live row (templates/rooms/_live_bar.html): who is live now, kept up to date without a
// reload by fetching the row again every so often, and when the page comes back into view.

const bar = document.querySelector("[data-live-bar]");
if (bar) {
  const url = bar.dataset.refreshUrl;
  const every = Number(bar.dataset.refreshMs) || 30_000;
  let busy = false;

  async function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.ok) {
        const html = (await response.text()).trim();
        // Our own server's template, escaped there; replaced only when it changed, so focus stays.
        if (html !== bar.innerHTML.trim()) bar.innerHTML = html;
        bar.hidden = html === "";
      }
    } catch {
      // Offline for a moment: the next beat tries again.
    } finally {
      busy = false;
    }
  }

  setInterval(refresh, every);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
}
