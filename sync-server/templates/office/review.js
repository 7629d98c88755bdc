// The visit page's review form, for a reviewer with many visits to check:
// a stock return reason fills the note (it can still be edited), and the
// keyboard decides without the mouse: A approves, R goes to the return
// note, N skips to the next visit in the queue. Keys typed into a field
// are the field's.
for (const button of document.querySelectorAll("button.reason")) {
  button.addEventListener("click", () => {
    const note = document.getElementById("review-note");
    note.value = note.value.trim() ? `${note.value.trim()}；${button.dataset.reason}` : button.dataset.reason;
    note.focus();
  });
}
const FIELDS = "input, textarea, select, [contenteditable]";
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest(FIELDS)) return;
  const press = (id) => {
    const element = document.getElementById(id);
    if (!element) return;
    event.preventDefault();
    element.click();
  };
  switch (event.key.toLowerCase()) {
    case "a": press("approve"); break;
    case "n": press("queue-skip"); break;
    case "r": {
      const note = document.getElementById("review-note");
      if (note) { event.preventDefault(); note.focus(); }
      break;
    }
  }
});
