// evalkit view: the studio's only script (served from /static/, so the Content-Security-Policy can
// forbid every inline script and event handler). Pages work without it; it adds conveniences.
(function () {
  "use strict";
  // the filter form submits as soon as a choice changes
  var filters = document.getElementById("filters");
  if (filters) {
    filters.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { filters.submit(); });
    });
  }
  // keyboard grading on a case page: p = pass, f = fail (first epoch: none when its call failed),
  // outside text fields
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var value = { p: "pass", f: "fail" }[event.key];
    if (!value) return;
    var first = document.querySelector("section.epoch");
    var button = first && first.querySelector('.grade-form button[value="' + value + '"]');
    if (button) button.click();
  });
  // a marker the browser tests read: this script ran, so scripts were enabled on the page
  document.documentElement.setAttribute("data-studio-ready", "1");
})();
