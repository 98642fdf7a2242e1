"""Parcel store: holders, parcels (versioned), buildings, support land, disposals, operations and
lineage, category overrides, append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Valid geometry in the storage CRS with a positive area: every spatial table repeats these.
SRID = 4549


def _geom_checks(table: str, column: str = "geom") -> str:
    return (
        f"CONSTRAINT {table}_geom_valid CHECK (ST_IsValid({column})),\n"
        f"  CONSTRAINT {table}_geom_srid CHECK (ST_SRID({column}) = {SRID}),\n"
        f"  CONSTRAINT {table}_geom_not_empty CHECK (NOT ST_IsEmpty({column}))"
    )


UPGRADE = f"""
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE holders (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL CONSTRAINT holders_name_not_blank CHECK (btrim(name) <> ''),
  credit_code varchar(18) CONSTRAINT holders_credit_code_format
              CHECK (credit_code ~ '^[0-9A-HJ-NPQRTUWXY]{{2}}[0-9]{{6}}[0-9A-HJ-NPQRTUWXY]{{10}}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE holders IS '土地使用权人（企业）/ land-use right holders';
CREATE UNIQUE INDEX holders_credit_code_uq ON holders (credit_code) WHERE credit_code IS NOT NULL;
CREATE UNIQUE INDEX holders_name_no_code_uq ON holders (name) WHERE credit_code IS NULL;

CREATE TABLE holder_years (
  holder_id        bigint NOT NULL REFERENCES holders (id),
  year             integer NOT NULL CONSTRAINT holder_years_year_range CHECK (year BETWEEN 1990 AND 2100),
  rating           char(1) CONSTRAINT holder_years_rating CHECK (rating IN ('A', 'B', 'C', 'D')),
  tax_wan          numeric(14, 2) CONSTRAINT holder_years_tax_nonneg CHECK (tax_wan >= 0),
  revenue_wan      numeric(14, 2) CONSTRAINT holder_years_revenue_nonneg CHECK (revenue_wan >= 0),
  value_added_wan  numeric(14, 2),
  above_scale      boolean,
  compliance_flags text[] NOT NULL DEFAULT '{{}}' CONSTRAINT holder_years_flags
                   CHECK (compliance_flags <@ ARRAY['energy', 'environment', 'quality', 'safety']::text[]),
  PRIMARY KEY (holder_id, year)
);
COMMENT ON TABLE holder_years IS '企业年度亩均评价与经济数据（万元）/ per-year rating and figures';

CREATE TABLE operations (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind            text NOT NULL CONSTRAINT operations_kind CHECK (kind IN ('split', 'merge', 'edge_plot', 'historical')),
  actor           text NOT NULL,
  executed_at     timestamptz NOT NULL DEFAULT now(),
  rule_set        text,
  as_of           date,
  verdict         text CONSTRAINT operations_verdict CHECK (verdict IN ('pass', 'fail', 'needs_review')),
  request         jsonb,
  report          jsonb,
  confirmations   jsonb NOT NULL DEFAULT '{{}}',
  idempotency_key text UNIQUE
);
COMMENT ON TABLE operations IS '已执行的分割/合并/零星地块操作 / executed split, merge and edge-plot operations';

CREATE TABLE parcels (
  id                      bigserial PRIMARY KEY,
  parcel_code             varchar(28) NOT NULL CONSTRAINT parcels_code_format CHECK (parcel_code ~ '^[0-9A-Za-z_-]{{1,28}}$'),
  name                    text,
  town                    text,
  land_use                text,
  land_use_code           text,
  ownership_nature        text CONSTRAINT parcels_ownership CHECK (ownership_nature IN ('国有', '集体')),
  right_type              text,
  holder_id               bigint REFERENCES holders (id),
  geom                    geometry(MultiPolygon, {SRID}) NOT NULL,
  area_m2                 double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
  area_mu                 double precision GENERATED ALWAYS AS (ST_Area(geom) * 3.0 / 2000.0) STORED,
  declared_area_m2        numeric(14, 2),
  approval_no             text,
  approved_on             date,
  supplied_on             date,
  contract_no             text,
  agreed_start_on         date,
  agreed_completion_on    date,
  construction_started_on date,
  completed_on            date,
  production_started_on   date,
  halted_since            date,
  lease_end_on            date,
  developed_area_m2       numeric(14, 2) CONSTRAINT parcels_developed_nonneg CHECK (developed_area_m2 >= 0),
  far_planned             numeric(6, 3) CONSTRAINT parcels_far_planned_nonneg CHECK (far_planned >= 0),
  far_actual              numeric(6, 3) CONSTRAINT parcels_far_actual_nonneg CHECK (far_actual >= 0),
  floor_area_m2           numeric(14, 2) CONSTRAINT parcels_floor_area_nonneg CHECK (floor_area_m2 >= 0),
  invested_wan            numeric(14, 2) CONSTRAINT parcels_invested_nonneg CHECK (invested_wan >= 0),
  planned_investment_wan  numeric(14, 2) CONSTRAINT parcels_planned_nonneg CHECK (planned_investment_wan >= 0),
  standard_land           boolean NOT NULL DEFAULT false,
  standard_land_indicators jsonb,
  industrial_real_estate  boolean NOT NULL DEFAULT false,
  in_development_zone     boolean,
  produced_by             text NOT NULL DEFAULT 'original'
                          CONSTRAINT parcels_produced_by CHECK (produced_by IN ('original', 'split', 'merge', 'edge_plot')),
  parent_codes            text[] NOT NULL DEFAULT '{{}}',
  no_split                boolean NOT NULL DEFAULT false,
  remarks                 text,
  extra                   jsonb NOT NULL DEFAULT '{{}}',
  operation_id            uuid REFERENCES operations (id),
  retired_by              uuid REFERENCES operations (id),
  valid_from              timestamptz NOT NULL DEFAULT now(),
  valid_to                timestamptz,
  source                  text,
  row_hash                text,
  {_geom_checks("parcels")},
  CONSTRAINT parcels_area_positive CHECK (area_m2 > 0),
  CONSTRAINT parcels_declared_positive CHECK (declared_area_m2 > 0),
  CONSTRAINT parcels_validity_window CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
COMMENT ON TABLE parcels IS '宗地（含历史版本：valid_to 非空为已注销）/ parcels, current and retired versions';
COMMENT ON COLUMN parcels.area_m2 IS '宗地面积：EPSG:4549 平面面积，由几何计算 / official planar area from geometry';
COMMENT ON COLUMN parcels.declared_area_m2 IS '来源数据申报面积，仅供比对 / declared area from the source, never trusted';
CREATE UNIQUE INDEX parcels_current_code_uq ON parcels (parcel_code) WHERE valid_to IS NULL;
CREATE INDEX parcels_code_idx ON parcels (parcel_code);
CREATE INDEX parcels_geom_gix ON parcels USING gist (geom);
CREATE INDEX parcels_holder_idx ON parcels (holder_id);
CREATE INDEX parcels_town_idx ON parcels (town) WHERE valid_to IS NULL;
CREATE INDEX parcels_parent_codes_gin ON parcels USING gin (parent_codes);

CREATE TABLE buildings (
  id            bigserial PRIMARY KEY,
  parcel_id     bigint NOT NULL REFERENCES parcels (id),
  number        text NOT NULL CONSTRAINT buildings_number_not_blank CHECK (btrim(number) <> ''),
  floors        integer CONSTRAINT buildings_floors_positive CHECK (floors > 0),
  height_m      numeric(6, 2) CONSTRAINT buildings_height_positive CHECK (height_m > 0),
  floor_area_m2 numeric(14, 2) CONSTRAINT buildings_floor_area_nonneg CHECK (floor_area_m2 >= 0),
  use           text,
  geom          geometry(Polygon, {SRID}) NOT NULL,
  footprint_m2  double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
  {_geom_checks("buildings")},
  CONSTRAINT buildings_area_positive CHECK (footprint_m2 > 0),
  CONSTRAINT buildings_number_uq UNIQUE (parcel_id, number)
);
COMMENT ON TABLE buildings IS '幢（建筑物基底），随宗地版本 / building footprints of a parcel version';
CREATE INDEX buildings_geom_gix ON buildings USING gist (geom);
CREATE INDEX buildings_parcel_idx ON buildings (parcel_id);

CREATE TABLE support_land (
  id            bigserial PRIMARY KEY,
  parcel_id     bigint NOT NULL REFERENCES parcels (id),
  kind          text NOT NULL DEFAULT '行政办公'
                CONSTRAINT support_land_kind CHECK (kind IN ('行政办公', '生活服务', '行政办公及生活服务')),
  floor_area_m2 numeric(14, 2) CONSTRAINT support_land_floor_area_nonneg CHECK (floor_area_m2 >= 0),
  geom          geometry(Polygon, {SRID}) NOT NULL,
  area_m2       double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
  {_geom_checks("support_land")},
  CONSTRAINT support_land_area_positive CHECK (area_m2 > 0)
);
COMMENT ON TABLE support_land IS '配套用地（行政办公及生活服务设施用地）/ supporting office and living-service land';
CREATE INDEX support_land_geom_gix ON support_land USING gist (geom);
CREATE INDEX support_land_parcel_idx ON support_land (parcel_id);

CREATE TABLE operation_parcels (
  operation_id uuid NOT NULL REFERENCES operations (id),
  parcel_id    bigint NOT NULL REFERENCES parcels (id),
  role         text NOT NULL CONSTRAINT operation_parcels_role CHECK (role IN ('parent', 'child')),
  label        text,
  PRIMARY KEY (operation_id, parcel_id)
);
COMMENT ON TABLE operation_parcels IS '宗地谱系：操作的父宗地与子宗地 / lineage: parents and children of an operation';
CREATE INDEX operation_parcels_parcel_idx ON operation_parcels (parcel_id);

CREATE TABLE disposals (
  id          bigserial PRIMARY KEY,
  parcel_code varchar(28),
  method      text NOT NULL CONSTRAINT disposals_method
              CHECK (method IN ('收回', '收购储备', '协议转让', '兼并重组', '二次开发/技改', '其他')),
  area_m2     numeric(14, 2) NOT NULL CONSTRAINT disposals_area_positive CHECK (area_m2 > 0),
  area_mu     numeric(14, 4) GENERATED ALWAYS AS (area_m2 * 3 / 2000) STORED,
  disposed_on date NOT NULL,
  note        text,
  actor       text NOT NULL DEFAULT 'import',
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT disposals_natural_uq UNIQUE (parcel_code, method, disposed_on, area_m2)
);
COMMENT ON TABLE disposals IS '盘活处置记录 / disposal (revitalisation) records';

CREATE TABLE category_overrides (
  id           bigserial PRIMARY KEY,
  parcel_code  varchar(28) NOT NULL,
  category     text NOT NULL CONSTRAINT category_overrides_category
               CHECK (category IN ('approved_unsupplied', 'supplied_unused', 'low_efficiency', 'none')),
  reason       text NOT NULL CONSTRAINT category_overrides_reason CHECK (btrim(reason) <> ''),
  actor        text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  cleared_at   timestamptz,
  cleared_by   text,
  clear_reason text,
  CONSTRAINT category_overrides_clear_complete CHECK ((cleared_at IS NULL) = (cleared_by IS NULL))
);
COMMENT ON TABLE category_overrides IS '三块地分类人工认定（原因、认定人、时间）/ officer category overrides';
CREATE UNIQUE INDEX category_overrides_active_uq ON category_overrides (parcel_code) WHERE cleared_at IS NULL;

CREATE TABLE audit_log (
  id     bigserial PRIMARY KEY,
  at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor  text NOT NULL,
  action text NOT NULL,
  target text,
  detail jsonb NOT NULL DEFAULT '{{}}'
);
COMMENT ON TABLE audit_log IS '审计日志，只增不改 / append-only audit log';
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE FUNCTION landgis_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is not allowed: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION landgis_forbid_change('the audit log is append-only');
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION landgis_forbid_change('the audit log is append-only');
CREATE TRIGGER parcels_never_deleted BEFORE DELETE ON parcels
  FOR EACH ROW EXECUTE FUNCTION landgis_forbid_change('parcels are retired (valid_to), never deleted');

CREATE FUNCTION landgis_retired_parcel_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.valid_to IS NOT NULL THEN
    RAISE EXCEPTION 'parcel version % (%) is retired and cannot change', OLD.id, OLD.parcel_code
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER parcels_retired_frozen BEFORE UPDATE ON parcels
  FOR EACH ROW EXECUTE FUNCTION landgis_retired_parcel_frozen();
"""

DOWNGRADE = """
DROP TABLE IF EXISTS audit_log, category_overrides, disposals, operation_parcels, support_land,
  buildings, parcels, operations, holder_years, holders CASCADE;
DROP FUNCTION IF EXISTS landgis_forbid_change() CASCADE;
DROP FUNCTION IF EXISTS landgis_retired_parcel_frozen() CASCADE;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
