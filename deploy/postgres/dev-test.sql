-- DEVELOPMENT AND CI ONLY: the test suite's role, on top of deploy/postgres/init.sql.
-- A production server never runs this file and has no cme_test role.
--
-- cme_test / cme_test creates and drops the tests' throw-away databases. Since
-- PostgreSQL 15 `CREATE DATABASE ... OWNER r` requires membership in r, so it
-- is a member of the four owner roles (cme_<svc>_owner): on this server it can
-- act as their owner, which is why it exists only here. It is a member of no
-- runtime role (the tests log in as those with their own passwords), has no
-- CREATEROLE (on PostgreSQL 15 that would let it grant itself predefined roles
-- such as pg_execute_server_program, SEC-20), and may connect only to the
-- maintenance databases (to run CREATE DATABASE) and to databases it owns
-- through an owner role.
--
-- Run by deploy/bin/postgres.sh after init.sql, as the superuser; idempotent.

SET client_min_messages = warning;

DO $$
DECLARE
    svc text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cme_test') THEN
        CREATE ROLE cme_test LOGIN CREATEDB NOCREATEROLE NOSUPERUSER PASSWORD 'cme_test';
    ELSIF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cme_test'
                  AND NOT (rolcanlogin AND rolcreatedb AND NOT rolcreaterole AND NOT rolsuper)) THEN
        ALTER ROLE cme_test LOGIN CREATEDB NOCREATEROLE NOSUPERUSER;
    END IF;

    FOREACH svc IN ARRAY ARRAY['cme_intake', 'cme_casework', 'cme_disclosure', 'cme_rights'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_auth_members
                       WHERE roleid = (svc || '_owner')::regrole AND member = 'cme_test'::regrole) THEN
            EXECUTE format('GRANT %I TO cme_test', svc || '_owner');
        END IF;
        -- Before the owner roles, the test role was a member of the runtime roles: no longer.
        IF EXISTS (SELECT 1 FROM pg_auth_members
                   WHERE roleid = svc::regrole AND member = 'cme_test'::regrole) THEN
            EXECUTE format('REVOKE %I FROM cme_test', svc);
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

-- Somewhere to connect to run CREATE DATABASE (init.sql revoked PUBLIC's CONNECT).
DO $$
DECLARE
    db text;
BEGIN
    FOREACH db IN ARRAY ARRAY['postgres', 'template1'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a
                       WHERE d.datname = db AND a.grantee = 'cme_test'::regrole
                         AND a.privilege_type = 'CONNECT') THEN
            EXECUTE format('GRANT CONNECT ON DATABASE %I TO cme_test', db);
        END IF;
    END LOOP;
END
$$;
