"""Storage: engine, sessions, declarative base and Alembic migrations (SQLite and PostgreSQL)."""
