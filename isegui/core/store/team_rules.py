"""What the PostgreSQL server itself enforces in a team project, whatever client a member uses
(the window, the command line, or psql with their own password): roles, who may mark images
reviewed, claims, who changed what, and the change notices.

- Roles: two group roles per project. Inspectors label (images, instances, classes, runs,
  predictions); reviewers are inspectors who may also set or clear "reviewed". The owner of
  the project's schema may do everything (imports, migrations, keeping authors as they were).
  The roles are made by IT's `isegui_setup.make_team_roles` where the README's set-up is
  installed (the owner login needs no CREATEROLE, which on PostgreSQL 15 would let it take
  over other logins), else directly (a superuser, or an owner with CREATEROLE).
- Every trigger function pins `search_path` (pg_catalog, then pg_temp) and names the project's
  tables with their schema: a member's temporary table named like a catalog cannot stand in.
- The server, not the client, writes who set a status and when (`status_by`, `status_at`),
  who made and changed an instance and when, and its version (one up at every change); a
  claim is taken only for oneself, its time is the server's, and it ends CLAIM_EXPIRY_S after
  the holder's window last renewed it. While an image is claimed, others may not change it,
  delete it, nor write its instances or predictions (a class merge, which changes no shape,
  may). Images
  are removed by reviewers and the owner only.
- `meta`: the keys that make the project what it is (its version, id, notice channel...) are
  the owner's; members write the rest (calibration, the active run).
- Change notices go to a channel named with a random suffix kept in `meta`, which only
  members can read: a login outside the project can neither follow nor forge them.
"""

from __future__ import annotations

import secrets

from isegui.core.store.engine import PostgresEngine

RULES_VERSION = 2  # meta "team_rules": an owner opening an older project installs these
RULES_KEY = "team_rules"
CHANNEL_KEY = "notify_channel"
CLAIM_EXPIRY_KEY = "claim_expiry_s"
CLAIM_EXPIRY_S = 600  # a claim not renewed for this long is free (the window renews it)
CLAIM_RENEW_S = 60  # how often a window renews the claim of the image on its screen
ROLES = ("inspector", "reviewer")
PG_NAME_BYTES = 63  # PostgreSQL cuts longer identifiers
# the meta keys only the owner may write
OWNER_KEYS = ("schema_version", "project_id", "created", "name", "images_in_database",
              RULES_KEY, CHANNEL_KEY, CLAIM_EXPIRY_KEY)
SETUP_FUNCTION = "isegui_setup.make_team_roles(text)"  # the README's set-up for IT


def role_name(schema: str, role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"{role!r}: a team role is one of {', '.join(ROLES)}")
    return f"{schema}_{role}"[:PG_NAME_BYTES]


# Helpers the guards share. STABLE and pinned like the guards; `now_text` is the form the
# store writes times in (ISO 8601, UTC).
_HELPERS = """
CREATE OR REPLACE FUNCTION "{s}".is_owner() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.pg_has_role(current_user, n.nspowner, 'MEMBER')
    FROM pg_catalog.pg_namespace n WHERE n.nspname = '{s}'
$$;
CREATE OR REPLACE FUNCTION "{s}".is_reviewer() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.pg_has_role(current_user, '{reviewer}', 'MEMBER') OR "{s}".is_owner()
$$;
CREATE OR REPLACE FUNCTION "{s}".now_text() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC',
                              'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
$$;
CREATE OR REPLACE FUNCTION "{s}".refuse_held(holder text, image integer, since text,
                                              wanted text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = holder
        || ' is labeling image ' || image || ' (since ' || since || '); take it over to '
        || wanted;
END
$$;
CREATE OR REPLACE FUNCTION "{s}".refuse_if_held(image integer, wanted text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    holder text;
    since text;
BEGIN
    SELECT "{s}".live_holder(i.claimed_by, i.claimed_at), i.claimed_at INTO holder, since
    FROM "{s}".images i WHERE i.id = image;
    IF holder IS NOT NULL AND holder <> current_user THEN
        PERFORM "{s}".refuse_held(holder, image, since, wanted);
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION "{s}".live_holder(holder text, since text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    expiry integer;
BEGIN
    IF holder IS NULL THEN RETURN NULL; END IF;
    SELECT value::integer INTO expiry FROM "{s}".meta WHERE key = '{expiry_key}';
    BEGIN
        IF since::timestamptz < pg_catalog.now()
                - pg_catalog.make_interval(secs => COALESCE(expiry, {expiry})) THEN
            RETURN NULL;
        END IF;
    EXCEPTION WHEN others THEN
        RETURN NULL;  -- a time that is no time: no claim
    END;
    RETURN holder;
END
$$;
"""

_GUARD_IMAGE = """
CREATE OR REPLACE FUNCTION "{s}".guard_image() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    holder text;
BEGIN
    IF "{s}".is_owner() THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status = 'reviewed' AND NOT "{s}".is_reviewer() THEN
            RAISE EXCEPTION 'only a reviewer of this team project can mark an image reviewed'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        NEW.status_by := CASE WHEN NEW.status = 'unlabeled' THEN NULL ELSE current_user END;
        NEW.status_at := CASE WHEN NEW.status = 'unlabeled' THEN NULL ELSE "{s}".now_text() END;
        NEW.claimed_by := NULL;
        NEW.claimed_at := NULL;
        RETURN NEW;
    END IF;
    holder := "{s}".live_holder(OLD.claimed_by, OLD.claimed_at);
    IF TG_OP = 'DELETE' THEN
        IF holder IS NOT NULL AND holder <> current_user THEN
            PERFORM "{s}".refuse_held(holder, OLD.id, OLD.claimed_at, 'remove it');
        END IF;
        IF NOT "{s}".is_reviewer() THEN
            RAISE EXCEPTION 'only a reviewer or the owner of this team project can remove '
                'images' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    -- a claim is taken for oneself only (a take-over included), and released by its holder
    IF NEW.claimed_by IS DISTINCT FROM OLD.claimed_by THEN
        IF NEW.claimed_by IS NOT NULL AND NEW.claimed_by <> current_user THEN
            RAISE EXCEPTION 'a member can claim an image for themselves only'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.claimed_by IS NULL AND holder IS NOT NULL AND holder <> current_user THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = holder
                || ' is labeling image ' || OLD.id || '; only they can release it';
        END IF;
    END IF;
    IF NEW.claimed_by IS NULL THEN
        NEW.claimed_at := NULL;
    ELSIF NEW.claimed_by IS DISTINCT FROM OLD.claimed_by
            OR NEW.claimed_at IS DISTINCT FROM OLD.claimed_at THEN
        NEW.claimed_at := "{s}".now_text();  -- claimed or renewed now, by the server's clock
    END IF;
    IF (NEW.path, NEW.width, NEW.height, NEW.split, NEW.status, NEW.next_instance_id)
            IS DISTINCT FROM (OLD.path, OLD.width, OLD.height, OLD.split, OLD.status,
                              OLD.next_instance_id)
            AND holder IS NOT NULL AND holder <> current_user THEN
        PERFORM "{s}".refuse_held(holder, OLD.id, OLD.claimed_at, 'change it');
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF (NEW.status = 'reviewed') IS DISTINCT FROM (OLD.status = 'reviewed')
                AND NOT "{s}".is_reviewer() THEN
            RAISE EXCEPTION 'only a reviewer of this team project can mark an image reviewed'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        NEW.status_by := current_user;
        NEW.status_at := "{s}".now_text();
    ELSE
        NEW.status_by := OLD.status_by;
        NEW.status_at := OLD.status_at;
    END IF;
    RETURN NEW;
END
$$;
"""

_GUARD_INSTANCE = """
CREATE OR REPLACE FUNCTION "{s}".guard_instance() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM "{s}".refuse_if_held(OLD.image_id, 'change its labels');
    ELSIF NOT (TG_OP = 'UPDATE' AND NEW.class_id IS DISTINCT FROM OLD.class_id
               AND (NEW.shape, NEW.z, NEW.track_id, NEW.source, NEW.crowd)
                   IS NOT DISTINCT FROM (OLD.shape, OLD.z, OLD.track_id, OLD.source,
                                         OLD.crowd)) THEN  -- a class change alone may pass
        PERFORM "{s}".refuse_if_held(NEW.image_id, 'change its labels');
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    IF "{s}".is_owner() THEN RETURN NEW; END IF;  -- imports and migrations keep their authors
    IF TG_OP = 'INSERT' THEN  -- an undo's restored instance too: its restorer made it again
        NEW.created_by := current_user;
        NEW.created_at := "{s}".now_text();
    ELSE
        NEW.created_by := OLD.created_by;
        NEW.created_at := OLD.created_at;
        NEW.version := OLD.version + 1;
    END IF;
    NEW.edited_by := current_user;
    NEW.edited_at := "{s}".now_text();
    RETURN NEW;
END
$$;
"""

# predictions of an image someone holds are theirs to accept, reject or predict again
_GUARD_PREDICTION = """
CREATE OR REPLACE FUNCTION "{s}".guard_prediction() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM "{s}".refuse_if_held(OLD.image_id, 'change its predictions');
        RETURN OLD;
    END IF;
    PERFORM "{s}".refuse_if_held(NEW.image_id, 'change its predictions');
    RETURN NEW;
END
$$;
"""

_GUARD_META = """
CREATE OR REPLACE FUNCTION "{s}".guard_meta() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT "{s}".is_owner() AND (
            (TG_OP <> 'INSERT' AND OLD.key = ANY (ARRAY[{owner_keys}]))
            OR (TG_OP <> 'DELETE' AND NEW.key = ANY (ARRAY[{owner_keys}]))) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE =
            'only the owner of this team project can change its ' || COALESCE(NEW.key, OLD.key);
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;
"""

# Every change to a team project's labels is announced on the project's channel; identical
# notices of one transaction are delivered once, so an import of a thousand instances into
# one image is one notice for that image. Who and which backend come with every notice from
# the server itself (Notify.pid); the payload holds only the table and the image.
_ANNOUNCE = """
CREATE OR REPLACE FUNCTION "{s}".announce_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    image integer;
    channel text;
BEGIN
    IF TG_TABLE_NAME = 'instances' THEN
        IF TG_OP = 'DELETE' THEN image := OLD.image_id; ELSE image := NEW.image_id; END IF;
    ELSIF TG_TABLE_NAME = 'images' THEN
        IF TG_OP = 'DELETE' THEN image := OLD.id; ELSE image := NEW.id; END IF;
    END IF;
    SELECT value INTO channel FROM "{s}".meta WHERE key = '{channel_key}';
    PERFORM pg_catalog.pg_notify(COALESCE(channel, '{s}'), pg_catalog.json_build_object(
        'table', TG_TABLE_NAME, 'image', image, 'by', current_user)::text);
    RETURN NULL;
END
$$;
"""
_WATCHED_TABLES = ("instances", "images", "classes")

# trigger name, table, when, function
_TRIGGERS = (
    ("guard_image", "images", "BEFORE INSERT OR UPDATE OR DELETE", "guard_image"),
    ("guard_claim", "instances", "BEFORE INSERT OR UPDATE OR DELETE", "guard_instance"),
    ("guard_meta", "meta", "BEFORE INSERT OR UPDATE OR DELETE", "guard_meta"),
    ("guard_prediction", "predictions", "BEFORE INSERT OR UPDATE OR DELETE", "guard_prediction"),
    *((f"announce_{t}", t, "AFTER INSERT OR UPDATE OR DELETE", "announce_change")
      for t in _WATCHED_TABLES),
)
# what a team schema holds beside the store's tables (core.store.schema compares)
FUNCTIONS = ("is_owner", "is_reviewer", "now_text", "refuse_held", "refuse_if_held",
             "live_holder", "guard_image", "guard_instance", "guard_meta", "guard_prediction",
             "announce_change")
TRIGGERS = tuple(f"{table}.{name}" for name, table, _, _ in _TRIGGERS)
# of RULES_VERSION 1, in a project its owner has not opened since
OLD_FUNCTIONS = ("guard_review", "guard_claim")
OLD_TRIGGERS = ("images.guard_review",)


def install(engine: PostgresEngine, schema: str, *, new: bool) -> None:
    """Make (`new`) or bring up to RULES_VERSION the roles, grants, guards and notices of the
    team project in `schema`; the caller owns the schema and holds a transaction."""
    inspector, reviewer = role_name(schema, "inspector"), role_name(schema, "reviewer")
    if new:
        _make_roles(engine, schema, inspector, reviewer)
    _grant(engine, schema, inspector)
    owner_keys = ", ".join(f"'{key}'" for key in OWNER_KEYS)
    engine.execute(f'DROP TRIGGER IF EXISTS guard_review ON "{schema}".images')
    for template in (_HELPERS, _GUARD_IMAGE, _GUARD_INSTANCE, _GUARD_PREDICTION, _GUARD_META,
                     _ANNOUNCE):
        engine.execute(template.format(s=schema, reviewer=reviewer, expiry=CLAIM_EXPIRY_S,
                                       expiry_key=CLAIM_EXPIRY_KEY, channel_key=CHANNEL_KEY,
                                       owner_keys=owner_keys))
    for name, table, when, function in _TRIGGERS:
        engine.execute(f'CREATE OR REPLACE TRIGGER {name} {when} ON "{schema}".{table} '
                       f'FOR EACH ROW EXECUTE FUNCTION "{schema}".{function}()')
    for old in OLD_FUNCTIONS:  # once no trigger uses them
        engine.execute(f'DROP FUNCTION IF EXISTS "{schema}".{old}()')
    if not engine.query("SELECT 1 FROM meta WHERE key = ?", (CHANNEL_KEY,)):
        engine.execute("INSERT INTO meta (key, value) VALUES (?, ?)",
                       (CHANNEL_KEY, f"{schema}_{secrets.token_hex(8)}"[:PG_NAME_BYTES]))
    engine.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                   "SET value = EXCLUDED.value", (RULES_KEY, str(RULES_VERSION)))


def installed_version(engine: PostgresEngine) -> int:
    rows = engine.query("SELECT value FROM meta WHERE key = ?", (RULES_KEY,))
    try:
        return int(rows[0][0]) if rows else 1
    except (TypeError, ValueError):
        return 0


def _make_roles(engine: PostgresEngine, schema: str, inspector: str, reviewer: str) -> None:
    """The project's two group roles: by IT's set-up function where it is installed (this
    login then administers them without CREATEROLE), else directly."""
    if engine.query("SELECT to_regprocedure(?) IS NOT NULL", (SETUP_FUNCTION,))[0][0]:
        engine.query("SELECT isegui_setup.make_team_roles(?::text)", (schema,))
        return
    for role in (inspector, reviewer):
        if not engine.query("SELECT 1 FROM pg_roles WHERE rolname = ?", (role,)):
            engine.execute(f'CREATE ROLE "{role}" NOLOGIN')
    engine.execute(f'GRANT "{inspector}" TO "{reviewer}"')


def _grant(engine: PostgresEngine, schema: str, inspector: str) -> None:
    """What an inspector (and so a reviewer) may do: label, and undo (restoring rows with
    their ids sets a sequence); connect to this database. Image files kept in the database
    are added, never changed or removed, by members."""
    database = engine.query("SELECT current_database()")[0][0]
    engine.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{inspector}"')
    engine.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{inspector}"')
    engine.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" '
                   f'TO "{inspector}"')
    engine.execute(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO '
                   f'"{inspector}"')
    engine.execute(f'ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" GRANT SELECT, INSERT, '
                   f'UPDATE, DELETE ON TABLES TO "{inspector}"')  # tables of later versions
    engine.execute(f'ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" GRANT USAGE, SELECT, '
                   f'UPDATE ON SEQUENCES TO "{inspector}"')
    restrict_image_files(engine, schema)


def restrict_image_files(engine: PostgresEngine, schema: str) -> None:
    """Members add image files; only the owner changes or removes one (a swapped file would
    show every PC without it another part's pixels under this name)."""
    if engine.query("SELECT to_regclass(?) IS NOT NULL", (f'"{schema}".image_files',))[0][0]:
        engine.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON "{schema}".image_files FROM '
                       f'"{role_name(schema, "inspector")}"')


def notice_channel(engine: PostgresEngine) -> str:
    """The channel the project's changes are announced on (the schema's name for a project
    from before RULES_VERSION 2, until its owner opens it)."""
    rows = engine.query("SELECT value FROM meta WHERE key = ?", (CHANNEL_KEY,))
    return str(rows[0][0]) if rows else engine.schema
