// Light progressive enhancement: every page works without this file.
// A running job's or rollout's page refreshes its progress every two seconds
// (the same URL, fetched with the session cookie) until it no longer runs.
// A firmware upload shows its progress: the same form, sent by XMLHttpRequest
// (whose upload events give the bytes sent), then the page it leads to.
// The keys editor's rows are dragged by their handle or moved by their Up and
// Down buttons in place (without the script those buttons post the draft and
// the server answers it rearranged); either keeps the hidden "order" field,
// which the server reads, in step with the rows.
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
  function keysEditor(form) {
    var body = form.querySelector("#keys-table tbody");
    var order = form.querySelector("input[name=order]");
    var said = form.querySelector("#keys-said");
    if (!body || !order) {
      return;
    }
    var dragged = null;
    function changed(message) {
      var rows = body.querySelectorAll("tr[data-key]");
      var ids = [];
      rows.forEach(function (row, index) {
        ids.push(row.getAttribute("data-key"));
        var number = row.querySelector("[id$='-n']");
        if (number) { number.textContent = String(index + 1); }
      });
      order.value = ids.join(",");
      stale();
      if (said && message) { said.textContent = message; }
    }
    function stale() {
      // What was previewed is no longer the draft: preview it again before saving.
      var save = form.querySelector(".keys-save");
      var unset = form.querySelector("input[name=unset]");
      if (save) { save.remove(); }
      if (unset) { unset.remove(); }
    }
    function place(row) {
      return Array.prototype.indexOf.call(body.children, row) + 1;
    }
    form.querySelectorAll(".grip").forEach(function (grip) {
      grip.hidden = false;
      grip.setAttribute("draggable", "true");
    });
    form.querySelectorAll(".drag-hint").forEach(function (hint) { hint.hidden = false; });
    body.addEventListener("dragstart", function (event) {
      var grip = event.target.closest ? event.target.closest(".grip") : null;
      if (!grip) { return; }
      dragged = grip.closest("tr");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.getAttribute("data-key"));
      dragged.classList.add("dragging");
    });
    body.addEventListener("dragover", function (event) {
      if (dragged) { event.preventDefault(); }
    });
    body.addEventListener("drop", function (event) {
      var target = event.target.closest ? event.target.closest("tr[data-key]") : null;
      if (!dragged || !target || target === dragged) { return; }
      event.preventDefault();
      // The dragged row takes the place of the row it is dropped on.
      var after = place(dragged) < place(target);
      body.insertBefore(dragged, after ? target.nextSibling : target);
      changed("Key moved to place " + place(dragged));
    });
    body.addEventListener("dragend", function () {
      if (dragged) { dragged.classList.remove("dragging"); }
      dragged = null;
    });
    form.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[data-move]") : null;
      if (!button) { return; }
      event.preventDefault();
      var row = button.closest("tr");
      var other = button.getAttribute("data-move") === "up" ? row.previousElementSibling
        : row.nextElementSibling;
      if (other) {
        body.insertBefore(row, button.getAttribute("data-move") === "up" ? other : other.nextSibling);
      }
      button.focus();  // the keyboard stays on the moved key's button
      changed("Key moved to place " + place(row));
    });
    form.addEventListener("input", stale);
  }
  document.addEventListener("DOMContentLoaded", function () {
    poll();
    upload();
    document.querySelectorAll("form.keys-editor").forEach(keysEditor);
  });
})();
