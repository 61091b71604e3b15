// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  var en = document.documentElement.lang === "en";

  function duration(total) {
    total = Math.max(0, Math.floor(total));
    var d = Math.floor(total / 86400), h = Math.floor((total % 86400) / 3600),
        m = Math.floor((total % 3600) / 60);
    if (en) return (d ? d + " d " : "") + h + " h " + m + " min";
    return (d ? d + " 天 " : "") + h + " 小时 " + m + " 分";
  }

  // Deadline countdowns: seconds left as the server counted them when the page was made.
  var started = Date.now();
  var clocks = document.querySelectorAll("[data-seconds-left]");
  function tick() {
    var elapsed = (Date.now() - started) / 1000;
    clocks.forEach(function (el) {
      var left = parseInt(el.getAttribute("data-seconds-left"), 10) - elapsed;
      var out = el.querySelector(".countdown-value") || el;
      out.textContent = duration(left);
      if (left < 86400) el.classList.add("urgent");
    });
  }
  if (clocks.length) { tick(); setInterval(tick, 30000); }

  // Character count beside a textarea with bounds (the deeds).
  document.querySelectorAll("textarea[data-count-min]").forEach(function (area) {
    var min = parseInt(area.getAttribute("data-count-min"), 10);
    var max = parseInt(area.getAttribute("data-count-max"), 10);
    var hint = area.nextElementSibling;
    function show() {
      var n = area.value.trim().length;
      hint.textContent = en ? n + " characters (" + min + "–" + max + ")" : "已输入 " + n + " 字（" + min + "–" + max + " 字）";
      hint.classList.toggle("bad", n > 0 && (n < min || n > max));
    }
    area.addEventListener("input", show);
    show();
  });

  // Ask before an irreversible action.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  // Character count beside an input with a maximum (a video caption).
  document.querySelectorAll("input[data-max-chars]").forEach(function (input) {
    var max = parseInt(input.getAttribute("data-max-chars"), 10);
    var hint = input.nextElementSibling;
    function show() {
      var n = Array.from(input.value.trim()).length;
      hint.textContent = en ? n + " / " + max + " characters" : "已输入 " + n + " / " + max + " 字";
      hint.classList.toggle("bad", n > max);
    }
    input.addEventListener("input", show);
    show();
  });
  // The bell: the unread count of the signed-in user's notifications (the link works without).
  var bell = document.querySelector("a.bell[data-unread-url]");
  if (bell && window.fetch) {
    fetch(bell.getAttribute("data-unread-url"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        var count = bell.querySelector(".bell-count");
        if (body && body.unread > 0 && count) {
          count.textContent = body.unread > 99 ? "99+" : String(body.unread);
          count.hidden = false;
        }
      })
      .catch(function () {});
  }
})();
