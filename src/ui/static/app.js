// gancho admin UI: small enhancements on server-rendered pages. Every page
// works without this file; it adds copy and reveal buttons, list filters,
// the slug filled from the name, secret generation, header rows and the
// queue panel's refresh. Loaded from /ui/static (the CSP allows no inline script).
"use strict";
(function () {
  function copy(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = button.dataset.copied || "OK";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* ignore */ }
      document.body.removeChild(area);
    }
  }

  function slugify(name) {
    return name.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 100);
  }

  function randomSecret(gateway) {
    var bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    if (gateway === "generic") {
      var bin = "";
      bytes.forEach(function (b) { bin += String.fromCharCode(b); });
      return "whsec_" + btoa(bin);
    }
    var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    var out = "";
    bytes.forEach(function (b) { out += alphabet[b % alphabet.length]; });
    return gateway === "pagarme" ? "gancho:" + out : out;
  }

  document.addEventListener("click", function (e) {
    var b = e.target.closest("button");
    if (!b) { return; }
    if (b.dataset.copy !== undefined) {
      copy(b.dataset.copy, b);
    } else if (b.classList.contains("reveal")) {
      var s = b.parentElement.querySelector(".secret");
      var shown = b.getAttribute("aria-pressed") === "true";
      s.textContent = shown ? s.dataset.masked : s.dataset.secret;
      b.setAttribute("aria-pressed", shown ? "false" : "true");
      b.textContent = shown ? b.dataset.reveal : b.dataset.hide;
    } else if (b.classList.contains("generate")) {
      var form = b.closest("form");
      var gateway = form.querySelector("select[name=gateway]");
      document.getElementById(b.dataset.target).value = randomSecret(gateway ? gateway.value : "");
    } else if (b.classList.contains("add-row")) {
      var rows = b.parentElement.querySelectorAll(".row");
      var last = rows[rows.length - 1];
      var copyRow = last.cloneNode(true);
      var n = rows.length;
      copyRow.querySelectorAll("input").forEach(function (input) {
        input.value = "";
        input.id = input.id.replace(/\d+$/, String(n));
      });
      copyRow.querySelectorAll("label").forEach(function (label) {
        label.htmlFor = label.htmlFor.replace(/\d+$/, String(n));
      });
      last.after(copyRow);
      copyRow.querySelector("input").focus();
    }
  });

  document.querySelectorAll("fieldset.checklist input.filter").forEach(function (box) {
    box.addEventListener("input", function () {
      var q = box.value.toLowerCase();
      box.closest("fieldset").querySelectorAll("li").forEach(function (li) {
        li.hidden = q !== "" && li.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });

  document.querySelectorAll("input[data-slug-from]").forEach(function (slug) {
    var source = document.getElementById(slug.dataset.slugFrom);
    var touched = slug.value !== "";
    slug.addEventListener("input", function () { touched = slug.value !== ""; });
    if (source) {
      source.addEventListener("input", function () {
        if (!touched) { slug.value = slugify(source.value); }
      });
    }
  });

  document.querySelectorAll("[data-refresh]").forEach(function (panel) {
    var body = panel.querySelector(".queue-body");
    setInterval(function () {
      fetch(panel.dataset.refresh, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && body) { body.innerHTML = html; } })
        .catch(function () {});
    }, 5000);
  });
})();
