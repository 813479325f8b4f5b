// The dashboard, live: on each new snapshot, fetch the live sections' HTML and swap it in.
// Without this script the page is whole and refreshes itself (a <noscript> meta refresh).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) return;
  var fragmentUrl = live.dataset.fragment;
  var shown = Number(live.dataset.version);
  var loading = false;
  var again = false;

  function update(version) {
    if (version !== undefined && version <= shown) return;
    if (loading) { again = true; return; }
    loading = true;
    fetch(fragmentUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("the dashboard fragment answered " + response.status);
        return response.text();
      })
      .then(function (html) {
        // Keep what a person was reading open, and keep keyboard focus where it was.
        var open = Array.prototype.map.call(live.querySelectorAll("details[open] summary"),
          function (s) { return s.textContent; });
        var before = focusable();
        var focused = before.indexOf(document.activeElement);
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var next = holder.querySelector("[data-version]");
        live.replaceChildren.apply(live, Array.prototype.slice.call(holder.childNodes));
        live.querySelectorAll("details summary").forEach(function (s) {
          if (open.indexOf(s.textContent) >= 0) s.parentElement.open = true;
        });
        if (focused >= 0) { var el = focusable()[focused]; if (el) el.focus(); }
        var made = live.querySelector("time[datetime]");
        if (next) shown = Number(next.dataset.version);
        live.dataset.version = String(shown);
        status("Live: updated " + (made ? made.textContent : "now") + ".");
      })
      .catch(function (error) { status("Live updates interrupted (" + error.message + "); retrying."); })
      .finally(function () {
        loading = false;
        if (again) { again = false; update(); }
      });
  }

  function focusable() {
    return Array.prototype.slice.call(live.querySelectorAll("a[href], button, summary, input, [tabindex]"));
  }

  function status(text) {
    var line = document.getElementById("liveness");
    if (line) line.textContent = text;
  }

  var refresh = Math.max(1, Number(live.dataset.refresh) || 5) * 1000;
  if (live.dataset.stream && window.EventSource) {
    var source = new EventSource(live.dataset.stream, { withCredentials: true });
    source.addEventListener("snapshot", function (message) {
      var data = JSON.parse(message.data);
      update(data.version);
    });
    source.addEventListener("open", function () { status("Live: listening for changes."); });
    source.addEventListener("error", function () { status("Live stream interrupted; reconnecting."); });
  } else {
    // No stream served here: ask for the live sections once per round instead.
    status("Live: updated every " + refresh / 1000 + " s.");
    window.setInterval(function () { update(); }, refresh);
  }

  // The lab's fault panel: send each form's parameters as JSON and stay on the page.
  document.querySelectorAll("form[action^='/lab/']").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var result = document.getElementById("lab-result");
      var label = form.querySelector("button").textContent;
      fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: form.dataset.json || "{}",
      })
        .then(function (response) {
          if (result) result.textContent = label + ": " + (response.ok ? "done" : "refused (" + response.status + ")");
          update();
        })
        .catch(function (error) { if (result) result.textContent = label + ": " + error.message; });
    });
  });
})();
