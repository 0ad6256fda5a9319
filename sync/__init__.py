"""Offline-sync engine: protocol types, cursor codec, push apply loop, change feed.

A library: no Flask, no global session, no application's names. Every function takes the
SQLAlchemy Session or Connection it works in; the caller owns the transaction. The
application brings its tables (``sync.models.make_sync_tables`` with its scope keys), its
mutations (``sync.push.MutationSpec``: fields, builder, handler), its scope
(``sync.feed.FeedScope``) and its endpoints; see docs/sync.md, "Using sync/ in another
application".
"""
