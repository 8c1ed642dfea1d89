"""Change stamps: a version per kind of data that every process sees, bumped at commit.

Caches that outlive a request (the vector tiles each worker keeps, the tiles shared in
``tile_cache``, browsers holding an ETag) are valid only while the data they were made from is
unchanged. ``change_stamp`` holds, per name, a version that grows by one with each committed
transaction that changed that data, and the clock time it did. Names:

- ``area``, ``feeder``: the assets;
- ``overlay:<layer>``: one overlay layer's features;
- ``status:area``, ``status:feeder``: the frequent-outage status (status, count_365, max_60;
  a refresh that only moves ``as_of`` changes nothing);
- ``tags:area``, ``tags:feeder``: the tags.

Triggers bump the stamps, so every writer (loads, ingests, status refreshes, jobs, the stream,
an operator's psql) is covered. A statement only notes which names it changed (when it wrote
at least one row); the versions are bumped by a deferred trigger when the transaction commits,
in name order. So a stamp changes exactly when the changed data becomes visible, whatever the
order in which concurrent transactions started (a max(updated_at) misses a transaction that
started before, and committed after, one already seen, and misses deletions), the row locks on
``change_stamp`` are held only for the commit itself, and two committing transactions take
them in the same order (no deadlock).

Revision ID: 0097
Revises: 0096
Create Date: 2026-11-28
"""

from alembic import op

revision = "0097"
down_revision = "0096"
branch_labels = None
depends_on = None

# (table, trigger function body per event); NEW TABLE is ``n``, OLD TABLE is ``o``.
_NOTE = {
    "area": {
        "insert": "SELECT ARRAY['area'] FROM n LIMIT 1",
        "update": "SELECT ARRAY['area'] FROM n LIMIT 1",
        "delete": "SELECT ARRAY['area'] FROM o LIMIT 1",
        "truncate": "SELECT ARRAY['area']",
    },
    "feeder": {
        "insert": "SELECT ARRAY['feeder'] FROM n LIMIT 1",
        "update": "SELECT ARRAY['feeder'] FROM n LIMIT 1",
        "delete": "SELECT ARRAY['feeder'] FROM o LIMIT 1",
        "truncate": "SELECT ARRAY['feeder']",
    },
    "overlay_feature": {
        "insert": "SELECT array_agg(DISTINCT 'overlay:' || layer) FROM n",
        "update": "SELECT array_agg(DISTINCT 'overlay:' || layer) FROM "
                  "(SELECT layer FROM n UNION SELECT layer FROM o) l",
        "delete": "SELECT array_agg(DISTINCT 'overlay:' || layer) FROM o",
        "truncate": "SELECT array_agg(name) FROM change_stamp WHERE name LIKE 'overlay:%'",
    },
    "asset_status": {
        "insert": "SELECT array_agg(DISTINCT 'status:' || asset_type) FROM n",
        "update": """SELECT array_agg(DISTINCT 'status:' || asset_type) FROM (
                       (SELECT asset_type, asset_id, status, count_365, max_60 FROM n
                        EXCEPT SELECT asset_type, asset_id, status, count_365, max_60 FROM o)
                       UNION ALL
                       (SELECT asset_type, asset_id, status, count_365, max_60 FROM o
                        EXCEPT SELECT asset_type, asset_id, status, count_365, max_60 FROM n)) d""",
        "delete": "SELECT array_agg(DISTINCT 'status:' || asset_type) FROM o",
        "truncate": "SELECT ARRAY['status:area', 'status:feeder']",
    },
    "asset_tag": {
        "insert": "SELECT array_agg(DISTINCT 'tags:' || asset_type) FROM n",
        "update": """SELECT array_agg(DISTINCT 'tags:' || asset_type) FROM (
                       (SELECT asset_type, asset_id, layer, share, feature_ids, feature_names FROM n
                        EXCEPT SELECT asset_type, asset_id, layer, share, feature_ids, feature_names FROM o)
                       UNION ALL
                       (SELECT asset_type, asset_id, layer, share, feature_ids, feature_names FROM o
                        EXCEPT SELECT asset_type, asset_id, layer, share, feature_ids, feature_names FROM n)) d""",
        "delete": "SELECT array_agg(DISTINCT 'tags:' || asset_type) FROM o",
        "truncate": "SELECT ARRAY['tags:area', 'tags:feeder']",
    },
}
_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS n",
    "update": "REFERENCING OLD TABLE AS o NEW TABLE AS n",
    "delete": "REFERENCING OLD TABLE AS o",
    "truncate": "",
}


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE change_stamp (
            name       text PRIMARY KEY,
            version    bigint NOT NULL DEFAULT 1,
            changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        -- One row per transaction that changed stamped data, inserted by its first such
        -- statement and deleted at its commit: it only carries the deferred trigger.
        CREATE TABLE change_stamp_pending (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
        );

        -- The transaction's changed names live in a transaction-local setting, so a rolled
        -- back savepoint forgets its names together with its changes.
        CREATE FUNCTION change_stamp_note(names text[]) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE
            held text := coalesce(current_setting('gridwatch.change_stamps', true), '');
            n text;
        BEGIN
            IF names IS NULL OR cardinality(names) = 0 THEN
                RETURN;
            END IF;
            IF held = '' THEN
                INSERT INTO change_stamp_pending DEFAULT VALUES;
            END IF;
            FOREACH n IN ARRAY names LOOP
                IF held = '' THEN
                    held := n;
                ELSIF NOT n = ANY (string_to_array(held, E'\\n')) THEN
                    held := held || E'\\n' || n;
                END IF;
            END LOOP;
            PERFORM set_config('gridwatch.change_stamps', held, true);
        END $$;

        CREATE FUNCTION change_stamp_bump() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            n text;
        BEGIN
            FOR n IN SELECT DISTINCT s FROM unnest(string_to_array(
                         coalesce(current_setting('gridwatch.change_stamps', true), ''), E'\\n')) s
                      WHERE s <> '' ORDER BY s LOOP
                INSERT INTO change_stamp AS c (name) VALUES (n)
                ON CONFLICT (name) DO UPDATE
                   SET version = c.version + 1, changed_at = clock_timestamp();
            END LOOP;
            PERFORM set_config('gridwatch.change_stamps', '', true);
            DELETE FROM change_stamp_pending WHERE id = NEW.id;
            RETURN NULL;
        END $$;

        CREATE CONSTRAINT TRIGGER change_stamp_at_commit
            AFTER INSERT ON change_stamp_pending DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION change_stamp_bump();
        """
    )
    for table, events in _NOTE.items():
        for event, names_sql in events.items():
            fn = f"change_stamp_{table}_{event}"
            op.execute(
                f"""
                CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM change_stamp_note(({names_sql}));
                    RETURN NULL;
                END $$;
                CREATE TRIGGER {fn} AFTER {event.upper()} ON {table} {_REFERENCING[event]}
                    FOR EACH STATEMENT EXECUTE FUNCTION {fn}();
                """
            )
    # The data already there: a first version of each name that has some.
    op.execute(
        """
        INSERT INTO change_stamp (name)
        SELECT 'area' WHERE EXISTS (SELECT 1 FROM area)
        UNION ALL SELECT 'feeder' WHERE EXISTS (SELECT 1 FROM feeder)
        UNION ALL SELECT DISTINCT 'overlay:' || layer FROM overlay_feature
        UNION ALL SELECT DISTINCT 'status:' || asset_type FROM asset_status
        UNION ALL SELECT DISTINCT 'tags:' || asset_type FROM asset_tag;
        """
    )


def downgrade() -> None:
    for table, events in _NOTE.items():
        for event in events:
            fn = f"change_stamp_{table}_{event}"
            op.execute(f"DROP TRIGGER IF EXISTS {fn} ON {table}; DROP FUNCTION IF EXISTS {fn}();")
    op.execute(
        """
        DROP TABLE IF EXISTS change_stamp_pending;
        DROP FUNCTION IF EXISTS change_stamp_bump();
        DROP FUNCTION IF EXISTS change_stamp_note(text[]);
        DROP TABLE IF EXISTS change_stamp;
        """
    )
