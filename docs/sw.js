/* The site's service worker. The live head view (assets/js/live.js) registers it once its model
 * has loaded, and keeps that page and the files it used in the cache "attn-pages"; from then on
 * every page and file of the site the reader opens is kept there too. The model and its runtime are
 * kept by assets/js/live-worker.js, which fetches them with `cache: "no-store"` so they are not
 * stored twice. A reload without a network then shows the page again, and "Try your own sentence"
 * works as before.
 *
 * The network always comes first: a kept copy is served only when it fails, and each response
 * refreshes the copy, so an online reader sees the site as published. Nothing is sent anywhere.
 */
const PAGES = "attn-pages";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (ev) => ev.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (ev) => {
  const req = ev.request;
  if (req.method !== "GET" || new URL(req.url).origin !== location.origin) return;
  ev.respondWith((async () => {
    const cache = await caches.open(PAGES);
    try {
      const res = await fetch(req);
      if (res.ok && req.cache !== "no-store") ev.waitUntil(cache.put(req, res.clone()));
      return res;
    } catch (err) {
      const kept = await cache.match(req, { ignoreVary: true });
      if (kept) return kept;
      throw err;
    }
  })());
});
