// The local view: the pulled copy with the outbox's not-yet-pulled mutations over it
// (docs/sync.md: drop those at or below the pull's last_mutation_id), and the server's rules
// (app/inspections/fieldwork.py) checked before a change is queued, in the server's words.
import { t } from "./i18n.js";
import * as store from "./store.js";

export async function localView() {
  const [rows, outbox, pulledMid] = await Promise.all([
    store.entities(),
    store.outbox(),
    store.getMeta("pulled_mid"),
  ]);
  const by = { checklist: new Map(), enterprise: new Map(), inspection: new Map(), finding: new Map(), hazard: new Map() };
  for (const row of rows) (by[row.type] ||= new Map()).set(row.id, structuredClone(row.data));
  outbox.sort((a, b) => a.id - b.id);
  for (const row of outbox) {
    const overlay = row.state === "pending" || (row.state === "applied" && row.id > (pulledMid || 0));
    if (overlay) overlayMutation(by, row);
  }
  overlayRejections(by, outbox);
  return { by, outbox, pulledMid: pulledMid || 0 };
}

function overlayMutation(by, row) {
  const a = row.args;
  const insp = by.inspection.get(a.inspection_id);
  if (row.name === "inspection.check_in" && insp && !insp.check_in) {
    insp.check_in = { at: a.at, location: a.location, local: true };
    insp.status = "in_progress";
  } else if (row.name === "inspection.submit" && insp) {
    insp.status = "submitted";
    insp.submitted_at = a.at;
    for (const f of by.finding.values()) {
      if (f.inspection_id === a.inspection_id && f.review_status === "needs_info") f.review_status = "pending";
    }
  } else if (row.name === "finding.put") {
    const known = by.finding.get(a.id);
    const merged = { ...(known || {}), ...a, local: true };
    if (known?.review_status === "needs_info") merged.amended = true;
    by.finding.set(a.id, merged);
  } else if (row.name === "finding.delete") {
    by.finding.delete(a.id);
  } else if (row.name === "hazard.recheck") {
    const h = by.hazard.get(a.hazard_id);
    if (h) h.local_recheck = a.result;
  }
}

function overlayRejections(by, outbox) {
  for (const row of outbox) {
    if (row.name !== "hazard.recheck") continue;
    const h = by.hazard.get(row.args.hazard_id);
    if (!h) continue;
    if (row.state === "rejected" && !h.local_recheck) h.rejection = row.message || row.code;
    else if (row.state !== "rejected") h.rejection = null;
  }
}

export function checklistOf(view, insp) {
  let best = null;
  for (const cl of view.by.checklist.values()) {
    if (cl.industry !== insp.industry) continue;
    if (insp.checklist_version ? cl.version === insp.checklist_version : !best || cl.version > best.version) best = cl;
  }
  return best;
}

export function findingsOf(view, inspectionId) {
  const byItem = new Map();
  for (const f of view.by.finding.values()) if (f.inspection_id === inspectionId) byItem.set(f.item_code, f);
  return byItem;
}

// The rejections still standing for each item: a refused finding or submit naming it, with no
// later change of that item queued since.
export function rejectionsOf(view, inspectionId) {
  const codeOf = new Map([...view.by.finding.values()].map((f) => [f.id, f.item_code]));
  const lastPut = new Map();
  const byItem = new Map();
  let submit = null;
  for (const row of view.outbox) {
    const a = row.args;
    if (a.inspection_id !== inspectionId) continue;
    if (row.name === "finding.put") {
      const code = a.item_code || codeOf.get(a.id);
      if (row.state === "rejected") byItem.set(code, row);
      else {
        lastPut.set(code, row.id);
        byItem.delete(code);
      }
    } else if (row.name === "inspection.submit" || row.name === "inspection.check_in") {
      if (row.state === "rejected") {
        submit = row;
        for (const code of row.errors?.items || []) byItem.set(code, row);
      } else if (row.name === "inspection.submit") submit = null;
    }
  }
  return { byItem, inspection: submit };
}

const span = (item) => `${item.min ?? "…"}–${item.max ?? "…"} ${item.unit}`;

// The checks of fieldwork.py's _item_refusal and _value_refusal, for one answer.
export function answerRefusal(item, result, value) {
  if (result === "na" && item.na_allowed === false) {
    return { code: "finding.na_not_allowed", message: t("%(code)s applies to every site of this kind; answer pass or fail.", { code: item.code }) };
  }
  if (!item.unit) return null;
  if (value === null || value === undefined) {
    if (result === "na") return null;
    return {
      code: "finding.value_required",
      message: t("%(code)s asks for the measured value in %(unit)s; send value.", { code: item.code, unit: item.unit }),
    };
  }
  const outside = (item.min != null && value < item.min) || (item.max != null && value > item.max);
  if (outside && result === "pass") {
    return {
      code: "finding.value_out_of_range",
      message: t("%(code)s: %(value)s %(unit)s is outside %(span)s, so the item fails; record it as fail.", {
        code: item.code,
        value: String(value),
        unit: item.unit,
        span: span(item),
      }),
    };
  }
  return null;
}

function names(codes, limit = 12) {
  const shown = codes.slice(0, limit).join(", ");
  return codes.length <= limit ? shown : t("%(codes)s and %(n)s more", { codes: shown, n: codes.length - limit });
}

// completeness_refusal: every item answered, a photo for every fail that requires one.
export function submitRefusal(checklist, findings) {
  const missing = checklist.items.map((i) => i.code).filter((code) => !findings.has(code));
  if (missing.length) {
    return {
      code: "inspection.incomplete",
      items: missing,
      message: t("Answer every item of the checklist before submitting; unanswered: %(codes)s.", { codes: names(missing) }),
    };
  }
  const unproven = checklist.items
    .filter((i) => i.requires_photo && findings.get(i.code)?.result === "fail" && !(findings.get(i.code).photos || []).length)
    .map((i) => i.code)
    .sort();
  if (unproven.length) {
    return {
      code: "inspection.photo_required",
      items: unproven,
      message: t("A failed answer to these items needs a photo: %(codes)s; add one.", { codes: names(unproven) }),
    };
  }
  for (const item of checklist.items) {
    const f = findings.get(item.code);
    const refusal = answerRefusal(item, f.result, f.value ?? null);
    if (refusal) return { ...refusal, items: [item.code] };
  }
  return null;
}

export function distanceM(a, b) {
  const rad = (d) => (d * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(h));
}
