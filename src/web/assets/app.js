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

// What the page says after a revive: the daemon's answer, in words.
async function reviveAnswer(resp) {
  const text = (await resp.text()).trim();
  let answer = {};
  try { answer = JSON.parse(text); } catch (e) { /* the refusals are plain text */ }
  if (resp.ok) {
    return answer.revived ? "revived: polled again shortly" : "not dead (" + answer.status + ")";
  }
  if (resp.status === 401) return "refused (401): type the token first";
  return "refused (" + resp.status + "): " + (answer.error ?? text);
}

function revivable(button) {
  button.addEventListener("click", async () => {
    const tokenInput = document.getElementById("token");
    const token = tokenInput ? tokenInput.value.trim() : "";
    const status = button.parentNode.querySelector(".revive-status");
    const headers = { "content-type": "application/json" };
    // No token typed, no header: the daemon's 401 says what is missing.
    if (token !== "") headers.authorization = "Bearer " + token;
    button.disabled = true;
    status.textContent = "";
    try {
      const resp = await fetch("/api/feeds/revive", {
        method: "POST",
        headers,
        body: JSON.stringify({ url: button.dataset.url }),
      });
      status.textContent = await reviveAnswer(resp);
      status.className = "revive-status " + (resp.ok ? "muted" : "err");
      // Revived: nothing left to click until the page is loaded again.
      button.hidden = resp.ok;
    } catch (e) {
      status.textContent = "failed: " + e.message;
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
