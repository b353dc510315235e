-- Bootstrap of the CME PostgreSQL server: one login role and one database per
-- service, each database reachable only by its own role.
--
-- Used by the local runtime (deploy/bin/postgres.sh, run as the superuser over
-- the unix socket on every `make up`) and by docker-compose (mounted into
-- /docker-entrypoint-initdb.d, run once on an empty volume). Idempotent: safe
-- to run any number of times.
--
-- DEVELOPMENT PASSWORDS: every role's password equals its name (cme_intake /
-- cme_intake, ..., cme_test / cme_test) and the superuser's is `postgres`.
-- They exist only for the local runtime and CI, which listen on 127.0.0.1.
-- Any shared or production environment must create its roles with real
-- secrets (and has no cme_test role at all).

SET client_min_messages = warning;

-- Every statement below only writes when something is missing or different,
-- so a re-run on a busy server (tests creating databases) touches no catalog
-- rows and cannot collide with concurrent work.

-- Roles. Existing roles keep their password (only their attributes are
-- corrected), so re-running never resets a password someone changed on purpose.
DO $$
DECLARE
    svc text;
BEGIN
    FOREACH svc IN ARRAY ARRAY['cme_intake', 'cme_casework', 'cme_disclosure', 'cme_rights'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = svc) THEN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', svc, svc);
        ELSIF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = svc
                      AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole)) THEN
            EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', svc);
        END IF;
    END LOOP;

    -- The test suite's role: creates and drops throw-away databases.
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cme_test') THEN
        CREATE ROLE cme_test LOGIN CREATEDB CREATEROLE PASSWORD 'cme_test';
    ELSIF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cme_test'
                  AND NOT (rolcanlogin AND rolcreatedb AND rolcreaterole)) THEN
        ALTER ROLE cme_test LOGIN CREATEDB CREATEROLE;
    END IF;

    -- Since PostgreSQL 15, `CREATE DATABASE ... OWNER r` requires membership
    -- in r, so the test role is a member of every service role. (This also
    -- lets it connect to the service databases; it is a development/CI role.)
    FOREACH svc IN ARRAY ARRAY['cme_intake', 'cme_casework', 'cme_disclosure', 'cme_rights'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_auth_members
                       WHERE roleid = svc::regrole AND member = 'cme_test'::regrole) THEN
            EXECUTE format('GRANT %I TO cme_test', svc);
        END IF;
    END LOOP;

    -- Dropping a throw-away database WITH (FORCE) ends whatever still uses it (a lingering pool
    -- connection, a background worker): the test role may signal backends it does not own.
    IF NOT EXISTS (SELECT 1 FROM pg_auth_members
                   WHERE roleid = 'pg_signal_backend'::regrole AND member = 'cme_test'::regrole) THEN
        GRANT pg_signal_backend TO cme_test;
    END IF;
END
$$;

-- Databases (CREATE DATABASE cannot run inside a DO block, hence \gexec).
SELECT format('CREATE DATABASE %I OWNER %I', db, db)
FROM unnest(ARRAY['cme_intake', 'cme_casework', 'cme_disclosure', 'cme_rights']) AS db
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = db)
\gexec

-- Isolation: PUBLIC (every role) may by default connect to every database
-- (a NULL datacl means the defaults); take that away so a service role can
-- reach its own database only. The owner keeps its own rights.
--
-- The maintenance databases postgres and template1 likewise become reachable
-- only by superusers (who bypass these checks, so `postgres` keeps working)
-- and the test role, which needs somewhere to connect to run CREATE DATABASE.
-- CREATE DATABASE copies template1 without connecting to it.
DO $$
DECLARE
    db text;
BEGIN
    FOREACH db IN ARRAY ARRAY['cme_intake', 'cme_casework', 'cme_disclosure', 'cme_rights'] LOOP
        IF (SELECT datdba <> db::regrole FROM pg_database WHERE datname = db) THEN
            EXECUTE format('ALTER DATABASE %I OWNER TO %I', db, db);
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

    FOREACH db IN ARRAY ARRAY['postgres', 'template1'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a
                       WHERE d.datname = db AND a.grantee = 'cme_test'::regrole
                         AND a.privilege_type = 'CONNECT') THEN
            EXECUTE format('GRANT CONNECT ON DATABASE %I TO cme_test', db);
        END IF;
    END LOOP;
END
$$;
