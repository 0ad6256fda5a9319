// The device's state in IndexedDB (docs/sync.md "The device's state"): meta (client_id, next
// mutation id, cursor, tokens), the outbox, the local copy of the feed's entities, and photos as
// Blobs keyed by their SHA-256. Every change that must survive a reload is one transaction.
import { openDB, deleteDB } from "idb";

const NAME = "fieldsafe";
let opened;

export function db() {
  opened ||= openDB(NAME, 1, {
    upgrade(d) {
      d.createObjectStore("meta");
      d.createObjectStore("outbox", { keyPath: "id" });
      d.createObjectStore("entities", { keyPath: "key" }).createIndex("type", "type");
      d.createObjectStore("media", { keyPath: "sha256" });
    },
    blocking() {
      // Another tab wants to delete or upgrade the database (a logout): let it.
      opened?.then((d) => d.close());
      opened = undefined;
    },
  });
  return opened;
}

export async function getMeta(key) {
  return (await db()).get("meta", key);
}

export async function setMeta(key, value) {
  const d = await db();
  if (value === undefined || value === null) await d.delete("meta", key);
  else await d.put("meta", value, key);
}

// Append a mutation with the next id, advancing the counter in the same transaction.
// `extra` rides along in the row, not in the args (a signature's image Blob, sent as base64).
export async function enqueue(name, args, extra = {}) {
  const d = await db();
  const tx = d.transaction(["meta", "outbox"], "readwrite");
  const meta = tx.objectStore("meta");
  const next = (await meta.get("next_mutation_id")) || 1;
  await tx.objectStore("outbox").add({
    ...extra,
    id: next,
    name,
    args,
    state: "pending",
    created_at: new Date().toISOString(),
  });
  await meta.put(next + 1, "next_mutation_id");
  await tx.done;
  return next;
}

export async function outbox() {
  return (await db()).getAll("outbox");
}

export async function pending(limit) {
  const d = await db();
  const rows = [];
  let cursor = await d.transaction("outbox").store.openCursor();
  while (cursor && rows.length < limit) {
    if (cursor.value.state === "pending") rows.push(cursor.value);
    cursor = await cursor.continue();
  }
  return rows;
}

// Settle a push's results: each still-pending row answered, then everything <= last.
export async function acknowledge(body) {
  const d = await db();
  const tx = d.transaction(["outbox", "media"], "readwrite");
  const store = tx.objectStore("outbox");
  let settled = 0;
  for (const r of body.results || []) {
    const row = await store.get(r.id);
    if (!row || row.state !== "pending") continue;
    row.state = r.status === "rejected" ? "rejected" : "applied";
    row.code = r.code || null;
    row.message = r.message || null;
    row.errors = r.errors || null;
    row.entity = r.entity || null;
    await store.put(row);
    settled += 1;
  }
  let cursor = await store.openCursor(IDBKeyRange.upperBound(body.last_mutation_id));
  while (cursor) {
    if (cursor.value.state === "pending") {
      await cursor.update({ ...cursor.value, state: "applied" });
      settled += 1;
    }
    cursor = await cursor.continue();
  }
  const media = tx.objectStore("media");
  for (const digest of body.missing_media || []) {
    const row = await media.get(digest);
    if (row && !row.uploaded) await media.put({ ...row, missing: true });
  }
  await tx.done;
  return settled;
}

// sync.mutation_gap: the server lost what it had acknowledged from expected_id on; resend.
export async function resendFrom(expectedId) {
  const d = await db();
  const tx = d.transaction(["outbox", "meta"], "readwrite");
  const store = tx.objectStore("outbox");
  const first = await store.openCursor();
  const next = (await tx.objectStore("meta").get("next_mutation_id")) || 1;
  if (!first || first.key > expectedId || expectedId >= next) {
    tx.abort();
    await tx.done.catch(() => null);
    return false;
  }
  let cursor = await store.openCursor(IDBKeyRange.lowerBound(expectedId));
  while (cursor) {
    const { code, message, errors, entity, ...row } = cursor.value;
    await cursor.update({ ...row, state: "pending" });
    cursor = await cursor.continue();
  }
  await tx.done;
  return true;
}

// sync.client_taken: a new client_id, and the unpushed outbox renumbered from 1 under it.
export async function takeNewClientId() {
  const d = await db();
  const tx = d.transaction(["outbox", "meta", "entities"], "readwrite");
  const store = tx.objectStore("outbox");
  const rows = (await store.getAll()).filter((r) => r.state === "pending");
  await store.clear();
  let id = 1;
  for (const row of rows) await store.add({ ...row, id: id++ });
  const meta = tx.objectStore("meta");
  await meta.put(crypto.randomUUID(), "client_id");
  await meta.put(id, "next_mutation_id");
  await meta.delete("cursor");
  await meta.put(0, "pulled_mid");
  await tx.objectStore("entities").clear();
  await tx.done;
}

// Keep the last 10,000 acknowledged rows (a mutation gap may ask for them again).
export async function pruneAcknowledged(keep = 10000) {
  const d = await db();
  const tx = d.transaction("outbox", "readwrite");
  const last = await tx.store.openCursor(null, "prev");
  if (last && last.key > keep) {
    let cursor = await tx.store.openCursor(IDBKeyRange.upperBound(last.key - keep));
    while (cursor) {
      if (cursor.value.state !== "pending") await cursor.delete();
      cursor = await cursor.continue();
    }
  }
  await tx.done;
}

// One pulled page: its changes and its cursor in one transaction.
export async function applyPage(body) {
  const d = await db();
  const tx = d.transaction(["entities", "meta"], "readwrite");
  const store = tx.objectStore("entities");
  for (const c of body.changes || []) {
    const key = `${c.type}:${c.id}`;
    if (c.op === "delete") await store.delete(key);
    else await store.put({ key, type: c.type, id: String(c.id), version: c.version, data: c.data });
  }
  const meta = tx.objectStore("meta");
  await meta.put(body.cursor, "cursor");
  await meta.put(body.last_mutation_id ?? 0, "pulled_mid");
  await tx.done;
}

// sync.reset_required: drop the local copy and the cursor; the outbox stays.
export async function resetCopy() {
  const d = await db();
  const tx = d.transaction(["entities", "meta"], "readwrite");
  await tx.objectStore("entities").clear();
  await tx.objectStore("meta").delete("cursor");
  await tx.done;
}

export async function entities() {
  return (await db()).getAll("entities");
}

export async function addPhoto(blob) {
  const bytes = await blob.arrayBuffer();
  const hash = await crypto.subtle.digest("SHA-256", bytes);
  const sha256 = [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const d = await db();
  const known = await d.get("media", sha256);
  if (!known) {
    const type = blob.type || "image/jpeg";
    await d.put("media", {
      sha256,
      blob: new Blob([bytes], { type }),
      type,
      size: bytes.byteLength,
      uploaded: false,
      missing: false,
      added_at: new Date().toISOString(),
    });
  }
  return sha256;
}

export async function photo(sha256) {
  return (await db()).get("media", sha256);
}

export async function photos() {
  return (await db()).getAll("media");
}

export async function putPhoto(row) {
  return (await db()).put("media", row);
}

// Logout: everything of this user leaves the device.
export async function wipe() {
  const d = await opened;
  d?.close();
  opened = undefined;
  await deleteDB(NAME);
  for (const key of Object.keys(localStorage)) if (key.startsWith("tus::fieldsafe-")) localStorage.removeItem(key);
}
