// tidings status page: sorting and filtering of tables, and the revive
// button. No inline scripts (the Content-Security-Policy forbids them), no
// innerHTML: text goes in as text.
"use strict";

function sortable(table) {
  const heads = table.querySelectorAll("th.sortable");
  heads.forEach((th, col) => {
    th.addEventListener("click", () => {
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      const asc = th.dataset.dir !== "asc";
      heads.forEach(h => delete h.dataset.dir);
      th.dataset.dir = asc ? "asc" : "desc";
      const index = Array.from(th.parentNode.children).indexOf(th);
      const key = r => r.cells[index].dataset.sort ?? r.cells[index].textContent.trim();
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const nx = Number(x), ny = Number(y);
        const c = (!isNaN(nx) && !isNaN(ny) && x !== "" && y !== "") ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(r => body.appendChild(r));
    });
  });
}

function filterable(input, table) {
  input.addEventListener("input", () => {
    const q = input.value.trim().toLowerCase();
    for (const row of table.tBodies[0].rows) {
      row.hidden = q !== "" && !row.textContent.toLowerCase().includes(q);
    }
  });
}

function revivable(button) {
  button.addEventListener("click", async () => {
    const tokenInput = document.getElementById("token");
    const token = tokenInput ? tokenInput.value : "";
    const status = button.parentNode.querySelector(".revive-status");
    button.disabled = true;
    try {
      const resp = await fetch("/api/feeds/revive", {
        method: "POST",
        headers: { "content-type": "application/json", "authorization": "Bearer " + token },
        body: JSON.stringify({ url: button.dataset.url }),
      });
      status.textContent = resp.ok ? "revived" : "refused (" + resp.status + ")";
      status.className = "revive-status " + (resp.ok ? "muted" : "err");
    } catch (e) {
      status.textContent = "failed";
      status.className = "revive-status err";
    }
    button.disabled = false;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable-table").forEach(sortable);
  const filter = document.getElementById("filter");
  const table = document.getElementById("feeds");
  if (filter && table) filterable(filter, table);
  document.querySelectorAll("button.revive").forEach(revivable);
  // The token goes in a header only, never in a submitted form (a URL).
  document.querySelectorAll("form.token").forEach(f => f.addEventListener("submit", e => e.preventDefault()));
});
