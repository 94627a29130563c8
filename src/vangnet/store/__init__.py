"""Database models, migrations and sessions (SQLAlchemy 2 + Alembic)."""
