// Calls to this server's API with the device's tokens (docs/auth.md): an access token for an
// hour, a refresh token rotated on every use. A 401 refreshes once and repeats the request.
import { getMeta, setMeta } from "./store.js";

export class Offline extends Error {}

async function send(method, path, { json, headers = {}, auth = true } = {}) {
  if (!navigator.onLine) throw new Offline("offline");
  const all = { ...headers };
  if (json !== undefined) all["Content-Type"] = "application/json";
  const tokens = auth ? await getMeta("tokens") : null;
  if (tokens) all.Authorization = `Bearer ${tokens.access_token}`;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers: all,
      body: json === undefined ? undefined : JSON.stringify(json),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new Offline(String(err));
  }
  let body = null;
  if ((resp.headers.get("Content-Type") || "").includes("json")) body = await resp.json().catch(() => null);
  return { status: resp.status, body, headers: resp.headers, token: tokens?.access_token };
}

export async function call(method, path, options = {}) {
  const first = await send(method, path, options);
  if (first.status !== 401 || options.auth === false || first.body?.code === "auth.revoked") return first;
  if (!(await refresh(first.token))) return first;
  return send(method, path, options);
}

// Exchange the refresh token for a new pair, one tab at a time: a refresh token used twice
// revokes the whole login (auth.refresh_reused), so a tab that waited uses the pair the other
// tab got.
export async function refresh(failedAccess) {
  return navigator.locks.request("fieldsafe-auth", async () => {
    const tokens = await getMeta("tokens");
    if (!tokens) return false;
    if (failedAccess && tokens.access_token !== failedAccess) return true;
    const resp = await send("POST", "/api/v1/auth/refresh", {
      json: { refresh_token: tokens.refresh_token },
      auth: false,
    });
    if (resp.status !== 200) {
      await setMeta("auth_problem", resp.body?.code || "auth.invalid_token");
      return false;
    }
    await setMeta("tokens", { ...tokens, ...pick(resp.body), obtained_at: Date.now() });
    return true;
  });
}

export function pick(body) {
  return {
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    expires_in: body.expires_in,
  };
}

export async function login(username, password, deviceName) {
  return send("POST", "/api/v1/auth/token", {
    json: { username, password, device_name: deviceName },
    auth: false,
  });
}
