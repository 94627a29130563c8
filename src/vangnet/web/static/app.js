// Vangnet reviewer UI: reveal one item at a time (hold or toggle, audited by the server),
// keyboard shortcuts, clickable rows. No external code; CSP allows only this file.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const revealed = new Map(); // item id -> object URL

  async function reveal(li) {
    const id = li.dataset.item;
    if (revealed.has(id)) return;
    const button = li.querySelector("button.reveal");
    const url = li.dataset.revealUrl || `/ui/items/${id}/reveal`; // investigation items: their own URL
    const response = await fetch(url, {
      method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin", cache: "no-store",
    });
    if (!response.ok) { alert(await response.text()); return; }
    const blobUrl = URL.createObjectURL(await response.blob());
    revealed.set(id, blobUrl);
    const frame = li.querySelector(".frame");
    const preview = frame.querySelector("img.preview");
    preview.hidden = true;
    if (li.dataset.video === "yes") {
      const video = document.createElement("video");
      video.src = blobUrl; video.muted = true; video.controls = true; video.preload = "metadata";
      video.className = "clear"; frame.appendChild(video); // muted and paused
    } else {
      const img = document.createElement("img");
      img.src = blobUrl; img.alt = `item ${id}, revealed`; img.className = "clear"; frame.appendChild(img);
    }
    li.classList.add("revealed");
    if (button) { button.setAttribute("aria-pressed", "true"); button.textContent = "Hide"; }
  }

  function hide(li) {
    const id = li.dataset.item;
    const url = revealed.get(id);
    if (!url) return;
    li.querySelectorAll(".clear").forEach((el) => el.remove());
    URL.revokeObjectURL(url);
    revealed.delete(id);
    li.querySelector("img.preview").hidden = false;
    li.classList.remove("revealed");
    const button = li.querySelector("button.reveal");
    if (button) { button.setAttribute("aria-pressed", "false"); button.textContent = "Hold to reveal"; }
  }

  function toggle(li) { revealed.has(li.dataset.item) ? hide(li) : reveal(li); }

  document.querySelectorAll("button.reveal").forEach((button) => {
    const li = button.closest("li.item");
    let held = false, timer = null;
    button.addEventListener("pointerdown", (event) => {
      // Keep the pointer on the button while held, even when its label changes size.
      button.setPointerCapture(event.pointerId);
      timer = setTimeout(() => { held = true; reveal(li); }, 250); // click-and-hold
    });
    const release = () => { clearTimeout(timer); if (held) { hide(li); } held = false; };
    button.addEventListener("pointerup", release);
    button.addEventListener("pointercancel", release);
    button.addEventListener("lostpointercapture", release);
    button.addEventListener("click", (event) => {
      if (event.detail === 0) toggle(li); // keyboard activation (Enter/Space): toggle
    });
  });

  // Selection for j/k in tables (queue) and item grids (case page).
  function selectable() {
    const rows = [...document.querySelectorAll("tr[data-href]")];
    return rows.length ? rows : [...document.querySelectorAll("li.item")];
  }
  let index = -1;
  function select(i) {
    const all = selectable();
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((el) => el.classList.remove("selected"));
    all[index].classList.add("selected");
    all[index].focus();
  }
  // After a form that came back to this page (e.g. a categorisation), select the item it worked on.
  // (data-focus ranks them: the item itself, else the one after it, else the one before)
  const focused = [...document.querySelectorAll("li.item[data-focus]")]
    .sort((a, b) => Number(a.dataset.focus) - Number(b.dataset.focus))[0];
  if (focused) select(selectable().indexOf(focused));
  document.querySelectorAll("tr[data-href]").forEach((row) => {
    row.addEventListener("click", (event) => { if (!event.target.closest("a")) location.href = row.dataset.href; });
  });

  let pendingG = false;
  document.addEventListener("keydown", (event) => {
    const tag = (event.target.tagName || "").toLowerCase();
    // (a selection checkbox in an item card keeps the shortcuts working)
    const inCard = event.target.type === "checkbox" && event.target.closest?.("li.item");
    if ((["input", "textarea", "select"].includes(tag) && !inCard) || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (pendingG) { pendingG = false; if (key === "q") { location.href = "/ui/queue"; } return; }
    const all = selectable();
    const current = all[index];
    switch (key) {
      case "j": select(index + 1); break;
      case "k": select(index - 1); break;
      case "Enter":
        if (event.target.closest?.("a, button, summary")) return; // their own Enter
        if (current?.dataset.href) location.href = current.dataset.href; else return;
        break;
      case "r": {
        const li = current?.matches("li.item") ? current : document.querySelector("li.item");
        if (li?.querySelector("button.reveal")) { if (index < 0) select(0); toggle(li); }
        break;
      }
      case "c": document.getElementById("category")?.focus(); break;
      case "f": document.getElementById("btn-fp")?.click(); break;
      case "e": document.getElementById("btn-escalate")?.click(); break;
      case "o": document.getElementById("btn-second")?.click(); break;
      case "n": { const next = document.getElementById("next-case"); if (next) location.href = next.href; break; }
      case "g": pendingG = true; break;
      case "?": document.getElementById("help")?.showModal(); break;
      default: return;
    }
    event.preventDefault();
  });

  // Confirming from the category list: Enter on the select submits "confirm".
  const category = document.getElementById("category");
  category?.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && category.value) { event.preventDefault(); document.getElementById("btn-confirm").click(); }
  });
  // Hide every revealed item when the page is hidden (switching tabs, locking the screen).
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) document.querySelectorAll("li.item.revealed").forEach(hide);
  });
})();

// Investigation workbench: select items (checkboxes, x), set the VICS category of the selected
// items (or of the current one) with 0-4, select all on the page. The form posts normally
// (CSRF field, audited by the server) and comes back to the same page and item.
(function () {
  const form = document.getElementById("categorise-form");
  if (!form) return;
  const category = document.getElementById("bulk-category");
  const counter = document.getElementById("selected-count");
  const boxes = () => [...document.querySelectorAll('li.item input[name="ids"]')];
  const current = () => document.activeElement?.closest?.("li.item") || document.querySelector("li.item.selected");

  function refresh() {
    const chosen = boxes().filter((box) => box.checked);
    if (counter) counter.textContent = `${chosen.length} selected`;
    boxes().forEach((box) => box.closest("li.item").classList.toggle("checked", box.checked));
  }
  document.addEventListener("change", (event) => { if (event.target.matches?.('li.item input[name="ids"]')) refresh(); });
  document.getElementById("select-all")?.addEventListener("change", (event) => {
    boxes().forEach((box) => { box.checked = event.target.checked; });
    refresh();
  });

  function submit(value) {
    if (form.dataset.single !== "yes" && !boxes().some((box) => box.checked)) {
      const box = current()?.querySelector('input[name="ids"]');
      if (!box) return false;
      box.checked = true; // no selection: the current item
    }
    category.value = value;
    const focus = form.querySelector('input[name="focus"]');
    const here = current();
    if (focus && here) {
      const near = [here, here.nextElementSibling, here.previousElementSibling];
      focus.value = near.filter((li) => li?.dataset.item).map((li) => li.dataset.item).join(",");
    }
    form.requestSubmit();
    return true;
  }

  document.addEventListener("keydown", (event) => {
    const tag = (event.target.tagName || "").toLowerCase();
    const inCard = event.target.type === "checkbox" && event.target.closest?.("li.item");
    if ((["input", "textarea", "select"].includes(tag) && !inCard) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "x") {
      const box = current()?.querySelector('input[name="ids"]');
      if (!box) return;
      box.checked = !box.checked;
      refresh();
      event.preventDefault();
    } else if (/^[0-4]$/.test(event.key) && category) {
      if (submit(`vics:${event.key}`)) event.preventDefault();
    }
  });
  refresh();
})();
