"""The state store: SQLAlchemy Core tables, engines and Alembic migrations."""
