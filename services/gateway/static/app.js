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
  // The official-account article copied as rich text (its inline styles kept) for pasting
  // into the WeChat editor; the button shows only where this script runs.
  document.querySelectorAll("button[data-copy-html]").forEach(function (button) {
    var status = document.getElementById(button.id + "-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      fetch(button.getAttribute("data-copy-html"), { credentials: "same-origin" })
        .then(function (reply) { if (!reply.ok) throw new Error(reply.status); return reply.text(); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;  // our own rendering, every text escaped by the service
          var plain = holder.textContent;
          if (window.ClipboardItem && navigator.clipboard && navigator.clipboard.write) {
            return navigator.clipboard.write([new ClipboardItem({
              "text/html": new Blob([html], { type: "text/html" }),
              "text/plain": new Blob([plain], { type: "text/plain" })
            })]);
          }
          holder.contentEditable = "true";
          holder.style.position = "fixed";
          holder.style.left = "-10000px";
          document.body.appendChild(holder);
          var range = document.createRange();
          range.selectNodeContents(holder);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          var ok = document.execCommand("copy");
          document.body.removeChild(holder);
          if (!ok) throw new Error("copy refused");
        })
        .then(function () { status.textContent = button.getAttribute("data-copied"); },
              function () { status.textContent = button.getAttribute("data-failed"); });
    });
  });

  // The menu folds behind 菜单 on a phone (without JavaScript it stays open).
  var menu = document.querySelector("nav.mainnav details.menu");
  if (menu && window.matchMedia("(max-width: 40rem)").matches) menu.open = false;

  // A searchable picker: a filter box over a plain select (without JavaScript: the select).
  document.querySelectorAll("input[data-filter-for]").forEach(function (box) {
    var select = document.getElementById(box.getAttribute("data-filter-for"));
    if (!select) return;
    var count = select.parentNode.querySelector(".picker-count");
    var options = Array.prototype.slice.call(select.options, 1);  // the first: "请选择"
    function filter() {
      var words = box.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      options.forEach(function (option) {
        var text = option.textContent.toLowerCase();
        var match = words.every(function (w) { return text.indexOf(w) >= 0; });
        option.hidden = !match && !option.selected;
        if (match) shown += 1;
      });
      if (count) count.textContent = words.length ? (en ? shown + " match" : "找到 " + shown + " 人") : "";
      if (words.length && shown === 1) {
        var only = options.filter(function (o) { return !o.hidden && !o.disabled; });
        if (only.length === 1) select.value = only[0].value;
      }
    }
    box.hidden = false;
    box.addEventListener("input", filter);
  });

  // A live weighted total beside a score form (the server computes the real one on submit).
  document.querySelectorAll("[data-live-total]").forEach(function (box) {
    var form = box.closest("form");
    var inputs = form.querySelectorAll("input[data-weight]");
    var out = box.querySelector(".live-total-value");
    function show() {
      var sum = 0, weights = 0, complete = true;
      inputs.forEach(function (input) {
        var w = parseFloat(input.getAttribute("data-weight"));
        var v = parseFloat(input.value.replace("，", ".").trim());
        if (isNaN(v) || v < 0 || v > 100) { complete = false; return; }
        sum += w * v; weights += w;
      });
      out.textContent = complete && weights > 0 ? (sum / weights).toFixed(2) : "—";
    }
    inputs.forEach(function (input) { input.addEventListener("input", show); });
    box.hidden = false;
    show();
  });

  // A form sent once: its button shows progress and a second click sends nothing.
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) return;  // e.g. a confirmation declined
      if (form.getAttribute("data-sending") === "1") { event.preventDefault(); return; }
      form.setAttribute("data-sending", "1");
      var button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
      if (!button) return;
      button.setAttribute("aria-busy", "true");
      button.classList.add("busy");
      if (button.hasAttribute("data-busy")) {
        button.setAttribute("data-label", button.textContent);
        button.textContent = button.getAttribute("data-busy");
      }
      // Disabled after this event, so the button's own name and value are still sent.
      setTimeout(function () { button.disabled = true; }, 0);
    });
  });
  // Back from another page (the browser's page cache): the form can be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sending]").forEach(function (form) {
      form.removeAttribute("data-sending");
      form.querySelectorAll("button.busy").forEach(function (button) {
        button.disabled = false;
        button.classList.remove("busy");
        button.removeAttribute("aria-busy");
        if (button.hasAttribute("data-label")) button.textContent = button.getAttribute("data-label");
      });
    });
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
