// Live progress on a sync's health page: polls the status endpoint while a run is going.
(function () {
  "use strict";
  var section = document.querySelector("[data-status-url]");
  if (!section) { return; }
  var url = section.getAttribute("data-status-url");
  // The page's own words for each state, in the reader's language (drawn by the server).
  var labels = JSON.parse(section.getAttribute("data-labels") || "{}");
  function label(value) { return labels[value] || value.replace(/_/g, " "); }
  var bar = section.querySelector("[data-testid=sync-progress]");
  var text = section.querySelector("[data-testid=sync-progress-text]");
  var status = section.querySelector("[data-testid=sync-status]");
  var inGroup = section.querySelector("[data-testid=sync-in-group]");
  var contacts = section.querySelector("[data-testid=sync-contacts-progress]");
  var timeLeft = section.querySelector("[data-testid=sync-time-left]");
  // "N of M contacts" and the time left, worded by the server with {placeholders} to fill.
  var words = JSON.parse(bar.parentNode.getAttribute("data-progress-words") || "{}");
  function fill(format, values) {
    return (format || "").replace(/\{(\w+)\}/g, function (_, key) { return Number(values[key]).toLocaleString(document.documentElement.lang || undefined); });
  }
  // The run the page was drawn with, learned on the first answer; once another run has ended,
  // the page is reloaded so the group, the last run and the history are current too.
  var shownRun = null;
  function refresh() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var run = data.latest_run;
        var runKey = run ? run.started_at + "|" + run.finished_at : "";
        if (shownRun === null) {
          shownRun = runKey;
        } else if (!data.running && runKey !== shownRun) {
          window.location.reload();
          return;
        }
        var counted = run ? run.contacts : null;
        if (counted && counted.total > 0) {
          bar.max = counted.total;
          bar.value = counted.done;
          contacts.textContent = "· " + fill(words.contacts, counted);
        } else if (run && run.progress.total > 0) {
          bar.max = run.progress.total;
          bar.value = run.progress.done;
        }
        var left = data.running && counted ? counted.seconds_left : null;
        timeLeft.textContent = left === null ? "" :
          "· " + (left < 60 ? words.soon : fill(words.minutes, { minutes: Math.ceil(left / 60) }));
        text.textContent = data.running ? label("running") : (run ? label(run.outcome) : label("waiting"));
        status.textContent = label(data.status);
        inGroup.textContent = String(data.contacts_in_group);
      })
      .finally(function () { window.setTimeout(refresh, 2000); });
  }
  refresh();
})();
