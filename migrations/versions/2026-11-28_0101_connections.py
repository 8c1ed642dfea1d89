"""Connection time limits (SPEC section 16): applications, the working-day calendar, the filings.

- ``application``: one connection application (业扩报装), keyed by ``app_id``. A re-sent
  application replaces the stored one: that is how ``energized_at`` arrives. A plain table, not
  a hypertable: a province books some 10^6 a year and a replacement may move any time. No
  foreign key to ``area`` (the ingest rejects an unknown area; a replacing areas load must not
  be blocked by the applications that name one).
- ``workday_calendar``: every day of the calendar's known years, whether it is a working day,
  and ``ordinal``, the working days from the first known day up to and including it, so the
  working days in (a, b] are ``ordinal(b) - ordinal(a)``. ``core.workdays`` fills it, and
  ``workday_calendar_meta`` keeps the digest of what it holds.
- ``upgrade_filing``: each filing of the monthly ledger 业扩接入需改造不满足接电时限台账 to the
  regulator: its month, its deadline, who marked it filed and when.
- ``upgrade_filing_item``: the applications a filing listed, as they were listed. ``app_id`` is
  the key: an application is filed once, whatever month.

Ingest batches gain the kind ``applications``.

Revision ID: 0101
Revises: 0100
Create Date: 2026-11-28
"""

from alembic import op

revision = "0101"
down_revision = "0100"
branch_labels = None
depends_on = None

_KINDS_BEFORE = "'meter-events', 'outages', 'works', 'disconnections', 'area-loads', 'pv'"
_CLASSES = "'lv_resident', 'lv_three_zero', 'lv_other', 'hv_single', 'hv_dual'"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE application (
            app_id                 text PRIMARY KEY,
            area_id                text,
            county                 text,
            customer_class         text NOT NULL CHECK (customer_class IN ({_CLASSES})),
            external_works         boolean NOT NULL DEFAULT false,
            booked_at              timestamptz NOT NULL,
            energized_at           timestamptz,
            needs_upgrade          boolean NOT NULL DEFAULT false,
            upgrade_estimated_days integer CHECK (upgrade_estimated_days >= 0),
            upgrade_due            date,
            batch_id               bigint,
            updated_at             timestamptz NOT NULL DEFAULT now(),
            CHECK (energized_at IS NULL OR energized_at >= booked_at)
        );
        CREATE INDEX application_booked_idx ON application (booked_at);
        CREATE INDEX application_open_idx ON application (booked_at) WHERE energized_at IS NULL;
        CREATE INDEX application_energized_idx ON application (energized_at);
        CREATE INDEX application_upgrade_idx ON application (booked_at)
            WHERE needs_upgrade AND customer_class LIKE 'lv%';

        CREATE TABLE workday_calendar (
            day     date PRIMARY KEY,
            workday boolean NOT NULL,
            ordinal integer NOT NULL
        );
        CREATE TABLE workday_calendar_meta (
            id         integer PRIMARY KEY CHECK (id = 1),
            digest     text NOT NULL,
            first_year integer NOT NULL,
            last_year  integer NOT NULL,
            filled_at  timestamptz NOT NULL
        );

        CREATE TABLE upgrade_filing (
            filing_id bigserial PRIMARY KEY,
            month     date NOT NULL CHECK (extract(day FROM month) = 1),
            deadline  date NOT NULL,
            filed_at  timestamptz NOT NULL,
            filed_by  text NOT NULL,
            rows      integer NOT NULL
        );
        CREATE INDEX upgrade_filing_month_idx ON upgrade_filing (month);
        CREATE TABLE upgrade_filing_item (
            app_id                 text PRIMARY KEY,
            filing_id              bigint NOT NULL REFERENCES upgrade_filing ON DELETE CASCADE,
            customer_class         text NOT NULL,
            external_works         boolean NOT NULL,
            booked_at              timestamptz NOT NULL,
            limit_days             integer NOT NULL,
            upgrade_estimated_days integer NOT NULL,
            upgrade_due            date,
            carried_over           boolean NOT NULL
        );
        CREATE INDEX upgrade_filing_item_filing_idx ON upgrade_filing_item (filing_id);

        ALTER TABLE ingest_batch DROP CONSTRAINT IF EXISTS ingest_batch_kind_check;
        ALTER TABLE ingest_batch ADD CONSTRAINT ingest_batch_kind_check
            CHECK (kind IN ({_KINDS_BEFORE}, 'applications'));
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DELETE FROM ingest_batch WHERE kind = 'applications';
        ALTER TABLE ingest_batch DROP CONSTRAINT IF EXISTS ingest_batch_kind_check;
        ALTER TABLE ingest_batch ADD CONSTRAINT ingest_batch_kind_check
            CHECK (kind IN ({_KINDS_BEFORE}));
        DROP TABLE IF EXISTS upgrade_filing_item;
        DROP TABLE IF EXISTS upgrade_filing;
        DROP TABLE IF EXISTS workday_calendar_meta;
        DROP TABLE IF EXISTS workday_calendar;
        DROP TABLE IF EXISTS application;
        """
    )
