// Light progressive enhancement: every page works without this file.
// A running job's page refreshes its progress every two seconds (the same
// URL, fetched with the session cookie), until the job is no longer running.
"use strict";
(function () {
  var POLL_MS = 2000;
  function poll() {
    var job = document.getElementById("job");
    if (!job || job.getAttribute("data-poll") !== "on") {
      return;
    }
    window.setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (text) {
          if (text === null) { return; }
          var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("job");
          if (fresh) {
            job.replaceWith(fresh);
            poll();
          }
        })
        .catch(function () { /* the next load of the page shows the state */ });
    }, POLL_MS);
  }
  document.addEventListener("DOMContentLoaded", poll);
})();
