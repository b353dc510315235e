-- Bootstrap of the CME PostgreSQL server: per service one database and two
-- roles (CONTRACT section 1):
--
--   cme_<svc>_owner  owns the database and every table, sequence and function
--                    in it. Used only by migrations (`python -m cme_<svc>
--                    migrate`, CME_MIGRATION_DATABASE_URL), never by a running
--                    service.
--   cme_<svc>        the service's login at run time. Owns nothing; the
--                    migrations grant it CONNECT, USAGE on the schema, SELECT/
--                    INSERT/UPDATE/DELETE on ordinary tables and INSERT/SELECT
--                    on history tables (cme_shared.migrations). Not owning a
--                    table, it can neither grant itself more, nor alter,
--                    truncate or drop it, nor disable its triggers.
--
--   cme_<svc>_disposal  the retention disposal job's login (issue 14; `python -m
--                    cme_<svc> dispose`). Owns nothing; the migrations grant it
--                    SELECT on what it reads, DELETE/UPDATE on what it disposes
--                    of, INSERT on the tombstones, and the history tables'
--                    triggers let it (and only it) remove rows past retention.
--                    The running service never holds its password.
--
-- The owner may log in (LOGIN) so that migrations can connect as it; only the
-- migrations are given its password. A production server should also accept
-- the owner's logins from the deploy host only (pg_hba.conf) or keep it
-- NOLOGIN between deploys. Neither role is a member of the other.
--
-- This file is the production-shaped bootstrap: it creates no test role. The
-- development and CI additions (the test suite's role cme_test) are in
-- deploy/postgres/dev-test.sql, which deploy/bin/postgres.sh runs after this
-- file; a production server never runs it.
--
-- Used by the local runtime (deploy/bin/postgres.sh, run as the superuser over
-- the unix socket on every `make up`) and by docker-compose (mounted into
-- /docker-entrypoint-initdb.d, run once on an empty volume). Idempotent: safe
-- to run any number of times. Run with psql (it uses \gexec and \connect).
--
-- DEVELOPMENT PASSWORDS: every role's password equals its name (cme_intake /
-- cme_intake, cme_intake_owner / cme_intake_owner, ...) and the superuser's
-- is `postgres`. They exist only for the local runtime and CI, which listen
-- on 127.0.0.1. Any shared or production environment must create its roles
-- with real secrets before running this file (existing roles keep theirs).

SET client_min_messages = warning;

-- Every statement below only writes when something is missing or different,
-- so a re-run on a busy server (tests creating databases) touches no catalog
-- rows and cannot collide with concurrent work.

-- Roles. Existing roles keep their password (only their attributes are
-- corrected), so re-running never resets a password someone changed on purpose.
DO $$
DECLARE
    svc text;
    role text;
BEGIN
    FOREACH svc IN ARRAY ARRAY['cme_intake', 'cme_casework', 'cme_disclosure', 'cme_rights'] LOOP
        FOREACH role IN ARRAY ARRAY[svc || '_owner', svc, svc || '_disposal'] LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role) THEN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD %L',
                               role, role);
            ELSIF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role
                          AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolbypassrls)) THEN
                EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', role);
            END IF;
        END LOOP;
        -- The runtime role must not be able to become the owner (nor the other way round).
        IF EXISTS (SELECT 1 FROM pg_auth_members
                   WHERE roleid = (svc || '_owner')::regrole AND member = svc::regrole) THEN
            EXECUTE format('REVOKE %I FROM %I', svc || '_owner', svc);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_auth_members
                   WHERE roleid = svc::regrole AND member = (svc || '_owner')::regrole) THEN
            EXECUTE format('REVOKE %I FROM %I', svc, svc || '_owner');
        END IF;
    END LOOP;
END
$$;

-- Databases (CREATE DATABASE cannot run inside a DO block, hence \gexec).
SELECT format('CREATE DATABASE %I OWNER %I', db, db || '_owner')
FROM unnest(ARRAY['cme_intake', 'cme_casework', 'cme_disclosure', 'cme_rights']) AS db
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = db)
\gexec

-- Ownership: a database made before the owner roles existed belongs to the
-- runtime role; it passes to the owner (its tables too, below).
--
-- Isolation: PUBLIC (every role) may by default connect to every database
-- (a NULL datacl means the defaults); take that away so a service role can
-- reach its own database only. The owner keeps its own rights; the runtime
-- role's CONNECT is granted by the service's migrations.
--
-- The maintenance databases postgres and template1 likewise become reachable
-- only by superusers (who bypass these checks, so `postgres` keeps working).
-- CREATE DATABASE copies template1 without connecting to it.
DO $$
DECLARE
    db text;
BEGIN
    FOREACH db IN ARRAY ARRAY['cme_intake', 'cme_casework', 'cme_disclosure', 'cme_rights'] LOOP
        IF (SELECT datdba <> (db || '_owner')::regrole FROM pg_database WHERE datname = db) THEN
            EXECUTE format('ALTER DATABASE %I OWNER TO %I', db, db || '_owner');
        END IF;
    END LOOP;

    FOREACH db IN ARRAY ARRAY['cme_intake', 'cme_casework', 'cme_disclosure', 'cme_rights', 'postgres', 'template1'] LOOP
        IF EXISTS (SELECT 1 FROM pg_database d
                   WHERE d.datname = db
                     AND (d.datacl IS NULL
                          OR EXISTS (SELECT 1 FROM aclexplode(d.datacl) a WHERE a.grantee = 0))) THEN
            EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', db);
        END IF;
    END LOOP;
END
$$;

-- Tables, sequences and functions a runtime role still owns (databases
-- migrated before the owner roles existed) pass to the owner. REASSIGN OWNED
-- works on the database it runs in, hence one \connect per service; the
-- runtime role's privileges go with the ownership, and the next `migrate`
-- (revision "runtime role" of each service) grants it what it needs.
\connect cme_intake
SELECT 'REASSIGN OWNED BY cme_intake TO cme_intake_owner'
WHERE EXISTS (SELECT 1 FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
              WHERE d.datname = current_database() AND s.deptype = 'o'
                AND s.refclassid = 'pg_authid'::regclass AND s.refobjid = 'cme_intake'::regrole)
\gexec
\connect cme_casework
SELECT 'REASSIGN OWNED BY cme_casework TO cme_casework_owner'
WHERE EXISTS (SELECT 1 FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
              WHERE d.datname = current_database() AND s.deptype = 'o'
                AND s.refclassid = 'pg_authid'::regclass AND s.refobjid = 'cme_casework'::regrole)
\gexec
\connect cme_disclosure
SELECT 'REASSIGN OWNED BY cme_disclosure TO cme_disclosure_owner'
WHERE EXISTS (SELECT 1 FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
              WHERE d.datname = current_database() AND s.deptype = 'o'
                AND s.refclassid = 'pg_authid'::regclass AND s.refobjid = 'cme_disclosure'::regrole)
\gexec
\connect cme_rights
SELECT 'REASSIGN OWNED BY cme_rights TO cme_rights_owner'
WHERE EXISTS (SELECT 1 FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
              WHERE d.datname = current_database() AND s.deptype = 'o'
                AND s.refclassid = 'pg_authid'::regclass AND s.refobjid = 'cme_rights'::regrole)
\gexec
\connect postgres
