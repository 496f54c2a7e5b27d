"""Alembic environment of the store.

mmstudio runs migrations itself (:func:`mmstudio.store.migrate.upgrade`), handing over a connection
that already holds the write transaction; no ``alembic.ini`` is needed. For development, e.g. a new
revision::

    python -m mmstudio.store.migrate revision -m "what changed" --db sqlite:///scratch.db
"""

from __future__ import annotations

from typing import Any

from alembic import context

from mmstudio.store.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Migrations must not import the models: store UTCDateTime as the plain DateTime it is.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(target_metadata=target_metadata, render_item=render_item, **kwargs)


def run_migrations_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from mmstudio.store.engine import create_store_engine

    engine = create_store_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
