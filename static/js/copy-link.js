// "Copy link" buttons: <button data-copy-target="input-id">, status in [data-copy-status].
document.querySelectorAll("[data-copy-target]").forEach((button) => {
  button.addEventListener("click", () => {
    const input = document.getElementById(button.dataset.copyTarget);
    const status = document.querySelector("[data-copy-status]");
    const done = () => { if (status) status.textContent = "Link copied."; };
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, () => { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
});
