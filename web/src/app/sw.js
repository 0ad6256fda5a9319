// The field app's service worker (scope /app/): the shell, the bundle, the texts and the icons
// are cached at install, so the app opens and reloads with no network. The API is never cached:
// the app keeps its data in IndexedDB. /app/sw.js prepends self.FIELDSAFE = {version, precache}.
const { version, precache } = self.FIELDSAFE;
const CACHE = `fieldsafe-app-${version}`;
// Every answer varies on Accept-Language; the cached copy serves whatever the page's request says.
const MATCH = { ignoreVary: true };

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(precache))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("fieldsafe-app-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (event.request.mode === "navigate" && url.pathname.startsWith("/app")) {
    // Every screen is the one shell; its hash says which.
    event.respondWith(caches.open(CACHE).then((c) => c.match("/app/", MATCH)).then((hit) => hit || fetch(event.request)));
    return;
  }
  event.respondWith(caches.open(CACHE).then((c) => c.match(event.request, MATCH)).then((hit) => hit || fetch(event.request)));
});
