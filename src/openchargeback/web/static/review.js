/* OpenChargeback review queue: keyboard shortcuts, the selected row, focus after an
   in-place decision, the totals at stake. No inline script (the CSP forbids it).
   j / n next, k previous, a approve, r reject (note, Enter), c correct, x check,
   o open, / filters, Esc close, ? help. */
(function () {
  "use strict";
  var current = null;
  var lastIndex = 0;

  function queue() { return document.getElementById("review-queue"); }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#rq-rows tr.rq-row")); }

  function select(row, focus) {
    if (current && current !== row) current.classList.remove("current");
    current = row;
    if (!row) return;
    row.classList.add("current");
    lastIndex = rows().indexOf(row);
    if (focus !== false) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var i = current && document.body.contains(current) ? all.indexOf(current) + step : (step > 0 ? 0 : all.length - 1);
    if (i >= all.length) {
      var more = document.getElementById("rq-more-button");
      if (more) { more.click(); return; }
    }
    select(all[Math.max(0, Math.min(all.length - 1, i))]);
  }

  function ensureCurrent() {
    if (!current || !document.body.contains(current)) move(1);
    return current;
  }

  function closePanels(except) {
    Array.prototype.forEach.call(document.querySelectorAll("#rq-rows details[open]"), function (d) {
      if (d !== except) d.open = false;
    });
  }

  function openPanel(kind) {
    var row = ensureCurrent();
    if (!row) return;
    var d = row.querySelector("details.rq-" + kind);
    if (!d) return;
    closePanels(d);
    d.open = true;
    var field = d.querySelector("input:not([type=hidden]):not([type=checkbox])");
    if (field) field.focus();
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function toggleHelp() {
    var help = document.getElementById("rq-help");
    var button = document.getElementById("rq-help-toggle");
    if (!help) return;
    help.hidden = !help.hidden;
    if (button) button.setAttribute("aria-expanded", help.hidden ? "false" : "true");
  }

  document.addEventListener("keydown", function (e) {
    if (!queue() || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") {
      var open = document.querySelector("#rq-rows details[open]");
      if (open) {
        open.open = false;
        var row = open.closest("tr.rq-row");
        if (row) select(row);
        e.preventDefault();
      }
      return;
    }
    if (typing(e.target)) return;
    var handled = true;
    switch (e.key) {
      case "j": case "n": move(1); break;
      case "k": move(-1); break;
      case "a": {
        var r = ensureCurrent();
        var approve = r && r.querySelector(".rq-approve");
        if (approve) approve.click();
        break;
      }
      case "r": openPanel("reject"); break;
      case "c": openPanel("correct"); break;
      case "x": {
        var c = ensureCurrent();
        var box = c && c.querySelector(".rq-check");
        if (box) box.checked = !box.checked;
        break;
      }
      case "o": {
        var o = ensureCurrent();
        var link = o && o.querySelector(".rq-open");
        if (link) window.location.href = link.getAttribute("href");
        break;
      }
      case "/": {
        var first = document.querySelector("#rq-filters select, #rq-filters input");
        if (first) first.focus();
        break;
      }
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (!queue()) return;
    var help = document.getElementById("rq-help-toggle");
    if (help) help.addEventListener("click", toggleHelp);
    // a click or focus inside a row makes it the selected one
    document.addEventListener("focusin", function (e) {
      var row = e.target.closest && e.target.closest("tr.rq-row");
      if (row && row !== current) select(row, false);
    });
    document.addEventListener("click", function (e) {
      var row = e.target.closest && e.target.closest("tr.rq-row");
      if (row && row !== current) select(row, false);
      // one open panel at a time
      var summary = e.target.closest && e.target.closest("#rq-rows details > summary");
      if (summary) closePanels(summary.parentElement);
    });
  });

  // before an in-place decision: remember where the row was
  document.addEventListener("htmx:beforeRequest", function (e) {
    var row = e.target.closest && e.target.closest("tr.rq-row");
    if (row) lastIndex = rows().indexOf(row);
  });

  // after it the row is replaced or removed (events from a removed row do not reach
  // the document, so watch the list itself): select the row now at that place
  function watchRows() {
    var body = document.getElementById("rq-rows");
    if (!body || !window.MutationObserver) return;
    new MutationObserver(function () {
      if (current && document.body.contains(current)) return;
      var hadFocus = !document.activeElement || document.activeElement === document.body;
      current = null;
      var all = rows();
      if (all.length) {
        select(all[Math.min(lastIndex, all.length - 1)], hadFocus);
      } else {
        var empty = document.getElementById("rq-empty");
        if (empty && !document.getElementById("rq-more")) empty.hidden = false;
      }
    }).observe(body, { childList: true });
  }
  document.addEventListener("DOMContentLoaded", watchRows);
  // a bulk action replaces the whole queue: watch the new list
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.target && e.target.id === "review-queue") { current = null; watchRows(); }
  });

  // the server sends what is left at stake after each decision
  document.addEventListener("rq-stakes", function (e) {
    var d = e.detail || {};
    var count = document.getElementById("rq-count");
    var total = document.getElementById("rq-total");
    if (count && d.countText !== undefined) count.textContent = d.countText;
    Array.prototype.forEach.call(document.querySelectorAll(".rq-count-copy"), function (c) {
      if (d.countText !== undefined) c.textContent = d.countText;
    });
    if (total && d.total !== undefined) total.textContent = d.total;
    var flash = document.getElementById("flash");
    if (flash && d.message) {
      flash.textContent = "";
      var note = document.createElement("div");
      note.className = "notice ok";
      note.textContent = d.message;
      flash.appendChild(note);
    }
  });
})();
