// Live updates: the server pushes event "scores" with the JSON string {"a":N,"b":M}
// (the original result app's format) and "status" {stale: bool}.
(function () {
  "use strict";
  function percentages(a, b) {
    if (a + b > 0) {
      var aPercent = Math.round((a / (a + b)) * 100);
      return { a: aPercent, b: 100 - aPercent };
    }
    return { a: 50, b: 50 };
  }
  function totalLine(total) {
    if (total === 0) return "No votes yet";
    if (total === 1) return "1 vote";
    return total + " votes";
  }
  function show(counts) {
    var shares = percentages(counts.a, counts.b);
    document.getElementById("a-percent").textContent = shares.a + "%";
    document.getElementById("b-percent").textContent = shares.b + "%";
    document.getElementById("background-stats-1").style.width = shares.a + "%";
    document.getElementById("background-stats-2").style.width = shares.b + "%";
    document.getElementById("total").textContent = totalLine(counts.a + counts.b);
  }
  function setStale(stale) {
    document.getElementById("stale").hidden = !stale;
  }
  var socket = io({ transports: ["websocket", "polling"] });
  socket.on("scores", function (json) {
    show(JSON.parse(json));
  });
  socket.on("status", function (status) {
    setStale(Boolean(status && status.stale));
  });
  socket.on("disconnect", function () {
    setStale(true);
  });
})();
