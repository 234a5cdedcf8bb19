// The inspection station without a mouse; every page works without this file too.
// Print buttons only appear where a script can press them.
for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}
