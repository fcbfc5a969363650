// The data archive: follow the Celery task's progress, then show the download link.
const box = document.querySelector("[data-export]");
const POLL_MS = 1000;

async function poll() {
  try {
    const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const status = await response.json();
    const bar = box.querySelector("[data-export-progress]");
    const step = box.querySelector("[data-export-step]");
    if (bar) { bar.value = status.progress; bar.textContent = `${status.progress} %`; }
    if (step) step.textContent = status.step;
    if (status.status === "ready" || status.status === "failed") {
      window.location.reload();
      return;
    }
  } catch (e) {
    // A network blip: try again at the next tick.
  }
  window.setTimeout(poll, POLL_MS);
}

if (box && (box.dataset.status === "pending" || box.dataset.status === "building")) {
  window.setTimeout(poll, POLL_MS);
}
