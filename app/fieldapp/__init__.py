"""The field app (PWA) inspectors install on their phones: its shell, manifest, service worker,
icons and message catalog, served at ``/app/`` (docs/field-app.md). The app itself is browser
code (``web/src/app``), bundled into ``app/static/dist`` by ``make assets``; it talks to the API
like any device (docs/sync.md)."""
