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

  // A tab opened before its person signed in again in another tab holds the old session's form
  // token, and anything sent from it would be refused. When the tab is shown again, ask who is
  // signed in now (/account/live): the same person → the new token goes into every form of
  // the page, so what was typed is kept and sent; another person → say so; signed out → the
  // sign-in page, with the reason.
  function meta(name) {
    var tag = document.querySelector('meta[name="' + name + '"]');
    return tag ? tag.getAttribute("content") : null;
  }
  function useToken(token) {
    document.querySelector('meta[name="csrf-token"]').setAttribute("content", token);
    document.body.setAttribute("data-hx-headers", JSON.stringify({ "X-CSRF-Token": token }));
    document.querySelectorAll('input[name="csrf_token"]').forEach(function (input) {
      input.value = token;
    });
  }
  function checkWhoIsSignedIn() {
    var me = meta("signed-in-as");
    if (!me || document.visibilityState !== "visible") {
      return;
    }
    fetch("/account/live", { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (answer) {
        var signIn = answer.headers.get("HX-Redirect");
        if (answer.status === 401 && signIn) {
          window.location.href = signIn;
          return null;
        }
        return answer.ok ? answer.json() : null;
      })
      .then(function (now) {
        if (!now) {
          return;
        }
        if (now.user !== me) {
          show("You are now signed in as " + now.user + " in another tab. Reload this page before sending anything from it.");
        } else if (now.csrf_token !== meta("csrf-token")) {
          useToken(now.csrf_token);
        }
      })
      .catch(function () {});
  }
  document.addEventListener("visibilitychange", checkWhoIsSignedIn);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      checkWhoIsSignedIn();
    }
  });
  window.addEventListener("resize", focusableWhenScrolling);
  document.addEventListener("htmx:afterSettle", focusableWhenScrolling);
})();
