// evstore ui: the live tail of the log page. No framework, nothing fetched from elsewhere.
// Rows arrive as server-rendered (escaped) HTML over server-sent events.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var rows = document.getElementById("log-rows");
  if (!live || !rows || !window.EventSource) { return; }
  var source = new EventSource(live.getAttribute("data-url"));
  var received = 0;
  function state(name, text) { live.setAttribute("data-state", name); live.textContent = text; }
  source.onopen = function () { state("open", received ? "live tail: " + received + " new" : "live tail: on"); };
  source.onerror = function () { state("error", "live tail: reconnecting…"); };
  source.addEventListener("append", function (message) {
    var data = JSON.parse(message.data);
    if (rows.querySelector('tr[data-position="' + data.id + '"]')) { return; }
    var holder = document.createElement("tbody");
    holder.innerHTML = data.html;
    var row = holder.firstElementChild;
    if (!row) { return; }
    rows.insertBefore(row, rows.firstElementChild);
    var empty = document.getElementById("log-empty");
    if (empty) { empty.remove(); }
    received += 1;
    state("open", "live tail: " + received + " new");
  });
})();
