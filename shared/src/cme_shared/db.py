"""Engine and session factories: one async engine per service, sessions that begin and commit once."""

from asyncpg.exceptions import _base as asyncpg_client_errors
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# SQLSTATEs that say "try again later", not "this message is bad": serialization failure, deadlock,
# lock not available, admin shutdown / crash / cannot connect now, too many connections.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"})


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # No ping before each checkout: it cost a round trip per transaction (a tenth of a small batch). A
    # connection the database dropped (a restart) fails its first statement instead; SQLAlchemy then
    # renews the whole pool, consumers treat the failure as transient (read again after a pause) and an
    # HTTP request gets a 503 to retry (cme_shared.http.errors).
    return create_async_engine(url, pool_size=pool_size, max_overflow=5, pool_pre_ping=False)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)




def is_transient(exc: BaseException) -> bool:
    """A failure of the database or broker rather than of the message or request: try again later (a
    consumer never dead-letters for it, an HTTP request gets a 503)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    chain = (exc, getattr(exc, "orig", None), getattr(getattr(exc, "orig", None), "__cause__", None))
    if any(isinstance(candidate, asyncpg_client_errors.DataError) for candidate in chain):
        return False  # the driver could not encode a value (an integer out of range, say): the message's fault
    for candidate in chain:
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str) and (code in TRANSIENT_SQLSTATES or code.startswith("08")):
            return True
    return isinstance(exc, (OperationalError, InterfaceError))
