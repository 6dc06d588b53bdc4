(function () {
  "use strict";
  // a signature pad: a finger (or a mouse) draws; each stroke's end keeps the drawing as a PNG
  function pad(box) {
    var c = box.querySelector("canvas"), ctx = c.getContext("2d");
    var out = box.querySelector("input.sig"), at = box.querySelector("input.sig-at");
    var state = box.querySelector(".sig-state"), last = null;
    ctx.lineWidth = 4; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#0b1f3a";
    function pos(e) {
      var r = c.getBoundingClientRect();
      return [(e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height];
    }
    c.addEventListener("pointerdown", function (e) {
      if (box.classList.contains("off")) { return; }
      last = pos(e);
      if (c.setPointerCapture) { try { c.setPointerCapture(e.pointerId); } catch (x) { /* gone */ } }
      e.preventDefault();
    });
    c.addEventListener("pointermove", function (e) {
      if (!last) { return; }
      var p = pos(e);
      ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
      last = p; e.preventDefault();
    });
    function end() {
      if (!last) { return; }
      last = null;
      out.value = c.toDataURL("image/png"); at.value = String(Date.now());
      state.textContent = "已签字"; box.classList.add("signed");
    }
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    box.clear = function () {
      ctx.clearRect(0, 0, c.width, c.height); out.value = ""; at.value = "";
      state.textContent = "请签字"; box.classList.remove("signed");
    };
    box.querySelector("button.clear").addEventListener("click", box.clear);
  }
  Array.prototype.forEach.call(document.querySelectorAll(".pad"), pad);

  // a resident who refuses: the pad is off, the measurer's note is asked for
  var refused = document.getElementById("resident_refused");
  var resident = document.getElementById("pad-resident");
  var note = document.getElementById("refusal-box");
  function refusal() {
    resident.classList.toggle("off", refused.checked);
    note.hidden = !refused.checked;
    if (refused.checked) { resident.clear(); }
  }
  refused.addEventListener("change", refusal);
  refusal();

  // the city's measuring windows (from the config, on the page): outside them, say so
  var windows = JSON.parse(document.getElementById("when").getAttribute("data-windows") || "[]");
  var when = document.getElementById("measured_at"), warn = document.getElementById("window-warn");
  function inWindow() {
    var t = when.value.slice(11, 16);
    if (!t) { return true; }
    return windows.some(function (w) {
      var p = w.split("-");
      return t >= p[0].trim() && t < p[1].trim();
    });
  }
  function check() { warn.hidden = inWindow(); }
  when.addEventListener("input", check);
  when.addEventListener("change", check);
  check();
})();
