// Verdict dashboard conveniences. Pages work without this file: every state
// is a link or a GET form; this only adds keyboard shortcuts and copy buttons.
(function () {
  "use strict";
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    if (e.key === "/") {
      var q = document.querySelector("input[type=search]");
      if (q) { e.preventDefault(); q.focus(); }
    }
  });
  document.querySelectorAll("[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent);
    });
  });
})();
