// Polls the run's status and redraws the progress; reloads the page when the work is done.
// (No inline script: the page's Content-Security-Policy allows scripts from this server only.)
(function () {
  "use strict";
  var box = document.getElementById("fremdrift");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-status");
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (s) {
        if (s.tilstand === "ferdig" || s.tilstand === "feilet") { window.location.reload(); return; }
        box.innerHTML = s.html;  // rendered and escaped by the server's template
        window.setTimeout(poll, 400);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 300);
}());
