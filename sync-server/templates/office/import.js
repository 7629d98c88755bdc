// Loads a chosen CSV file into the import form's text box. A CSV saved by
// Excel on Chinese Windows is GBK, which GB18030 covers; Excel's "CSV
// UTF-8" and most other tools write UTF-8, with or without a byte order
// mark. The file is read as UTF-8 when it is valid UTF-8 (the mark is
// dropped), else as GB18030, and the form says which.
document.getElementById("csv-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text;
  let encoding = "UTF-8";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder("gb18030").decode(bytes);
    encoding = "GBK / GB18030";
  }
  document.getElementById("csv").value = text;
  const note = document.getElementById("csv-encoding");
  note.textContent = note.dataset.template.replace("{encoding}", encoding);
  note.hidden = false;
});
