"""The audit hooks are installed on every session factory, whatever address it gets."""

from __future__ import annotations

import gc

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from app.audit.hooks import install_bindings
from app.audit.services import HOOKED


def test_a_factory_at_a_freed_factorys_address_is_hooked() -> None:
    # SQLAlchemy's listener registry keys a target by id(): a freed factory whose session class
    # the garbage collector has not taken yet leaves its key behind. A new factory at that
    # address must still get the hooks, or its commits would bind nothing (a flaky test once).
    engine = create_engine("sqlite://")
    seen: set[int] = set()
    reused = None
    gc.disable()  # keep the freed factories' session classes alive, as a busy process does
    try:
        for _ in range(10_000):
            factory = sessionmaker(bind=engine)
            install_bindings(factory)
            if id(factory) in seen:
                reused = factory
                break
            seen.add(id(factory))
            del factory
    finally:
        gc.enable()
    assert reused is not None, "no factory was made at a freed one's address"
    with reused() as db:
        db.connection()  # the transaction begins: its after_begin hook marks the session
        assert db.info.get(HOOKED) is True
    engine.dispose()
