// Loads a chosen CSV file into the import form's text box.
document.getElementById("csv-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (file) document.getElementById("csv").value = await file.text();
});
