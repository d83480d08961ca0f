// wxguard review UI: light progressive enhancement. Everything works without it.
// Keyboard navigation in the alert queue: j/k move, x select, Enter open, c claim selected.
"use strict";
(function () {
  const queue = document.getElementById("queue");
  const all = document.getElementById("select-all");
  if (all && queue) {
    all.addEventListener("change", function () {
      queue.querySelectorAll("input[name=ids]").forEach(function (b) { b.checked = all.checked; });
    });
  }
  if (!queue) { return; }
  const rows = Array.from(queue.querySelectorAll("tr.row"));
  let at = -1;
  function move(to) {
    if (!rows.length) { return; }
    if (at >= 0) { rows[at].classList.remove("current"); }
    at = Math.max(0, Math.min(rows.length - 1, to));
    rows[at].classList.add("current");
    rows[at].scrollIntoView({ block: "nearest" });
  }
  rows.forEach(function (r, i) {
    r.addEventListener("click", function (e) {
      if (e.target.tagName !== "INPUT" && e.target.tagName !== "A") { move(i); }
    });
  });
  document.addEventListener("keydown", function (e) {
    const t = e.target.tagName;
    if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "j") { move(at + 1); e.preventDefault(); }
    else if (e.key === "k") { move(at - 1); e.preventDefault(); }
    else if (e.key === "x" && at >= 0) {
      const box = rows[at].querySelector("input[name=ids]");
      if (box) { box.checked = !box.checked; }
      e.preventDefault();
    } else if (e.key === "Enter" && at >= 0) {
      window.location.assign(rows[at].dataset.href);
      e.preventDefault();
    } else if (e.key === "c") {
      const action = document.getElementById("bulk-action");
      const go = document.getElementById("bulk-go");
      if (action && go) { action.value = "claim"; go.click(); e.preventDefault(); }
    }
  });
})();
