/* The OpenCortex console's only script: live progress, the export form's pickers and server-side
   check, and the manifest loaded into an export's page. Served from this server (CSP script-src
   'self'); the pages work without it. Values from the server are set as text, never as markup,
   except the manifest fragment, which the server renders (escaped) itself. */
(function () {
  "use strict";

  var POLL_MS = 1000;

  function getJSON(url) {
    return fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"}).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    });
  }

  function showProgress(container, row) {
    var progress = container.querySelector('[data-field="progress"]');
    if (progress) {
      progress.hidden = !row.progress;
      var bar = progress.querySelector("progress");
      if (row.progress && row.progress.percent !== null) { bar.value = row.progress.percent; } else { bar.removeAttribute("value"); }
      progress.querySelector(".progress-text").textContent = row.progress ? row.progress.text : "";
    }
    var none = container.querySelector('[data-field="noProgress"]');
    if (none) { none.hidden = !!row.progress; }
    var badge = container.querySelector('[data-field="shownState"]');
    if (badge) {
      badge.textContent = row.shownState;
      badge.className = "state state-" + row.shownState;
    }
    ["expiresText", "expiresShort", "sizeText", "recordsText"].forEach(function (name) {
      var cell = container.querySelector('[data-field="' + name + '"]');
      if (cell) { cell.textContent = row[name]; }
    });
  }

  /* The export list: refresh the rows of exports that wait or run, until none does. */
  function followList(table) {
    function active() { return table.querySelectorAll('tr[data-active="true"]').length > 0; }
    function tick() {
      if (!active()) { return; }
      getJSON(table.getAttribute("data-poll")).then(function (data) {
        data.rows.forEach(function (row) {
          var tr = table.querySelector('tr[data-export-id="' + row.id + '"]');
          if (!tr) { return; }
          showProgress(tr, row);
          tr.setAttribute("data-active", row.active ? "true" : "false");
        });
        setTimeout(tick, POLL_MS);
      }).catch(function () { /* logged out or offline: stop, a reload shows why */ });
    }
    setTimeout(tick, POLL_MS);
  }

  /* An export's page: live progress; when its state changes, reload to show what it ended with. */
  function followExport(page) {
    if (page.getAttribute("data-active") !== "true") { return; }
    function tick() {
      getJSON(page.getAttribute("data-status-url")).then(function (row) {
        if (row.shownState !== page.getAttribute("data-state")) { window.location.reload(); return; }
        showProgress(page, row);
        setTimeout(tick, POLL_MS);
      }).catch(function () {});
    }
    setTimeout(tick, POLL_MS);
  }

  function loadManifest(box) {
    box.setAttribute("aria-busy", "true");
    box.querySelector("p").textContent = "Reading and verifying the archive…";
    fetch(box.getAttribute("data-manifest-url"), {credentials: "same-origin"}).then(function (response) {
      return response.text().then(function (text) { return {ok: response.ok, text: text}; });
    }).then(function (result) {
      box.removeAttribute("aria-busy");
      if (!result.ok) { box.querySelector("p").textContent = "The manifest could not be read."; return; }
      var parsed = new DOMParser().parseFromString(result.text, "text/html");
      box.replaceChildren.apply(box, Array.prototype.slice.call(parsed.body.childNodes));
    });
  }

  /* The export form. */
  function choiceLabel(name, choice) {
    var label = document.createElement("label");
    label.className = "choice depth-" + Math.min(choice.depth, 3);
    var box = document.createElement("input");
    box.type = "checkbox"; box.name = name; box.value = choice.path;
    var code = document.createElement("code");
    code.textContent = choice.path;
    var info = document.createElement("span");
    info.className = "choice-info";
    info.textContent = choice.label + " · " + choice.type;
    label.append(box, " ", code, " ", info);
    return label;
  }

  function fillChoices(form, choices) {
    ["paths", "include", "expand"].forEach(function (name) {
      var list = form.querySelector('[data-choices="' + name + '"]');
      var items = choices ? choices[name] : [];
      var nodes = items.map(function (choice) { return choiceLabel(name, choice); });
      if (!nodes.length) {
        var hint = document.createElement("p");
        hint.className = "hint";
        hint.textContent = choices ? list.getAttribute("data-empty") : "Choose an object to see its properties.";
        nodes = [hint];
      }
      list.replaceChildren.apply(list, nodes);
    });
  }

  function showErrors(form, errors) {
    form.querySelectorAll("[data-error-for]").forEach(function (element) {
      var name = element.getAttribute("data-error-for");
      var message = errors[name];
      element.textContent = message || "";
      element.hidden = !message;
      var field = form.querySelector("#" + name);
      if (field) {
        if (message) { field.setAttribute("aria-invalid", "true"); } else { field.removeAttribute("aria-invalid"); }
      }
    });
  }

  function followForm(form) {
    form.querySelectorAll(".no-script").forEach(function (element) { element.hidden = true; });
    form.querySelectorAll(".script-only").forEach(function (element) { element.hidden = false; });
    var objects = form.querySelector("#objects");
    objects.addEventListener("change", function () {
      if (!objects.value) { fillChoices(form, null); return; }
      getJSON(form.getAttribute("data-choices-url") + encodeURIComponent(objects.value) + "/choices.json")
        .then(function (choices) { fillChoices(form, choices); })
        .catch(function () { fillChoices(form, null); });
    });

    var options = form.querySelectorAll("[data-options-for]");
    function showOptions() {
      var chosen = form.querySelector('input[name="format"]:checked');
      options.forEach(function (fieldset) {
        fieldset.hidden = !chosen || fieldset.getAttribute("data-options-for") !== chosen.value;
      });
    }
    form.querySelectorAll('input[name="format"]').forEach(function (radio) { radio.addEventListener("change", showOptions); });
    showOptions();

    var where = form.querySelector("#where");
    var accepted = form.querySelector('[data-ok-for="where"]');
    var timer = null;
    var asked = 0;
    function check() {
      var mine = ++asked;
      accepted.hidden = true;
      fetch(form.getAttribute("data-validate"), {
        method: "POST", body: new FormData(form), credentials: "same-origin", headers: {"Accept": "application/json"}
      }).then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      }).then(function (result) {
        if (mine !== asked) { return; }  /* a newer check is on its way */
        showErrors(form, result.errors);
        accepted.hidden = !(result.ok && where.value.trim());
      }).catch(function () {});
    }
    where.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(check, 700);
    });
    form.querySelector("[data-check-where]").addEventListener("click", check);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table[data-poll]").forEach(followList);
    document.querySelectorAll("article[data-status-url]").forEach(followExport);
    document.querySelectorAll("[data-manifest-url]").forEach(function (box) {
      var link = box.querySelector("[data-load-manifest]");
      link.addEventListener("click", function (event) { event.preventDefault(); loadManifest(box); });
      if (box.getAttribute("data-autoload") === "true") { loadManifest(box); }
    });
    document.querySelectorAll("form.export-form").forEach(followForm);
  });
}());
