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
  document.addEventListener("htmx:beforeRequest", function () {
    show("");
  });
  document.addEventListener("htmx:responseError", function (event) {
    show(messageOf(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", function () {
    show("Switchboard could not be reached. Check the connection and try again.");
  });
})();
