// Keeps the generations table of /operations current: polls the page's JSON once a second
// while the page is visible and updates each generation's cells in place.
(function () {
  "use strict";
  var table = document.getElementById("generations");
  var note = document.getElementById("live-updates");
  var head = document.getElementById("head");
  if (!table) { return; }

  function setText(row, field, value) {
    var cell = row.querySelector('[data-field="' + field + '"]');
    if (cell) { cell.textContent = value === null || value === undefined ? "–" : String(value); }
  }

  function update(status) {
    var projections = status.projections;
    head.textContent = String(projections.head);
    var known = 0;
    projections.generations.forEach(function (g) {
      var row = table.querySelector('tr[data-generation="' + g.generation + '"]');
      if (!row) { return; }
      known += 1;
      setText(row, "status", g.status + (g.error ? " " + g.error : ""));
      setText(row, "position", g.position);
      setText(row, "lag", g.lag);
      setText(row, "events_per_second", g.events_per_second);
      var bar = row.querySelector('[data-field="progress"]');
      var share = g.head ? (100 * g.position) / g.head : 100;
      bar.value = share;
      bar.setAttribute("aria-label", "Generation " + g.generation + ": " + share.toFixed(1) + " percent of the log");
    });
    if (known < projections.generations.length) {
      note.textContent = "A new generation exists: reload the page to see it.";
    }
    table.setAttribute("data-updated", String(Date.now()));
  }

  function poll() {
    if (document.hidden) { return; }
    fetch("/operations/status.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (status) { if (status) { update(status); } })
      .catch(function () { note.textContent = "Live updates paused: the server did not answer."; });
  }

  window.setInterval(poll, 1000);
})();
