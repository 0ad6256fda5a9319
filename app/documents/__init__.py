"""Enforcement documents (执法文书): the record, the order, the decision, the recheck opinion."""
