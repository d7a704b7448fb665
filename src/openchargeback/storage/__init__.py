"""The only place with SQL: SQLAlchemy Core tables, Alembic migrations, repositories
and the unit of work that owns commit and rollback."""
