// Switchboard's one script (besides htmx): an htmx action that fails says why instead of
// failing in silence. The answer's own message (the error page's heading and text) is shown
// in the page's alert region; a request that never reached the server says so too.
(function () {
  "use strict";
  function region() {
    return document.getElementById("action-error");
  }
  function show(text) {
    var box = region();
    if (box) {
      box.textContent = text;
      box.scrollIntoView({ block: "nearest" });
    }
  }
  function messageOf(xhr) {
    try {
      var page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      var title = page.querySelector("h1");
      var text = page.querySelector("main p:not(.status-code)");
      var parts = [title && title.textContent, text && text.textContent].filter(Boolean);
      if (parts.length) {
        return parts.join(": ");
      }
    } catch (ignored) {}
    return "The action failed (" + xhr.status + "). Reload the page and try again.";
  }
  // a new action clears the last one's error; the live page's own poll (#live) does not, or
  // the error would vanish within two seconds of being shown
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!(event.target && event.target.id === "live")) {
      show("");
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    show(messageOf(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", function () {
    show("Switchboard could not be reached. Check the connection and try again.");
  });

  // Keyboard and focus: Ctrl/Cmd+Enter sends the reply; after a swap, focus stays where the
  // person was working (the composer, or the matrix cell just toggled) instead of <body>.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) &&
        box instanceof HTMLTextAreaElement && box.form && box.form.id === "reply-form") {
      event.preventDefault();
      var send = box.form.querySelector("button.primary");
      if (send && !send.disabled) {
        send.click();
      }
    }
  });
  // the cell a toggle lives in is replaced whole: remember which one had the focus
  var toggledCell = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var cell = event.target.closest && event.target.closest("td.cell");
    toggledCell = cell ? cell.id : null;
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && target.id === "timeline") {
      var composer = document.querySelector("#reply-form textarea");
      if (composer) {
        composer.focus();
      }
    } else if (toggledCell) {
      var toggle = document.querySelector("#" + toggledCell + " button.toggle");
      if (toggle) {
        toggle.focus();
      }
      toggledCell = null;
    }
  });

  // A table too wide for a phone scrolls inside itself (app.css); one that scrolls takes the
  // keyboard focus, so it can be scrolled without a pointer (WCAG 2.1.1).
  function focusableWhenScrolling() {
    document.querySelectorAll("table.list, table.compact, .matrix-table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth) {
        table.setAttribute("tabindex", "0");
      } else if (table.getAttribute("tabindex") === "0") {
        table.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", focusableWhenScrolling);
  window.addEventListener("resize", focusableWhenScrolling);
  document.addEventListener("htmx:afterSettle", focusableWhenScrolling);
})();
