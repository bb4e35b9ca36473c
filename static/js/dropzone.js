// Lets files be dropped onto the upload form's zone; they go into the form's file input.
(function () {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("id_files");
  const chosen = document.getElementById("chosen");
  const show = () => { chosen.textContent = input.files.length ? ` — ${input.files.length} file(s) chosen` : ""; };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    input.files = event.dataTransfer.files;
    show();
  });
})();
