// The staff console's script: photo zoom with next/previous, and the review's keyboard
// shortcuts (j/k next/previous, c/r/i pick a decision, Enter in the queue opens a row).
// Every page works without it; it only makes the work faster.
import "./console.css";
import * as tus from "tus-js-client";

function isTyping(event) {
  const t = event.target;
  return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

// --- zoom: a full-window view of a photo; arrows or n/p move through the page's photos
function setUpZoom() {
  const buttons = [...document.querySelectorAll("[data-zoom]")];
  if (!buttons.length) return null;
  const overlay = document.createElement("div");
  overlay.className = "lightbox";
  overlay.hidden = true;
  const img = document.createElement("img");
  const count = document.createElement("p");
  overlay.append(img, count);
  document.body.append(overlay);
  let index = 0;
  const show = (i) => {
    index = (i + buttons.length) % buttons.length;
    img.src = buttons[index].dataset.zoom;
    count.textContent = `${index + 1} / ${buttons.length}`;
    overlay.hidden = false;
  };
  const hide = () => { overlay.hidden = true; };
  buttons.forEach((b, i) => b.addEventListener("click", () => show(i)));
  overlay.addEventListener("click", (e) => {
    if (e.target === img) {
      img.classList.toggle("actual");
    } else {
      hide();
    }
  });
  document.addEventListener("keydown", (e) => {
    if (overlay.hidden) return;
    if (e.key === "Escape") hide();
    else if (e.key === "ArrowRight" || e.key === "n") show(index + 1);
    else if (e.key === "ArrowLeft" || e.key === "p") show(index - 1);
    else return;
    e.preventDefault();
    e.stopImmediatePropagation();
  }, true);
  return { show, open: () => !overlay.hidden };
}

// --- the finding page: j/k move, c/r/i choose the decision and focus the comment
function setUpFinding(zoom) {
  const page = document.querySelector("[data-finding]");
  if (!page) return;
  const form = document.getElementById("decide");
  document.addEventListener("keydown", (e) => {
    if (isTyping(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const go = (url) => { if (url) window.location.assign(url); };
    const pick = (value) => {
      if (!form) return;
      const radio = form.querySelector(`input[name=decision][value=${value}]`);
      radio.checked = true;
      const target = value === "confirm" ? form.querySelector("#submit-decision") : form.querySelector("textarea[name=comment]");
      target.focus();
    };
    switch (e.key) {
      case "j": go(page.dataset.next); break;
      case "k": go(page.dataset.prev); break;
      case "c": pick("confirm"); break;
      case "r": pick("reject"); break;
      case "i": pick("needs_info"); break;
      case "z": if (zoom) zoom.show(0); break;
      default: return;
    }
    e.preventDefault();
  });
  if (form) {
    // Ctrl+Enter in the comment saves the decision.
    form.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
    });
  }
}

// --- lists: j/k move a highlight, Enter opens the row
function setUpRows() {
  const rows = [...document.querySelectorAll("[data-rows] tr[data-href]")];
  if (!rows.length) return;
  let at = -1;
  const mark = (i) => {
    rows.forEach((r) => r.classList.remove("current"));
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows[at].classList.add("current");
    rows[at].scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("keydown", (e) => {
    if (isTyping(e)) return;
    if (e.key === "j") mark(at + 1);
    else if (e.key === "k") mark(at - 1);
    else if (e.key === "Enter" && at >= 0) window.location.assign(rows[at].dataset.href);
    else return;
    e.preventDefault();
  });
}

// --- photos of a form (rectification, self-report): each goes up by the API's content-addressed tus upload
// (its SHA-256 declared first), then the form is sent with the photos' digests.
async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function uploadOne(file, sha, endpoint, csrf) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, {
      endpoint,
      metadata: { sha256: sha, filename: file.name },
      headers: { "X-CSRF-Token": csrf },
      retryDelays: [0, 1000, 3000, 5000],
      removeFingerprintOnSuccess: true,
      onError: reject,
      onSuccess: () => resolve(sha),
    });
    upload.start();
  });
}

function setUpUploads(form) {
  const progress = form.querySelector("[data-progress]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = [...form.querySelector("input[type=file]").files];
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const shas = [];
      for (const [i, file] of files.entries()) {
        progress.textContent = `${i + 1} / ${files.length}`;
        shas.push(await uploadOne(file, await sha256Hex(file), form.dataset.upload, form.dataset.csrf));
      }
      form.querySelector("input[name=photos]").value = shas.join(",");
      form.querySelector("input[type=file]").disabled = true; // the bytes went by tus
      form.submit();
    } catch (err) {
      progress.textContent = form.dataset.failed;
      button.disabled = false;
      console.warn("upload failed", err);
    }
  });
}

/** Saved views of the ledger: a named set of filters per user, kept in this browser's
 * localStorage (docs/console.md); nothing is sent to the server. */
function setUpSavedViews() {
  const box = document.querySelector("#saved-views");
  if (!box) return;
  const key = `fieldsafe.ledger-views.${box.dataset.user}`;
  const list = box.querySelector("ul");
  const read = () => {
    try {
      return JSON.parse(localStorage.getItem(key) || "{}");
    } catch {
      return {};
    }
  };
  const draw = () => {
    const views = read();
    list.replaceChildren();
    for (const [name, query] of Object.entries(views)) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `${box.dataset.base}?${query}`;
      link.textContent = name;
      const drop = document.createElement("button");
      drop.type = "button";
      drop.className = "link";
      drop.textContent = box.dataset.remove;
      drop.addEventListener("click", () => {
        const now = read();
        delete now[name];
        localStorage.setItem(key, JSON.stringify(now));
        draw();
      });
      item.append(link, " ", drop);
      list.append(item);
    }
  };
  box.querySelector("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = box.querySelector("input[name=view_name]").value.trim();
    if (!name) return;
    const params = new URLSearchParams(window.location.search);
    params.delete("page");
    const views = read();
    views[name] = params.toString();
    localStorage.setItem(key, JSON.stringify(views));
    draw();
  });
  draw();
}

const zoom = setUpZoom();
setUpSavedViews();
document.querySelectorAll("form[data-upload]").forEach(setUpUploads);
setUpFinding(zoom);
setUpRows();
