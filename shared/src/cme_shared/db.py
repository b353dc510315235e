"""Engine and session factories: one async engine per service, sessions that begin and commit once."""

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # No ping before each checkout: it cost a round trip per transaction (a tenth of a small batch). A
    # connection the database dropped (a restart) fails its first statement instead; SQLAlchemy then
    # renews the whole pool, consumers treat the failure as transient (read again after a pause) and an
    # HTTP request gets a 503 to retry (cme_shared.http.errors).
    return create_async_engine(url, pool_size=pool_size, max_overflow=5, pool_pre_ping=False)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


