// The room form: a live character count for the title, the date field only when scheduling.
const title = document.querySelector("input[data-counter]");
const counter = title && document.querySelector(`#${title.dataset.counter} [data-count]`);
if (title && counter) {
  const update = () => { counter.textContent = title.value.length; };
  title.addEventListener("input", update);
  update();
}
const schedule = document.querySelector("[data-schedule-field]");
const radios = document.querySelectorAll('input[name="when"]');
if (schedule && radios.length) {
  const sync = () => {
    const later = document.querySelector('input[name="when"]:checked');
    schedule.hidden = !(later && later.value === "schedule");
  };
  radios.forEach((radio) => radio.addEventListener("change", sync));
  sync();
}
