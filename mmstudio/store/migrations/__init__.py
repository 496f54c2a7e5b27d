"""Alembic migrations of the store, from the first schema. Run by :mod:`mmstudio.store.migrate`.

This folder is a package only so that it ships with mmstudio; do not import its modules.
"""
