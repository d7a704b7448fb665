/* OpenChargeback: theme toggle, period picker, menu, drag-and-drop import.
   No inline script anywhere (the Content-Security-Policy forbids it). */
(function () {
  "use strict";
  var root = document.documentElement;

  // --- theme: follows the system until toggled; the choice is remembered in a cookie
  function systemDark() { return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches; }
  function currentTheme() { return root.getAttribute("data-theme") || (systemDark() ? "dark" : "light"); }
  function setTheme(theme) {
    root.setAttribute("data-theme", theme);
    document.cookie = "ocb_theme=" + theme + "; Path=/; Max-Age=31536000; SameSite=Lax";
  }

  function csrfToken() {
    var body = document.body.getAttribute("hx-headers");
    try { return JSON.parse(body)["X-CSRF-Token"]; } catch (e) { return ""; }
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function humanSize(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return (n / 1024).toFixed(0) + " kB";
    return n + " B";
  }

  // --- drag-and-drop import
  function setupImport() {
    var zone = document.getElementById("dropzone");
    if (!zone) return;
    var input = document.getElementById("file-input");
    var form = document.getElementById("upload-form");
    var tbody = form.querySelector("tbody");
    var options = document.getElementById("source-options").innerHTML;
    var maxBytes = parseInt(zone.getAttribute("data-max-mb"), 10) * 1048576;
    var pending = [];

    function addFiles(files) {
      Array.prototype.forEach.call(files, function (file) {
        var row = el("tr");
        var nameCell = el("td", { "class": "truncate" }, file.name);
        var sizeCell = el("td", { "class": "nowrap" }, humanSize(file.size));
        var select = el("select", { "aria-label": "Source for " + file.name, "class": "source-select" });
        select.innerHTML = '<option value="">Choose…</option>' + options;
        var period = el("input", { "aria-label": "Period for " + file.name, "placeholder": "YYYY-MM", "size": "8", "class": "period-input" });
        var remove = el("button", { "type": "button", "class": "link-button", "aria-label": "Remove " + file.name }, "✕");
        var srcCell = el("td"); srcCell.appendChild(select);
        var perCell = el("td"); perCell.appendChild(period);
        var rmCell = el("td"); rmCell.appendChild(remove);
        [nameCell, sizeCell, srcCell, perCell, rmCell].forEach(function (c) { row.appendChild(c); });
        tbody.appendChild(row);
        var item = { file: file, row: row, select: select, period: period };
        pending.push(item);
        remove.addEventListener("click", function () {
          pending = pending.filter(function (p) { return p !== item; });
          row.remove();
          form.hidden = pending.length === 0;
        });
        if (file.size > maxBytes) { row.classList.add("too-large"); sizeCell.textContent += " (too large)"; }
        fetch("/imports/guess?name=" + encodeURIComponent(file.name), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : {}; })
          .then(function (g) {
            if (g.source && !select.value) select.value = g.source;
            if (g.period && !period.value) period.value = g.period;
          });
      });
      form.hidden = pending.length === 0;
    }

    function upload(item, options) {
      var jobs = document.getElementById("jobs");
      var none = document.getElementById("no-jobs");
      if (none) none.remove();
      var holder = el("div", { "class": "job job-running" });
      holder.appendChild(el("strong", {}, item.file.name));
      var bar = el("progress", { "class": "progress", "max": "100", "value": "0", "aria-label": "Upload progress" });
      holder.appendChild(bar);
      holder.appendChild(el("p", { "class": "muted small" }, "uploading…"));
      jobs.insertBefore(holder, jobs.firstChild);
      var q = "filename=" + encodeURIComponent(item.file.name) + "&source=" + encodeURIComponent(item.select.value) +
        "&period=" + encodeURIComponent(item.period.value.trim()) + options;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/imports/upload?" + q);
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("HX-Request", "true");
      xhr.upload.addEventListener("progress", function (e) { if (e.lengthComputable) bar.value = Math.round(e.loaded * 100 / e.total); });
      xhr.addEventListener("load", function () {
        var tmp = document.createElement("div");
        tmp.innerHTML = xhr.responseText;
        var node = tmp.querySelector(".job") || tmp.querySelector(".notice") || el("div", { "class": "notice error" }, "upload failed (" + xhr.status + ")");
        if (!node.classList.contains("job")) { var wrap = el("div", { "class": "job job-failed" }); wrap.appendChild(el("strong", {}, item.file.name)); wrap.appendChild(node); node = wrap; }
        holder.replaceWith(node);
        if (window.htmx) window.htmx.process(node);
        // a job already finished polls no more: the import history follows it now
        if (/^(done|failed|interrupted)$/.test(node.getAttribute("data-status") || "")) {
          document.body.dispatchEvent(new Event("imports-changed"));
        }
      });
      xhr.addEventListener("error", function () { holder.replaceWith(el("div", { "class": "notice error" }, item.file.name + ": upload failed")); });
      xhr.send(item.file);
    }

    ["dragenter", "dragover"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) { if (e.dataTransfer && e.dataTransfer.files) addFiles(e.dataTransfer.files); });
    input.addEventListener("change", function () { addFiles(input.files); input.value = ""; });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var missing = pending.filter(function (p) { return !p.select.value; });
      if (missing.length) { missing[0].select.focus(); missing[0].row.classList.add("needs-source"); return; }
      var options = "";
      if (document.getElementById("opt-replace").checked) options += "&replace=true";
      if (document.getElementById("opt-append").checked) options += "&append=true";
      if (document.getElementById("opt-source-ok").checked) options += "&source_ok=true";
      if (document.getElementById("opt-skip").checked) options += "&skip_invalid=true";
      pending.forEach(function (p) { upload(p, options); p.row.remove(); });
      pending = [];
      form.hidden = true;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", function () { setTheme(currentTheme() === "dark" ? "light" : "dark"); });
    var menu = document.getElementById("menu-button");
    if (menu) menu.addEventListener("click", function () {
      var open = document.body.classList.toggle("nav-open");
      menu.setAttribute("aria-expanded", open ? "true" : "false");
    });
    Array.prototype.forEach.call(document.querySelectorAll("select.auto-submit"), function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
    setupImport();
  });
})();
