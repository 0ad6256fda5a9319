// The sync loop of docs/sync.md, as sync/client.py does it: push the outbox in batches until it
// is empty, upload the photos the server misses (tus, resumable), pull until has_more is false.
// One tab at a time drains (Web Locks); the others are told when it is done.
import * as tus from "tus-js-client";
import { call, Offline } from "./api.js";
import * as store from "./store.js";

const PUSH_BATCH = 200;
const PULL_LIMIT = 500;
const MAX_ATTEMPTS = 6;
export const channel = new BroadcastChannel("fieldsafe");

export class SyncProblem extends Error {
  constructor(kind, detail = {}) {
    super(kind);
    this.kind = kind;
    Object.assign(this, detail);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function backoff(attempt, retryAfter) {
  let delay = Math.min(30, 0.25 * 2 ** attempt) * (0.5 + 0.5 * Math.random());
  const asked = Number(retryAfter);
  if (retryAfter && Number.isFinite(asked)) delay = Math.max(delay, Math.min(30, asked));
  return delay * 1000;
}

// A request repeated on 429 and 5xx with exponential backoff and jitter (safe: replays).
async function request(method, path, options) {
  for (let attempt = 0; ; attempt += 1) {
    const resp = await call(method, path, options);
    if (resp.status === 401) {
      throw new SyncProblem(resp.body?.code === "auth.revoked" ? "revoked" : "signed_out", { body: resp.body });
    }
    if (resp.status !== 429 && resp.status < 500) return resp;
    if (attempt + 1 >= MAX_ATTEMPTS) throw new SyncProblem("server", { status: resp.status, body: resp.body });
    await sleep(backoff(attempt, resp.headers.get("Retry-After")));
  }
}

// A signature's PNG waits in IndexedDB as a Blob; document.sign carries it as base64.
async function wireArgs(row) {
  if (!row.image_blob) return row.args;
  const bytes = new Uint8Array(await row.image_blob.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { ...row.args, image: btoa(binary) };
}

async function push(report) {
  let stalls = 0;
  for (;;) {
    const batch = await store.pending(PUSH_BATCH);
    if (!batch.length) return;
    const body = {
      client_id: await store.getMeta("client_id"),
      mutations: await Promise.all(batch.map(async (r) => ({ id: r.id, name: r.name, args: await wireArgs(r) }))),
    };
    const resp = await request("POST", "/api/v1/sync/push", { json: body });
    if (resp.status === 409 && resp.body?.code === "sync.mutation_gap") {
      report.gaps += 1;
      if (++stalls > 3 || !(await store.resendFrom(Number(resp.body.expected_id)))) {
        throw new SyncProblem("gap", { body: resp.body });
      }
      continue;
    }
    if (resp.status === 409 && resp.body?.code === "sync.client_taken") {
      if (++stalls > 3) throw new SyncProblem("refused", { body: resp.body });
      await store.takeNewClientId();
      continue;
    }
    if (resp.status !== 200) throw new SyncProblem("refused", { status: resp.status, body: resp.body });
    const settled = await store.acknowledge(resp.body);
    report.pushed += batch.length;
    stalls = settled ? 0 : stalls + 1;
    if (stalls > 3) throw new SyncProblem("stuck", { body: resp.body });
  }
}

function tusUpload(row) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(row.blob, {
      endpoint: "/api/v1/media/uploads",
      metadata: { sha256: row.sha256, filename: `${row.sha256}.jpg`, content_type: row.type },
      chunkSize: 512 * 1024,
      retryDelays: [0, 1000, 3000, 5000],
      // The photo's own digest names its upload: a tab closed mid-upload resumes it.
      fingerprint: async () => `fieldsafe-${row.sha256}`,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      async onBeforeRequest(req) {
        const tokens = await store.getMeta("tokens");
        if (tokens) req.setHeader("Authorization", `Bearer ${tokens.access_token}`);
      },
      onShouldRetry: () => navigator.onLine,
      onError: reject,
      onSuccess: resolve,
    });
    upload
      .findPreviousUploads()
      .then((previous) => {
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      })
      .catch(reject);
  });
}

async function upload(report) {
  for (const row of await store.photos()) {
    if (row.uploaded || !row.missing) continue;
    if (!navigator.onLine) throw new Offline("offline");
    try {
      await tusUpload(row);
      // The server has the original now: free the phone's space, keep the digest.
      await store.putPhoto({ ...row, blob: null, uploaded: true, missing: false, failure: null });
      report.uploaded += 1;
    } catch (err) {
      const status = err?.originalResponse?.getStatus?.();
      let message = null;
      try {
        message = JSON.parse(err?.originalResponse?.getBody?.() || "null")?.message;
      } catch {
        message = null;
      }
      await store.putPhoto({ ...row, failure: message || (status ? `HTTP ${status}` : "network") });
      report.uploadFailed += 1;
    }
  }
}

async function pull(report) {
  let resets = 0;
  for (;;) {
    const params = new URLSearchParams({ client_id: await store.getMeta("client_id"), limit: PULL_LIMIT });
    const cursor = await store.getMeta("cursor");
    if (cursor) params.set("cursor", cursor);
    const resp = await request("GET", `/api/v1/sync/pull?${params}`);
    if (resp.status === 409 && resp.body?.code === "sync.reset_required") {
      report.resets += 1;
      if (++resets > 3) throw new SyncProblem("refused", { body: resp.body });
      await store.resetCopy();
      continue;
    }
    if (resp.status === 409 && resp.body?.code === "sync.client_taken") {
      await store.takeNewClientId();
      continue;
    }
    if (resp.status !== 200) throw new SyncProblem("refused", { status: resp.status, body: resp.body });
    await store.applyPage(resp.body);
    report.pulled += (resp.body.changes || []).length;
    if (!resp.body.has_more) return;
  }
}

// The photos of the tickets an open recheck visit covers, kept on the phone (the small
// thumbnail, docs/api.md "GET /api/v1/media/{sha256}") so the visit shows them offline.
async function ticketPhotos() {
  const rows = await store.entities();
  const hazards = new Map(rows.filter((r) => r.type === "hazard").map((r) => [r.id, r.data]));
  const wanted = new Set();
  for (const r of rows) {
    if (r.type !== "inspection" || r.data.type !== "recheck" || !["dispatched", "in_progress"].includes(r.data.status)) continue;
    for (const hid of r.data.recheck_hazard_ids || []) for (const sha of hazards.get(hid)?.photos || []) wanted.add(sha);
  }
  for (const sha of wanted) {
    if (await store.photo(sha)) continue;
    const meta = await call("GET", `/api/v1/media/${sha}`);
    const url = meta.status === 200 ? meta.body?.thumbnails?.small || meta.body?.original_url : null;
    if (!url) continue;
    const resp = await fetch(url, { credentials: "omit" });
    if (!resp.ok) continue;
    const blob = await resp.blob();
    await store.putPhoto({ sha256: sha, blob, type: blob.type, size: blob.size, uploaded: true, missing: false, thumbnail: true });
  }
}

let retryTimer = null;
let failures = 0;

let again = false;
// Called after every round, in this tab (other tabs hear it on the channel)
export const listeners = new Set();

// Rounds until nothing is left to push; skipped when offline, and when another round holds the
// lock (in this tab or another): that round sees what was queued meanwhile and goes again.
export async function syncNow() {
  again = true;
  if (!navigator.onLine || !(await store.getMeta("tokens"))) return { skipped: true };
  return navigator.locks.request("fieldsafe-sync", { ifAvailable: true }, async (lock) => {
    if (!lock) return { skipped: true };
    const report = { pushed: 0, pulled: 0, uploaded: 0, uploadFailed: 0, gaps: 0, resets: 0, rounds: 0 };
    channel.postMessage({ syncing: true });
    try {
      while (again && report.rounds < 5 && navigator.onLine) {
        again = false;
        report.rounds += 1;
        if (!(await round(report))) break;
        if ((await store.pending(1)).length) again = true;
      }
    } finally {
      channel.postMessage({ changed: true });
      for (const listener of listeners) listener(report);
    }
    return report;
  });
}

async function round(report) {
  try {
    await push(report);
    await upload(report);
    await pull(report);
    await store.pruneAcknowledged();
    await ticketPhotos().catch((err) => console.warn(err));
    await store.setMeta("last_sync", { at: new Date().toISOString(), ok: true });
    failures = 0;
    return true;
  } catch (err) {
    const offline = err instanceof Offline;
    const signedOut = err.kind === "revoked" || err.kind === "signed_out";
    await store.setMeta("last_sync", {
      at: new Date().toISOString(),
      ok: false,
      kind: offline ? "offline" : err.kind || "error",
      code: err.body?.code || null,
      message: err.body?.message || null,
    });
    if (signedOut) await store.setMeta("auth_problem", err.body?.code || err.kind);
    else if (!offline) later();
    return false;
  }
}

function later() {
  clearTimeout(retryTimer);
  failures += 1;
  retryTimer = setTimeout(syncNow, backoff(Math.min(failures, 7)));
}
