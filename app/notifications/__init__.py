"""notifications: an outbox of events delivered to webhooks by `fieldsafe worker`."""
