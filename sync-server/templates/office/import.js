// Loads a chosen CSV file into the import form's text box, or an XLSX
// file, as it is, into the form's hidden field. A CSV saved by
// Excel on Chinese Windows is GBK, which GB18030 covers; Excel's "CSV
// UTF-8" and most other tools write UTF-8, with or without a byte order
// mark. The file is read as UTF-8 when it is valid UTF-8 (the mark is
// dropped), else as GB18030, and the form says which.
document.getElementById("csv-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  const note = document.getElementById("csv-encoding");
  const csv = document.getElementById("csv");
  const xlsx = document.getElementById("xlsx");
  xlsx.value = "";
  csv.required = true;
  // An XLSX file is a zip archive ("PK\x03\x04"): sent as it is, in base64,
  // for the server to read its first sheet.
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4) {
    if (bytes.length > Number(event.target.dataset.maxXlsx)) {
      note.textContent = note.dataset.tooLarge;
      note.hidden = false;
      return;
    }
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    xlsx.value = btoa(binary);
    csv.value = "";
    csv.required = false;
    note.textContent = note.dataset.xlsx.replace("{name}", file.name);
    note.hidden = false;
    return;
  }
  let text;
  let encoding = "UTF-8";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder("gb18030").decode(bytes);
    encoding = "GBK / GB18030";
  }
  csv.value = text;
  note.textContent = note.dataset.template.replace("{encoding}", encoding);
  note.hidden = false;
});
