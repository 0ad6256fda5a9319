"""Offline-sync engine: protocol types, cursor codec, push apply loop, change feed.

A library: no Flask, no global session. Every function takes the SQLAlchemy
Session or Connection it works in; the caller owns the transaction.
"""
