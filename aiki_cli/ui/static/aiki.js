// aiki ui: the live parts and the confirmations. Everything reads without it.
// An element with data-live is fetched again every data-every milliseconds and its
// content replaced, until a fetched part holds [data-final] (a run that ended). A form with data-confirm
// asks first, then says it was confirmed (without JavaScript the server asks instead).
(function () {
  "use strict";

  function refresh(element) {
    var url = element.getAttribute("data-live");
    if (document.hidden) { return later(element); }
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null) { replace(element, html); }
        if (!element.querySelector("[data-final]")) { later(element); }
      })
      .catch(function () { later(element); });
  }

  function later(element) {
    var every = Number(element.getAttribute("data-every")) || 1000;
    window.setTimeout(function () { refresh(element); }, every);
  }

  function replace(element, html) {
    var open = Array.prototype.map.call(
      element.querySelectorAll("details[id][open]"), function (d) { return d.id; });
    var closed = Array.prototype.map.call(
      element.querySelectorAll("details[id]:not([open])"), function (d) { return d.id; });
    element.innerHTML = html;
    open.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
    closed.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = false; } });
  }

  document.querySelectorAll("[data-live]").forEach(later);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (!question) { return; }
    if (!window.confirm(question)) { event.preventDefault(); return; }
    form.querySelector("[name=confirmed]").value = "yes";
  });
})();
