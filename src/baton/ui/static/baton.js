// Copy buttons: <button class="copy" data-copy="ID"> copies the text of the element ID.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.copy");
  if (!button) return;
  var source = document.getElementById(button.dataset.copy);
  if (!source) return;
  var label = button.textContent;
  navigator.clipboard.writeText(source.textContent).then(function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  }, function () {
    button.textContent = "Select the text and copy it";
  });
});
