// Light progressive enhancement: every page works without this file.
// A running job's or rollout's page refreshes its progress every two seconds
// (the same URL, fetched with the session cookie) until it no longer runs.
// A firmware upload shows its progress: the same form, sent by XMLHttpRequest
// (whose upload events give the bytes sent), then the page it leads to.
"use strict";
(function () {
  var POLL_MS = 2000;
  function poll() {
    var live = document.querySelector("[data-poll]");
    if (!live || live.getAttribute("data-poll") !== "on") {
      return;
    }
    window.setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (text) {
          if (text === null) { return; }
          var fresh = new DOMParser().parseFromString(text, "text/html").getElementById(live.id);
          if (fresh) {
            live.replaceWith(fresh);
            poll();
          }
        })
        .catch(function () { /* the next load of the page shows the state */ });
    }, POLL_MS);
  }
  function upload() {
    var form = document.getElementById("upload");
    var bar = document.getElementById("upload-progress");
    var said = document.getElementById("upload-status");
    if (!form || !bar || !said) {
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.max = e.total;
          bar.value = e.loaded;
          said.textContent = "Sent " + Math.round((100 * e.loaded) / e.total) + "%";
        }
      });
      request.addEventListener("load", function () {
        if (request.status === 200 && request.responseURL.indexOf("/ui/firmware") !== -1) {
          window.location.assign(request.responseURL);
          return;
        }
        var page = new DOMParser().parseFromString(request.responseText, "text/html");
        var alert = page.querySelector("[role=alert]");
        said.textContent = alert ? alert.textContent : "The upload failed (" + request.status + ")";
      });
      request.addEventListener("error", function () {
        said.textContent = "The upload was interrupted";
      });
      bar.value = 0;
      bar.hidden = false;
      said.textContent = "Sending…";
      request.send(new FormData(form));
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    poll();
    upload();
  });
})();
