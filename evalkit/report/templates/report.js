(function () {
  "use strict";
  var PAGE = 100;
  var cases = Array.prototype.slice.call(document.querySelectorAll("#case-list > details.case"));
  var filter = document.getElementById("filter"), search = document.getElementById("search");
  var shown = document.getElementById("shown"), pageLabel = document.getElementById("page");
  var page = 0, matching = cases;
  function matches(el, mode, needle) {
    if (mode === "failing" && el.dataset.failing !== "1") return false;
    if (mode === "errors" && el.dataset.error !== "1") return false;
    if (mode === "flipped" && !el.dataset.flip) return false;
    return !needle || el.dataset.text.indexOf(needle) !== -1;
  }
  function render() {
    var pages = Math.max(1, Math.ceil(matching.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    var start = page * PAGE, end = start + PAGE;
    cases.forEach(function (el) { el.hidden = true; });
    matching.slice(start, end).forEach(function (el) { el.hidden = false; });
    shown.textContent = matching.length + " of " + cases.length + " cases";
    pageLabel.textContent = " page " + (page + 1) + " of " + pages + " ";
  }
  function apply() {
    var mode = filter.value, needle = search.value.trim().toLowerCase();
    matching = cases.filter(function (el) { return matches(el, mode, needle); });
    page = 0;
    render();
  }
  filter.addEventListener("change", apply);
  search.addEventListener("input", apply);
  document.getElementById("prev").addEventListener("click", function () { page -= 1; render(); });
  document.getElementById("next").addEventListener("click", function () { page += 1; render(); });
  if (location.hash === "#failures") { filter.value = "failing"; }
  apply();
  document.documentElement.setAttribute("data-report-ready", "1");
  window.addEventListener("load", function () {
    var loaded = Array.prototype.filter.call(document.querySelectorAll("img.chart"), function (img) {
      return img.complete && img.naturalWidth > 0;
    }).length;
    document.documentElement.setAttribute("data-charts-loaded", String(loaded));
  });
})();
