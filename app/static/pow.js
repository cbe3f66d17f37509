/* Adaptive proof of work for Tipline (same origin, no dependencies).
   Finds a number n such that SHA-256(token + ":" + n) starts with `bits` zero bits, fills the hidden
   pow_solution field, and then submits the form the reporter already clicked. Without this script
   the server accepts the same token as a wait token once it is old enough. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-pow-bits]");
  if (!form || !window.crypto || !window.crypto.subtle || !window.TextEncoder) { return; }
  var bits = parseInt(form.getAttribute("data-pow-bits"), 10);
  var tokenInput = form.querySelector("input[name=pow_token]");
  var output = form.querySelector("input[name=pow_solution]");
  var status = document.getElementById("pow-status");
  if (!tokenInput || !output || !(bits > 0)) { return; }
  var encoder = new TextEncoder();
  var solved = false;
  var waiting = null;

  function zeroBits(buffer) {
    var bytes = new Uint8Array(buffer), count = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { count += 8; continue; }
      return count + Math.clz32(bytes[i]) - 24;
    }
    return count;
  }

  function finish(n) {
    output.value = String(n);
    solved = true;
    if (status) { status.textContent = status.getAttribute("data-done"); }
    if (waiting) {
      var submitter = waiting;
      waiting = null;
      if (form.requestSubmit) { form.requestSubmit(submitter); } else { submitter.click(); }
    }
  }

  async function solve() {
    var prefix = tokenInput.value + ":";
    for (var n = 0; ; n++) {
      var digest = await window.crypto.subtle.digest("SHA-256", encoder.encode(prefix + n));
      if (zeroBits(digest) >= bits) { finish(n); return; }
    }
  }

  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (solved || (submitter && submitter.getAttribute("data-pow-free") !== null)) { return; }
    event.preventDefault();
    waiting = submitter || form.querySelector("button[type=submit]");
    if (status) { status.textContent = status.getAttribute("data-working"); }
  });
  solve();
}());
