// The field app (PWA): sign in, first sync, today's inspections, check-in, the checklist item by
// item, submit; every action queued in the outbox (IndexedDB) and drained by sync.js.
import { login, pick } from "./api.js";
import { chooseLanguage, loadTexts, t } from "./i18n.js";
import { answerRefusal, checklistOf, distanceM, findingsOf, localView, rejectionsOf, submitRefusal } from "./model.js";
import * as store from "./store.js";
import { channel, listeners, syncNow } from "./sync.js";

const script = document.getElementById("fieldapp-script");
const VERSION = script.dataset.version;
const view = document.getElementById("view");
const statusBar = document.getElementById("status");
const nav = document.getElementById("nav");
const title = document.getElementById("title");
let draft = null;
let flash = null;
// The server ended the login: the form shows until the inspector signs in again
let relogin = null;
const objectUrls = new Map();

// Redraw only what changed: a sync that brought nothing new leaves the screen (and the finger
// about to tap it) alone.
function setHtml(el, html) {
  if (el.dataset.painted === html) return;
  el.dataset.painted = html;
  el.innerHTML = html;
}
const screen = {
  set html(html) {
    setHtml(view, html);
  },
};

function photoUrl(sha, blob) {
  if (!objectUrls.has(sha)) objectUrls.set(sha, URL.createObjectURL(blob));
  return objectUrls.get(sha);
}

const esc = (s) =>
  String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const STATUS_WORDS = {
  planned: "planned",
  dispatched: "dispatched",
  in_progress: "in progress",
  submitted: "submitted",
  reviewed: "reviewed",
  closed: "closed",
  cancelled: "cancelled",
};
const HAZARD_WORDS = {
  open: "open",
  rectifying: "being rectified",
  rectified: "waiting for its recheck",
  verified: "verified",
  closed: "closed",
};
const TYPE_WORDS = {
  unannounced: "unannounced inspection",
  routine: "routine inspection",
  complaint: "complaint inspection",
  recheck: "recheck visit",
  double_random: "random sampling inspection",
};

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(document.documentElement.lang, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function mb(bytes) {
  return (bytes / 1024 / 1024).toFixed(1);
}

// --------------------------------------------------------------------------- status bar

async function renderStatus() {
  if (!(await store.getMeta("tokens"))) {
    statusBar.hidden = true;
    return;
  }
  statusBar.hidden = false;
  const { outbox } = await localView();
  const waiting = outbox.filter((r) => r.state === "pending").length;
  const rejected = outbox.filter((r) => r.state === "rejected" && !r.seen).length;
  // Photos the server asked for, or cited by a change not sent yet (not one taken and dropped).
  const cited = new Set(outbox.filter((r) => r.state === "pending").flatMap((r) => r.args.photos || []));
  const photos = (await store.photos()).filter((p) => !p.uploaded && (p.missing || cited.has(p.sha256)));
  const failedPhotos = photos.filter((p) => p.failure);
  const last = await store.getMeta("last_sync");
  const auth = await store.getMeta("auth_problem");
  const parts = [
    navigator.onLine
      ? `<span class="online">${esc(t("Online"))}</span>`
      : `<span class="offline">${esc(t("Offline: changes are kept on this phone"))}</span>`,
    `<span data-testid="waiting">${esc(t("Waiting to sync: %(n)s", { n: waiting }))}</span>`,
    `<span data-testid="photos-waiting">${esc(t("Photos to upload: %(n)s", { n: photos.length }))}</span>`,
  ];
  if (rejected) parts.push(`<span class="failed" data-testid="rejected">${esc(t("Refused by the server: %(n)s", { n: rejected }))}</span>`);
  if (failedPhotos.length) parts.push(`<span class="failed">${esc(t("Photo upload failed: %(reason)s", { reason: failedPhotos[0].failure }))}</span>`);
  if (auth) parts.push(`<span class="failed">${esc(t("Signed out by the server; sign in again to sync (nothing recorded is lost)."))}</span>`);
  else if (last && !last.ok && last.kind !== "offline")
    parts.push(`<span class="failed">${esc(t("Last sync failed: %(reason)s", { reason: last.message || last.kind }))}</span>`);
  else if (last?.ok) parts.push(`<span class="muted">${esc(t("Synced %(when)s", { when: when(last.at) }))}</span>`);
  setHtml(statusBar, parts.join(""));
}

// --------------------------------------------------------------------------- sign-in

function renderLogin(error) {
  title.textContent = t("Field inspections");
  setHtml(nav, "");
  screen.html = `
    <form class="card" id="login">
      <h2>${esc(t("Sign in"))}</h2>
      <label for="username">${esc(t("Username"))}</label>
      <input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" required>
      <label for="password">${esc(t("Password"))}</label>
      <input type="password" id="password" name="password" autocomplete="current-password" required>
      ${error ? `<p class="error">${esc(error)}</p>` : ""}
      <div class="footer-actions"><button class="primary" type="submit">${esc(t("Sign in"))}</button></div>
      <p class="muted">${esc(t("After the first sync the app works without a network."))}</p>
    </form>`;
}

async function doLogin(form) {
  if (!navigator.onLine) return renderLogin(t("Signing in needs a network."));
  const username = form.username.value.trim();
  const resp = await login(username, form.password.value, t("Field app on %(device)s", { device: deviceName() })).catch(() => null);
  if (!resp) return renderLogin(t("Signing in needs a network."));
  if (resp.status !== 200) return renderLogin(resp.body?.message || t("Sign-in failed."));
  const previous = await store.getMeta("user");
  if (previous && previous.id !== resp.body.user.id) {
    // Another user's data is on this phone (their login lapsed, nobody signed out): it goes
    // before anything of this user is stored; what it had not sent yet is named first.
    const { n, m } = await unsent();
    if ((n || m) && !confirm(t("This phone still holds another user's data: %(n)s changes and %(m)s photos of theirs have not reached the server and will be deleted from this phone. Sign in anyway?", { n, m }))) {
      await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${resp.body.access_token}` } }).catch(() => null);
      return renderLogin(t("Not signed in: the other user can sign in and sync first."));
    }
    channel.postMessage({ loggedOut: true });
    await store.wipe();
  }
  await store.setMeta("tokens", { ...pick(resp.body), obtained_at: Date.now() });
  await store.setMeta("user", resp.body.user);
  await store.setMeta("auth_problem", null);
  relogin = null;
  if (!(await store.getMeta("client_id"))) {
    await store.setMeta("client_id", crypto.randomUUID());
    await store.setMeta("next_mutation_id", 1);
  }
  try {
    await navigator.storage?.persist?.();
  } catch {
    /* the browser may refuse: the outbox page says so */
  }
  screen.html = `<p class="muted">${esc(t("First sync: downloading your inspections and checklists…"))}</p>`;
  await sync();
  location.hash = "#/";
  await route();
}

function deviceName() {
  const ua = navigator.userAgent;
  if (/MicroMessenger/i.test(ua)) return "WeChat";
  if (/iPhone|iPad/i.test(ua)) return "iPhone";
  if (/Android/i.test(ua)) return "Android";
  return "browser";
}

// --------------------------------------------------------------------------- today's list

function isToday(insp) {
  return ["dispatched", "planned", "in_progress"].includes(insp.status) || insp.status === "submitted";
}

async function renderToday() {
  const v = await localView();
  const user = await store.getMeta("user");
  title.textContent = t("Today's inspections");
  setHtml(nav, `<a href="#/outbox" data-testid="outbox-link">${esc(t("Sync"))}</a>`);
  const all = [...v.by.inspection.values()].filter(isToday);
  const order = { in_progress: 0, dispatched: 1, planned: 2, submitted: 3 };
  all.sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || String(a.window?.end || "").localeCompare(String(b.window?.end || "")));
  const cards = all.map((insp) => {
    const ent = insp.enterprise || v.by.enterprise.get(insp.enterprise_id) || {};
    const sentBack = [...findingsOf(v, insp.id).values()].filter((f) => f.review_status === "needs_info").length;
    return `<a class="card" href="#/i/${esc(insp.id)}" data-testid="inspection" data-id="${esc(insp.id)}">
      <h3>${esc(ent.name || insp.enterprise_id)}</h3>
      <div class="muted">${esc(ent.address || "")}</div>
      <div><span class="tag">${esc(t(TYPE_WORDS[insp.type] || insp.type))}</span><span class="tag ${insp.status === "submitted" ? "ok" : "wait"}">${esc(t(STATUS_WORDS[insp.status] || insp.status))}</span>
      ${sentBack ? `<span class="tag bad">${esc(t("Sent back: %(n)s", { n: sentBack }))}</span>` : ""}</div>
      ${insp.window ? `<div class="muted">${esc(t("Window: %(start)s – %(end)s", { start: when(insp.window.start), end: when(insp.window.end) }))}</div>` : ""}
    </a>`;
  });
  // Hazard tickets in the inspector's scope, those waiting for their recheck first.
  const tickets = [...v.by.hazard.values()].filter((h) => h.status !== "closed");
  tickets.sort((a, b) => (a.status === "rectified" ? 0 : 1) - (b.status === "rectified" ? 0 : 1) || String(a.deadline).localeCompare(String(b.deadline)));
  const ticketCards = tickets.slice(0, 50).map(
    (h) => `<div class="card" data-testid="hazard">
      <h3>${esc(h.number || "")} ${esc(h.enterprise?.name || "")}</h3>
      <div>${esc(h.description || "")}</div>
      <div><span class="tag ${h.status === "rectified" ? "wait" : ""}">${esc(t(HAZARD_WORDS[h.status] || h.status))}</span>${h.grade === "major" ? `<span class="tag bad">${esc(t("major hazard"))}</span>` : ""}${h.overdue ? `<span class="tag bad">${esc(t("overdue"))}</span>` : ""}</div>
      ${h.deadline ? `<div class="muted">${esc(t("Rectify by %(when)s", { when: when(h.deadline) }))}</div>` : ""}
    </div>`,
  );
  screen.html = `
    <p class="muted">${esc(t("Signed in as %(name)s", { name: user?.name || user?.username || "" }))}</p>
    ${cards.join("") || `<p class="card muted">${esc(t("No inspections assigned to you right now."))}</p>`}
    ${ticketCards.length ? `<h2>${esc(t("Hazard tickets"))}</h2>${ticketCards.join("")}` : ""}`;
}

// --------------------------------------------------------------------------- one inspection

function itemState(f, rejection) {
  if (rejection) return `<span class="tag bad">${esc(t("refused"))}</span>`;
  if (!f) return `<span class="tag">${esc(t("not answered"))}</span>`;
  const words = { pass: ["ok", "pass"], fail: ["bad", "fail"], na: ["", "not applicable"] }[f.result] || ["", f.result];
  const sent = f.review_status === "needs_info" ? `<span class="tag bad">${esc(t("sent back"))}</span>` : "";
  return `<span class="tag ${words[0]}">${esc(t(words[1]))}</span>${f.local ? `<span class="tag wait">${esc(t("not synced"))}</span>` : ""}${sent}`;
}

function editable(insp, finding) {
  if (!insp.check_in) return false;
  if (["dispatched", "planned", "in_progress"].includes(insp.status)) return true;
  return finding?.review_status === "needs_info";
}

async function renderInspection(id) {
  const v = await localView();
  const insp = v.by.inspection.get(id);
  if (!insp) return renderMissing();
  const ent = insp.enterprise || v.by.enterprise.get(insp.enterprise_id) || {};
  const checklist = checklistOf(v, insp);
  const findings = findingsOf(v, id);
  const rejections = rejectionsOf(v, id);
  title.textContent = ent.name || t("Inspection");
  setHtml(nav, `<a href="#/">${esc(t("List"))}</a>`);
  const here = insp.check_in?.location;
  const site = ent.location;
  const distance = here && site ? Math.round(distanceM(here, site)) : null;
  const answered = checklist ? checklist.items.filter((i) => findings.has(i.code)).length : 0;
  const sentBack = [...findings.values()].filter((f) => f.review_status === "needs_info");
  // Sent back (needs_info): amend them, then submit again; the server refuses a resubmit while
  // one of them is unchanged (inspection.needs_info_unanswered), shown above like any refusal.
  // A recheck inspection is not submitted: it closes once every ticket has its result.
  const canSubmit = insp.type !== "recheck" && insp.check_in && (["dispatched", "in_progress"].includes(insp.status) || sentBack.length > 0);
  screen.html = `
    <div class="card">
      <h2>${esc(ent.name || "")}</h2>
      <div>${esc(ent.address || "")}</div>
      <div><span class="tag">${esc(t(TYPE_WORDS[insp.type] || insp.type))}</span><span class="tag">${esc(t(STATUS_WORDS[insp.status] || insp.status))}</span></div>
      ${insp.window ? `<div class="muted">${esc(t("Window: %(start)s – %(end)s", { start: when(insp.window.start), end: when(insp.window.end) }))}</div>` : ""}
      ${
        insp.check_in
          ? `<p class="note" data-testid="checked-in">${esc(t("Checked in %(when)s", { when: when(insp.check_in.at) }))}${
              distance !== null ? `，${esc(t("%(m)s m from the registered site", { m: distance }))}` : ""
            }</p>`
          : `<div class="footer-actions"><button class="primary" data-action="check-in" data-id="${esc(id)}">${esc(t("Check in here"))}</button></div>
             <p class="muted">${esc(t("Check-in records this phone's location and its distance to the site."))}</p>`
      }
      ${flash?.where === "inspection" ? `<p class="error">${esc(flash.message)}</p>` : ""}
    </div>
    ${documentsCard(v, insp)}
    ${rejections.inspection ? `<p class="error" data-testid="submit-refused">${esc(t("The server refused this: %(message)s", { message: rejections.inspection.message }))}</p>` : ""}
    ${
      insp.type === "recheck"
        ? recheckList(v, insp)
        : checklist
        ? `<div class="card"><h3>${esc(checklist.name)}</h3>
           <div class="muted">${esc(t("%(done)s of %(total)s items answered", { done: answered, total: checklist.items.length }))}</div>
           <ul class="items">${checklist.items
             .map((item, n) => {
               const f = findings.get(item.code);
               const r = rejections.byItem.get(item.code);
               return `<li><a href="#/i/${esc(id)}/${n}" data-testid="item" data-code="${esc(item.code)}"><span class="code">${esc(item.code)}</span><span class="what">${esc(item.text)}
                 ${r ? `<br><span class="error" data-testid="item-refusal">${esc(r.message)}</span>` : ""}</span><span>${itemState(f, r)}</span></a></li>`;
             })
             .join("")}</ul></div>`
        : `<p class="card muted">${esc(t("The checklist of this inspection is not on this phone yet; sync first."))}</p>`
    }
    ${flash?.where === "submit" ? `<p class="error" data-testid="submit-check">${esc(flash.message)}</p>` : ""}
    ${canSubmit ? `<div class="footer-actions"><button class="primary" data-action="submit" data-id="${esc(id)}">${esc(sentBack.length ? t("Submit the amended findings") : t("Submit the inspection"))}</button></div>` : ""}`;
  flash = null;
}

function renderMissing() {
  screen.html = `<p class="card">${esc(t("This inspection is no longer on this phone (it was withdrawn or reassigned)."))} <a href="#/">${esc(t("List"))}</a></p>`;
}

async function checkIn(id) {
  const v = await localView();
  const insp = v.by.inspection.get(id);
  let position;
  try {
    position = await new Promise((resolve, reject) =>
      navigator.geolocation.getCurrentPosition(resolve, reject, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }),
    );
  } catch {
    flash = { where: "inspection", message: t("The phone's location is not available; allow location for this site and try again.") };
    return route();
  }
  const location = {
    lat: Number(position.coords.latitude.toFixed(6)),
    lon: Number(position.coords.longitude.toFixed(6)),
    accuracy: Math.round(position.coords.accuracy || 0),
  };
  await store.enqueue("inspection.check_in", { inspection_id: insp.id, at: new Date().toISOString(), location });
  changed();
}

async function submit(id) {
  const v = await localView();
  const insp = v.by.inspection.get(id);
  const checklist = checklistOf(v, insp);
  const refusal = checklist && submitRefusal(checklist, findingsOf(v, id));
  if (refusal) {
    flash = { where: "submit", message: refusal.message };
    return route();
  }
  await store.enqueue("inspection.submit", { inspection_id: id, at: new Date().toISOString() });
  changed();
}

// --------------------------------------------------------------------------- recheck visits

// The tickets a recheck inspection covers (the feed's recheck_hazard_ids), each with its order
// and, once recorded on this phone or by the server, its result.
function recheckTicketState(h) {
  if (h.local_recheck) {
    const word = h.local_recheck === "pass" ? ["ok", "recheck passed"] : ["bad", "recheck failed"];
    return `<span class="tag ${word[0]}">${esc(t(word[1]))}</span><span class="tag wait">${esc(t("not synced"))}</span>`;
  }
  return `<span class="tag ${h.status === "verified" || h.status === "closed" ? "ok" : "wait"}">${esc(t(HAZARD_WORDS[h.status] || h.status))}</span>`;
}

function recheckList(v, insp) {
  const ids = insp.recheck_hazard_ids || [];
  const rows = ids.map((hid) => {
    const h = v.by.hazard.get(hid);
    if (!h) return `<li><span class="muted">${esc(t("This ticket is not on this phone yet; sync first."))}</span></li>`;
    return `<li><a href="#/r/${esc(insp.id)}/${esc(hid)}" data-testid="recheck-ticket" data-id="${esc(hid)}"><span class="code">${esc(h.number || "")}</span><span class="what">${esc(h.description || "")}
      ${h.deadline ? `<br><span class="muted">${esc(t("Rectify by %(when)s", { when: when(h.deadline) }))}</span>` : ""}
      ${h.rejection ? `<br><span class="error" data-testid="recheck-refusal">${esc(h.rejection)}</span>` : ""}</span><span>${recheckTicketState(h)}</span></a></li>`;
  });
  return `<div class="card" data-testid="recheck-list"><h3>${esc(t("Tickets to recheck"))}</h3>
    <ul class="items">${rows.join("") || `<li class="muted">${esc(t("No tickets on this visit."))}</li>`}</ul></div>`;
}

async function hazardPhotos(shas) {
  return Promise.all(
    (shas || []).map(async (sha) => {
      const row = await store.photo(sha);
      if (!row?.blob) return `<span class="chip">${esc(t("on the server"))}</span>`;
      return `<img alt="${esc(t("photo"))}" data-sha="${esc(sha)}" src="${photoUrl(sha, row.blob)}">`;
    }),
  );
}

async function renderRecheck(id, hid) {
  const v = await localView();
  const insp = v.by.inspection.get(id);
  const h = v.by.hazard.get(hid);
  if (!insp || !h) return renderMissing();
  const shown = document.querySelector("[data-testid=recheck-page]");
  if (draft && shown?.dataset.id === hid && draft.hazardId === hid) readDraft();
  if (!draft || draft.hazardId !== hid) draft = { hazardId: hid, inspectionId: id, result: null, note: "", photos: [], error: null };
  const can = Boolean(insp.check_in) && !h.local_recheck && ["open", "rectifying", "rectified"].includes(h.status);
  title.textContent = h.number || t("Recheck");
  setHtml(nav, `<a href="#/i/${esc(id)}">${esc(t("Inspection"))}</a>`);
  const ordered = await hazardPhotos(h.photos);
  const mine = await hazardPhotos(draft.photos);
  screen.html = `
    <div class="card" data-testid="recheck-page" data-id="${esc(hid)}">
      <div><span class="tag">${esc(t(HAZARD_WORDS[h.status] || h.status))}</span>${h.grade === "major" ? `<span class="tag bad">${esc(t("major hazard"))}</span>` : ""}${h.overdue ? `<span class="tag bad">${esc(t("overdue"))}</span>` : ""}</div>
      <h2>${esc(h.description || "")}</h2>
      ${h.deadline ? `<p data-testid="recheck-deadline">${esc(t("Rectify by %(when)s", { when: when(h.deadline) }))}</p>` : ""}
      ${
        h.basis
          ? `<details class="basis"><summary>${esc(t("Legal basis"))}</summary>
             <p><strong>${esc(h.basis.document || "")}</strong> ${esc(h.basis.number || "")} ${esc(h.basis.article || "")}</p>
             <p class="muted">${esc(h.basis.text || "")}</p></details>`
          : ""
      }
      <label>${esc(t("Photos of the hazard"))}</label>
      <div class="photos" data-testid="hazard-photos">${ordered.join("") || `<span class="muted">${esc(t("none"))}</span>`}</div>
      ${h.rejection ? `<p class="error" data-testid="recheck-refusal">${esc(t("The server refused this: %(message)s", { message: h.rejection }))}</p>` : ""}
      ${h.local_recheck ? `<p class="note">${esc(t("Recheck result recorded; it reaches the server with the next sync."))}</p>` : ""}
      ${
        can
          ? `<div class="answers">${[["pass", t("rectified: pass")], ["fail", t("not rectified: fail")]]
              .map(([r, word]) => `<button type="button" data-action="recheck-answer" data-result="${r}" class="${draft.result === r ? "chosen" : ""}">${esc(word)}</button>`)
              .join("")}</div>
             <label for="note">${esc(t("Note"))}</label>
             <textarea id="note">${esc(draft.note)}</textarea>
             <label>${esc(t("Photos"))}</label>
             <div class="photos" data-testid="photos">${mine.join("")}</div>
             <label class="button" for="photo-input">${esc(t("Take a photo"))}</label>
             <input type="file" id="photo-input" accept="image/*" capture="environment" hidden>
             ${draft.error ? `<p class="error" data-testid="item-check">${esc(draft.error)}</p>` : ""}
             <div class="footer-actions"><button type="button" class="primary" data-action="recheck-save">${esc(t("Save"))}</button></div>`
          : insp.check_in
            ? ""
            : `<p class="muted">${esc(t("Check in on site before answering."))}</p>`
      }
    </div>`;
}

async function saveRecheck() {
  readDraft();
  if (!draft.result) {
    draft.error = t("Choose pass or fail.");
    return route();
  }
  if (!draft.note.trim()) {
    draft.error = t("Write what you found.");
    return route();
  }
  if (draft.result === "pass" && !draft.photos.length) {
    draft.error = t("A passed re-inspection needs photo proof.");
    return route();
  }
  const { hazardId, inspectionId } = draft;
  await store.enqueue("hazard.recheck", {
    hazard_id: hazardId,
    inspection_id: inspectionId,
    result: draft.result,
    note: draft.note.trim(),
    photos: draft.photos,
    at: new Date().toISOString(),
  });
  draft = null;
  location.hash = `#/i/${inspectionId}`;
  changed();
}

// --------------------------------------------------------------------------- signatures

const ROLE_WORDS = { representative: "enterprise representative", inspector: "inspector" };

// The 现场检查记录 from the feed, and the signatures this phone has captured for it.
function recordOf(insp) {
  return (insp.documents || []).find((d) => d.kind === "inspection_record") || null;
}

function signaturesOf(v, insp) {
  const ids = new Set((insp.documents || []).map((d) => d.id));
  return v.outbox.filter((r) => r.name === "document.sign" && (ids.has(r.args.document_id) || r.inspection_id === insp.id));
}

function documentsCard(v, insp) {
  const doc = recordOf(insp);
  if (!doc) return "";
  const rows = signaturesOf(v, insp).map(
    (r) => `<li data-testid="signature" data-state="${esc(r.state)}">${esc(t(ROLE_WORDS[r.args.role]))}：${esc(r.args.signer_name)}
      ${r.args.refused ? `（${esc(t("refused to sign; witness: %(name)s", { name: r.args.witness_name || "" }))}）` : ""}
      <span class="tag ${r.state === "applied" ? "ok" : r.state === "rejected" ? "bad" : "wait"}">${esc(t(STATE_WORDS[r.state] || r.state))}</span>
      ${r.state === "rejected" ? `<br><span class="error">${esc(r.message || r.code)}</span>` : ""}</li>`,
  );
  return `<div class="card" data-testid="document" data-id="${esc(doc.id)}">
    <h3>${esc(doc.title || t("On-site inspection record"))}</h3>
    <div class="muted">${esc(doc.number || "")} · ${esc(t("version %(n)s", { n: doc.version }))}</div>
    ${rows.length ? `<ul>${rows.join("")}</ul>` : ""}
    ${insp.check_in ? `<div class="footer-actions"><a class="button" href="#/s/${esc(insp.id)}" data-testid="sign-link">${esc(t("Sign the record"))}</a></div>` : ""}
  </div>`;
}

let pad = null;

async function renderSign(id) {
  const v = await localView();
  const insp = v.by.inspection.get(id);
  const doc = insp && recordOf(insp);
  if (!doc) return renderMissing();
  const user = await store.getMeta("user");
  const ent = insp.enterprise || v.by.enterprise.get(insp.enterprise_id) || {};
  title.textContent = doc.title || t("On-site inspection record");
  setHtml(nav, `<a href="#/i/${esc(id)}">${esc(t("Inspection"))}</a>`);
  if (document.querySelector("[data-testid=sign-page]")?.dataset.id === doc.id && pad) return;
  screen.html = `
    <div class="card" data-testid="sign-page" data-id="${esc(doc.id)}">
      <h2>${esc(ent.name || "")}</h2>
      <div class="muted">${esc(doc.number || "")}</div>
      <label for="role">${esc(t("Who signs"))}</label>
      <select id="role">
        <option value="representative">${esc(t("enterprise representative"))}</option>
        <option value="inspector">${esc(t("inspector"))}（${esc(user?.name || user?.username || "")}）</option>
      </select>
      <label for="signer">${esc(t("Name of the signer"))}</label>
      <input type="text" id="signer" autocomplete="off">
      <label>${esc(t("Sign here"))}</label>
      <canvas id="pad" data-testid="pad" width="600" height="240" style="width:100%;height:180px;border:1px solid #ccc;border-radius:8px;touch-action:none;background:#fff"></canvas>
      <div class="footer-actions"><button type="button" data-action="pad-clear">${esc(t("Clear"))}</button></div>
      <label><input type="checkbox" id="refused"> ${esc(t("The representative refuses to sign"))}</label>
      <label for="witness">${esc(t("Witness's name"))}</label>
      <input type="text" id="witness" autocomplete="off">
      <p class="error" id="sign-check" data-testid="sign-check" hidden></p>
      <div class="footer-actions"><button type="button" class="primary" data-action="sign-save" data-id="${esc(id)}">${esc(t("Save the signature"))}</button></div>
    </div>`;
  const role = document.getElementById("role");
  const signer = document.getElementById("signer");
  role.addEventListener("change", () => {
    if (role.value === "inspector") signer.value = user?.name || user?.username || "";
  });
  pad = drawingPad(document.getElementById("pad"));
}

// Strokes drawn with a finger or a pen (pointer events), kept on the canvas.
function drawingPad(canvas) {
  const ctx = canvas.getContext("2d");
  ctx.lineWidth = 4;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#111";
  const state = { drawn: false, last: null };
  const at = (e) => {
    const box = canvas.getBoundingClientRect();
    return [((e.clientX - box.left) * canvas.width) / box.width, ((e.clientY - box.top) * canvas.height) / box.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture?.(e.pointerId);
    state.last = at(e);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!state.last) return;
    const p = at(e);
    ctx.beginPath();
    ctx.moveTo(...state.last);
    ctx.lineTo(...p);
    ctx.stroke();
    state.last = p;
    state.drawn = true;
  });
  const end = () => {
    state.last = null;
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  return {
    get drawn() {
      return state.drawn;
    },
    clear() {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      state.drawn = false;
    },
    png: () => new Promise((resolve) => canvas.toBlob(resolve, "image/png")),
  };
}

function signCheck(message) {
  const el = document.getElementById("sign-check");
  el.textContent = message;
  el.hidden = false;
}

async function here(fallback) {
  try {
    const p = await new Promise((resolve, reject) =>
      navigator.geolocation.getCurrentPosition(resolve, reject, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }),
    );
    return { lat: Number(p.coords.latitude.toFixed(6)), lon: Number(p.coords.longitude.toFixed(6)), accuracy: Math.round(p.coords.accuracy || 0) };
  } catch {
    return fallback ? { lat: fallback.lat, lon: fallback.lon } : null;
  }
}

async function saveSignature(id) {
  const v = await localView();
  const insp = v.by.inspection.get(id);
  const doc = recordOf(insp);
  const role = document.getElementById("role").value;
  const name = document.getElementById("signer").value.trim();
  const refused = role === "representative" && document.getElementById("refused").checked;
  const witness = document.getElementById("witness").value.trim();
  if (!name) return signCheck(t("Write the signer's name."));
  if (refused && !witness) return signCheck(t("A refusal to sign is recorded with the name of its witness."));
  if (!refused && !pad?.drawn) return signCheck(t("Sign in the box first."));
  const blob = refused ? null : await pad.png();
  if (blob && blob.size > 256 * 1024) return signCheck(t("The signature image is too large; clear it and sign again."));
  const ent = insp.enterprise || v.by.enterprise.get(insp.enterprise_id) || {};
  const args = {
    document_id: doc.id,
    role,
    signer_name: name,
    signed_at: new Date().toISOString(),
    place: ent.address || null,
  };
  const where = await here(insp.check_in?.location);
  if (where) args.location = where;
  if (refused) {
    args.refused = true;
    args.witness_name = witness;
  }
  await store.enqueue("document.sign", args, { inspection_id: id, ...(blob ? { image_blob: blob } : {}) });
  pad = null;
  location.hash = `#/i/${id}`;
  changed();
}

// --------------------------------------------------------------------------- one item

async function renderItem(id, n) {
  const v = await localView();
  const insp = v.by.inspection.get(id);
  if (!insp) return renderMissing();
  const checklist = checklistOf(v, insp);
  const item = checklist?.items[n];
  if (!item) {
    location.hash = `#/i/${id}`;
    return;
  }
  const finding = findingsOf(v, id).get(item.code);
  const rejection = rejectionsOf(v, id).byItem.get(item.code);
  // A redraw (a sync finished, the network came back) keeps what is being typed.
  const shown = document.querySelector("[data-testid=item-page]");
  if (draft && shown?.dataset.code === draft.code && draft.inspectionId === id) readDraft();
  if (!draft || draft.inspectionId !== id || draft.code !== item.code) {
    draft = {
      inspectionId: id,
      code: item.code,
      result: finding?.result || null,
      value: finding?.value ?? null,
      note: finding?.note || "",
      photos: [...(finding?.photos || [])],
      error: null,
    };
  }
  const can = editable(insp, finding);
  title.textContent = `${item.code}（${n + 1}/${checklist.items.length}）`;
  setHtml(nav, `<a href="#/i/${esc(id)}">${esc(t("Checklist"))}</a>`);
  const range = item.unit
    ? t("Compliant range: %(span)s", { span: `${item.min ?? "…"}–${item.max ?? "…"} ${item.unit}` })
    : "";
  const choices = [
    ["pass", t("pass")],
    ["fail", t("fail")],
    ...(item.na_allowed === false ? [] : [["na", t("not applicable")]]),
  ];
  const thumbs = await Promise.all(
    draft.photos.map(async (sha) => {
      const row = await store.photo(sha);
      if (!row?.blob) return `<span class="chip">${esc(t("on the server"))}</span>`;
      return `<img alt="${esc(t("photo"))}" data-sha="${esc(sha)}" src="${photoUrl(sha, row.blob)}">`;
    }),
  );
  screen.html = `
    <div class="card" data-testid="item-page" data-code="${esc(item.code)}">
      <div class="muted">${esc(item.category || "")}${item.grade === "major" ? ` · <span class="tag bad">${esc(t("major hazard if failed"))}</span>` : ""}</div>
      <h2>${esc(item.text)}</h2>
      ${
        item.basis
          ? `<details class="basis"><summary>${esc(t("Legal basis"))}</summary>
             <p><strong>${esc(item.basis.document)}</strong> ${esc(item.basis.number || "")} ${esc(item.basis.article || "")}</p>
             <p class="muted">${esc(item.basis.text || "")}</p></details>`
          : ""
      }
      ${item.requires_photo ? `<p class="muted">${esc(t("A fail on this item needs a photo."))}</p>` : ""}
      ${finding?.review_status === "needs_info" ? `<p class="note" data-testid="review-comment">${esc(t("Sent back by the supervisor: %(comment)s", { comment: finding.review_comment || "" }))}</p>` : ""}
      ${rejection ? `<p class="error" data-testid="item-refusal">${esc(t("The server refused this: %(message)s", { message: rejection.message }))}</p>` : ""}
      <div class="answers">${choices
        .map(([r, word]) => `<button type="button" data-action="answer" data-result="${r}" class="${draft.result === r ? "chosen" : ""}" ${can ? "" : "disabled"}>${esc(word)}</button>`)
        .join("")}</div>
      ${
        item.unit
          ? `<label for="value">${esc(t("Measured value (%(unit)s)", { unit: item.unit }))}</label>
             <input type="number" inputmode="decimal" step="any" id="value" value="${draft.value ?? ""}" ${can ? "" : "disabled"}>
             <div class="muted">${esc(range)}</div>`
          : ""
      }
      <label for="note">${esc(t("Note"))}</label>
      <textarea id="note" ${can ? "" : "disabled"}>${esc(draft.note)}</textarea>
      <label>${esc(t("Photos"))}</label>
      <div class="photos" data-testid="photos">${thumbs.join("")}</div>
      ${can ? `<label class="button" for="photo-input">${esc(t("Take a photo"))}</label>
      <input type="file" id="photo-input" accept="image/*" capture="environment" hidden>` : ""}
      ${draft.error ? `<p class="error" data-testid="item-check">${esc(draft.error)}</p>` : ""}
      ${can ? "" : `<p class="muted">${insp.check_in ? esc(t("This inspection is submitted; its findings are locked.")) : esc(t("Check in on site before answering."))}</p>`}
    </div>
    <div class="footer-actions">
      ${n > 0 ? `<button type="button" data-action="go" data-to="${n - 1}">${esc(t("Previous"))}</button>` : ""}
      ${can ? `<button type="button" class="primary" data-action="save" data-next="${n + 1 < checklist.items.length ? n + 1 : ""}">${esc(n + 1 < checklist.items.length ? t("Save and next") : t("Save"))}</button>` : ""}
      ${!can && n + 1 < checklist.items.length ? `<button type="button" data-action="go" data-to="${n + 1}">${esc(t("Next"))}</button>` : ""}
    </div>`;
}

function readDraft() {
  const value = document.getElementById("value");
  const note = document.getElementById("note");
  if (value) draft.value = value.value.trim() === "" ? null : Number(value.value);
  if (note) draft.note = note.value;
}

async function save(next) {
  readDraft();
  const [id, n] = parseRoute().args;
  const v = await localView();
  const insp = v.by.inspection.get(id);
  const checklist = checklistOf(v, insp);
  const item = checklist.items[Number(n)];
  if (!draft.result) {
    draft.error = t("Choose pass, fail or not applicable.");
    return route();
  }
  if (draft.value !== null && !Number.isFinite(draft.value)) {
    draft.error = t("The measured value must be a number.");
    return route();
  }
  const refusal = answerRefusal(item, draft.result, draft.result === "na" ? null : draft.value);
  if (refusal) {
    draft.error = refusal.message;
    return route();
  }
  const finding = findingsOf(v, id).get(item.code);
  const args = {
    id: finding?.id || crypto.randomUUID(),
    inspection_id: id,
    item_code: item.code,
    result: draft.result,
    note: draft.note,
    photos: draft.photos,
    recorded_at: new Date().toISOString(),
  };
  if (item.unit) args.value = draft.result === "na" ? null : draft.value;
  if (item.unit && args.value === null) delete args.value;
  if (insp.check_in?.location) args.location = { lat: insp.check_in.location.lat, lon: insp.check_in.location.lon };
  await store.enqueue("finding.put", args);
  draft = null;
  location.hash = next === "" ? `#/i/${id}` : `#/i/${id}/${next}`;
  changed();
}

async function addPhoto(file) {
  readDraft();
  const sha = await store.addPhoto(file);
  if (!draft.photos.includes(sha)) draft.photos.push(sha);
  draft.error = null;
  await route();
}

// --------------------------------------------------------------------------- outbox and storage

const MUTATION_WORDS = {
  "inspection.check_in": "check-in",
  "finding.put": "finding",
  "finding.delete": "finding deleted",
  "inspection.submit": "submit",
  "hazard.recheck": "recheck result",
  "document.sign": "signature",
};
const STATE_WORDS = { pending: "waiting", applied: "accepted", rejected: "refused" };

async function renderOutbox() {
  const v = await localView();
  title.textContent = t("Sync");
  setHtml(nav, `<a href="#/">${esc(t("List"))}</a>`);
  const estimate = (await navigator.storage?.estimate?.()) || {};
  const persisted = (await navigator.storage?.persisted?.()) || false;
  const photos = await store.photos();
  const rows = [...v.outbox].sort((a, b) => b.id - a.id).slice(0, 100);
  screen.html = `
    <div class="card">
      <h3>${esc(t("On this phone"))}</h3>
      <p data-testid="storage">${esc(t("Stored: %(used)s MB of %(quota)s MB the browser allows.", { used: mb(estimate.usage || 0), quota: mb(estimate.quota || 0) }))}</p>
      ${persisted ? `<p class="muted">${esc(t("Storage is persistent: the browser will not clear it on its own."))}</p>` : `<p class="error">${esc(t("Storage is not persistent: the browser may clear it when space runs low. Sync soon, or install the app to the home screen."))}</p>`}
      <p class="muted">${esc(t("%(n)s photos kept, %(m)s waiting to upload.", { n: photos.length, m: photos.filter((p) => !p.uploaded).length }))}</p>
      <div class="footer-actions"><button type="button" data-action="sync">${esc(t("Sync now"))}</button><button type="button" data-action="logout">${esc(t("Sign out"))}</button></div>
      ${(await store.getMeta("auth_problem")) ? `<div class="footer-actions"><button type="button" class="primary" data-action="relogin">${esc(t("Sign in again"))}</button></div>` : ""}
      ${flash?.where === "outbox" ? `<p class="error">${esc(flash.message)}</p>` : ""}
    </div>
    <div class="card"><h3>${esc(t("Outbox"))}</h3>
    <table class="outbox" data-testid="outbox">${rows
      .map(
        (r) => `<tr data-state="${esc(r.state)}"><td>#${r.id}</td><td>${esc(t(MUTATION_WORDS[r.name] || r.name))} ${esc(r.args.item_code || "")}<br><span class="muted">${esc(when(r.created_at))}</span>${
          r.state === "rejected" ? `<br><span class="error">${esc(r.message || r.code)}</span>` : ""
        }</td><td><span class="tag ${r.state === "applied" ? "ok" : r.state === "rejected" ? "bad" : "wait"}">${esc(t(STATE_WORDS[r.state] || r.state))}</span></td></tr>`,
      )
      .join("") || `<tr><td class="muted">${esc(t("Nothing recorded yet."))}</td></tr>`}</table></div>`;
  flash = null;
}

async function logout() {
  await sync();
  const waiting = (await store.outbox()).filter((r) => r.state === "pending").length;
  const photos = (await store.photos()).filter((p) => !p.uploaded && p.missing).length;
  if ((waiting || photos) && !confirm(t("%(n)s changes and %(m)s photos have not reached the server; signing out deletes them from this phone. Sign out anyway?", { n: waiting, m: photos }))) {
    return;
  }
  const tokens = await store.getMeta("tokens");
  if (tokens && navigator.onLine) {
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${tokens.access_token}` } }).catch(() => null);
  }
  channel.postMessage({ loggedOut: true });
  await store.wipe();
  location.hash = "#/";
  await route();
}

// Changes not sent yet, and photos the server asked for or a change not sent yet cites (as the
// status bar counts them).
async function unsent() {
  const outbox = await store.outbox();
  const pending = outbox.filter((r) => r.state === "pending");
  const cited = new Set(pending.flatMap((r) => r.args.photos || []));
  const photos = (await store.photos()).filter((p) => !p.uploaded && (p.missing || cited.has(p.sha256)));
  return { n: pending.length, m: photos.length };
}

// --------------------------------------------------------------------------- a revoked device

// The server answered auth.revoked: this device may no longer sync, so what it holds can never be
// sent. It is deleted at once, before the warning is acknowledged (a lost phone must not keep
// showing the data to whoever holds it); the warning, with the counts, waits in localStorage
// until the inspector taps 我知道了, and shows in every tab and after a reload.
const REVOKED = "fieldsafe-revoked";

async function forgetRevoked() {
  const counts = await unsent();
  localStorage.setItem(REVOKED, JSON.stringify(counts));
  channel.postMessage({ loggedOut: true });
  await store.wipe();
  relogin = null;
  draft = null;
}

function renderRevoked(counts) {
  title.textContent = t("Field inspections");
  setHtml(nav, "");
  statusBar.hidden = true;
  setHtml(statusBar, "");
  screen.html = `
    <div class="card" data-testid="revoked" data-changes="${Number(counts.n) || 0}" data-photos="${Number(counts.m) || 0}">
      <h2>${esc(t("This device was revoked"))}</h2>
      <p class="error">${esc(t("The server no longer accepts this device, so nothing more can be sent from it. %(n)s changes and %(m)s photos that had not reached the server were deleted from this phone with everything else stored on it.", { n: Number(counts.n) || 0, m: Number(counts.m) || 0 }))}</p>
      <p class="muted">${esc(t("Tell your team leader what was lost; after signing in again it has to be recorded anew."))}</p>
      <div class="footer-actions"><button type="button" class="primary" data-action="revoked-ack">${esc(t("Understood"))}</button></div>
    </div>`;
}

function revokedNotice() {
  try {
    return JSON.parse(localStorage.getItem(REVOKED) || "null");
  } catch {
    return { n: 0, m: 0 };
  }
}

// --------------------------------------------------------------------------- routing

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  return { name: parts[0] || "", args: parts.slice(1) };
}

async function route() {
  if ((await store.getMeta("auth_problem")) === "auth.revoked") await forgetRevoked();
  const notice = revokedNotice();
  if (notice) return renderRevoked(notice);
  await renderStatus();
  if (relogin || !(await store.getMeta("tokens"))) return renderLogin(relogin);
  const { name, args } = parseRoute();
  if (name === "i" && args.length === 2) return renderItem(args[0], Number(args[1]));
  if (name === "i") {
    draft = null;
    return renderInspection(args[0]);
  }
  if (name === "r" && args.length === 2) return renderRecheck(args[0], args[1]);
  if (name === "s") return renderSign(args[0]);
  pad = null;
  if (name === "outbox") return renderOutbox();
  return renderToday();
}

// While a round of sync and its redraw run, <body data-syncing> says so (tests wait on it).
let busy = 0;
async function whileBusy(work) {
  busy += 1;
  document.body.dataset.syncing = "1";
  try {
    return await work();
  } finally {
    busy -= 1;
    if (!busy) delete document.body.dataset.syncing;
  }
}

const sync = () => whileBusy(syncNow);

// Every redraw, however it was triggered (a sync round, another tab, the network), is one link
// of this chain and counts as busy from the moment it is asked for until it has painted.
let routing = Promise.resolve();
function rerender() {
  return whileBusy(() => {
    routing = routing.then(route).catch((err) => console.warn(err));
    return routing;
  });
}

function changed() {
  return whileBusy(async () => {
    await rerender();
    await syncNow();
    await rerender();
  });
}

document.addEventListener("click", async (event) => {
  const el = event.target.closest("[data-action]");
  if (!el || el.disabled) return;
  const action = el.dataset.action;
  if (action === "answer") {
    // In place, not redrawn: what is being typed in the value or the note stays.
    draft.result = el.dataset.result;
    draft.error = null;
    for (const b of document.querySelectorAll("[data-action=answer]")) b.classList.toggle("chosen", b === el);
    document.querySelector("[data-testid=item-check]")?.remove();
  } else if (action === "recheck-answer") {
    draft.result = el.dataset.result;
    draft.error = null;
    for (const b of document.querySelectorAll("[data-action=recheck-answer]")) b.classList.toggle("chosen", b === el);
    document.querySelector("[data-testid=item-check]")?.remove();
  } else if (action === "recheck-save") await saveRecheck();
  else if (action === "pad-clear") pad?.clear();
  else if (action === "sign-save") await saveSignature(el.dataset.id);
  else if (action === "save") await save(el.dataset.next);
  else if (action === "go") {
    readDraft();
    location.hash = `#/i/${parseRoute().args[0]}/${el.dataset.to}`;
  } else if (action === "check-in") await checkIn(el.dataset.id);
  else if (action === "submit") await submit(el.dataset.id);
  else if (action === "sync") await changed();
  else if (action === "logout") await logout();
  else if (action === "revoked-ack") {
    localStorage.removeItem(REVOKED);
    location.hash = "#/";
    await rerender();
  }
  else if (action === "relogin") {
    relogin = t("Signed out by the server; sign in again to sync (nothing recorded is lost).");
    renderLogin(relogin);
  }
});

document.addEventListener("change", (event) => {
  if (event.target.id === "photo-input" && event.target.files?.[0]) addPhoto(event.target.files[0]);
});

document.addEventListener("submit", (event) => {
  if (event.target.id === "login") {
    event.preventDefault();
    doLogin(event.target);
  }
});

statusBar.addEventListener("click", () => {
  location.hash = "#/outbox";
});

window.addEventListener("hashchange", rerender);
listeners.add(() => rerender());
window.addEventListener("online", changed);
window.addEventListener("offline", rerender);
channel.onmessage = (event) => {
  if (event.data?.loggedOut) location.reload();
  else if (event.data?.changed) rerender();
};

async function start() {
  const languages = (script.dataset.languages || "zh").split(",");
  performance.mark("fieldapp:start");
  await loadTexts(chooseLanguage(languages, script.dataset.defaultLanguage || "zh"), VERSION);
  performance.mark("fieldapp:texts");
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch((err) => console.warn(err));
  }
  await rerender();
  document.body.dataset.ready = "1";
  performance.mark("fieldapp:ready");
  if (navigator.onLine) changed();
  setInterval(() => navigator.onLine && whileBusy(async () => {
    await syncNow();
    await rerender();
  }), 60000);
}

start();
