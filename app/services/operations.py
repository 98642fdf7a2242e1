"""Executed operations: a split, merge or edge-plot addition re-checked and carried out in one transaction.

The parents are locked (``FOR UPDATE NOWAIT``: a concurrent execution gets 409 at once), the check
is re-run on the locked, current data, and only a ``pass`` (or ``needs_review`` with every officer
confirmation given) is executed: parents retired, children created with new GB/T 37346 codes,
buildings and support land copied into the lot that contains them, lineage and audit recorded.
An ``Idempotency-Key`` makes a retry return the first result without executing twice, also when the
retry arrives while the first attempt is still running (it waits for it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
import shapely
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.errors import ProblemError
from app.lookup import FACT_COLUMNS, PgLookup
from app.services.checks import check_in, record
from app.services.common import audit, dumps, jsonable
from gis.geojson import request_crs, to_storage_geometry
from gis.jurisdiction import load_jurisdiction
from gis.units import m2_to_mu, round_m2

__all__ = ["REQUIRED_CONFIRMATIONS", "execute", "operation_detail"]

REQUIRED_CONFIRMATIONS = {"split": ("planning", "fire_safety", "environment", "contract_permits"),
                          "merge": (), "edge-plots": ("industrial_guidance",)}
KIND = {"split": "split", "merge": "merge", "edge-plots": "edge_plot"}
_IDEMPOTENCY_LOCK = 0x1D3E  # first key of pg_advisory_xact_lock(int, int) for Idempotency-Keys
_CODE = re.compile(r"^(\d{12}[A-Z]{2})(\d{5})$")
_CREDIT = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")
# Facts that describe the land as a whole and do not carry over to a changed parcel as they stand.
_NOT_COPIED = {"parcel_code", "declared_area_m2", "developed_area_m2", "floor_area_m2", "invested_wan",
               "planned_investment_wan", "far_actual", "produced_by", "parent_codes", "no_split", "remarks"}
_COPIED = [c for c in FACT_COLUMNS if c not in _NOT_COPIED]


def _stored_codes(operation: str, request: Mapping[str, Any]) -> list[str]:
    specs = request.get("parcels") if operation == "merge" else [request.get("parcel")]
    if not isinstance(specs, list) or not specs:
        return []
    codes = []
    for i, s in enumerate(specs):
        if not isinstance(s, str) or not s.strip():
            pointer = f"/parcels/{i}" if operation == "merge" else "/parcel"
            raise ProblemError(422, "stored-parcel-required", "执行操作只能针对已登记宗地（给出宗地代码）",
                               "an operation can only be executed on stored parcels (give parcel codes)",
                               pointer=pointer)
        codes.append(s.strip())
    return list(dict.fromkeys(codes))


def _replay(conn: Connection, key: str, operation: str, request: Mapping[str, Any]) -> dict[str, Any] | None:
    row = conn.execute(text("SELECT kind, request, result FROM operations WHERE idempotency_key = :k"),
                       {"k": key}).first()
    if row is None:
        return None
    if row.kind != KIND[operation] or orjson.dumps(jsonable(row.request), option=orjson.OPT_SORT_KEYS) != \
            orjson.dumps(jsonable(request), option=orjson.OPT_SORT_KEYS):
        raise ProblemError(422, "idempotency-key-reused", "该 Idempotency-Key 已用于另一个请求",
                           "this Idempotency-Key was used for a different request", pointer="/header/idempotency-key")
    return {**row.result, "replayed": True}


def _lock_parents(conn: Connection, codes: list[str]) -> list[dict[str, Any]]:
    try:
        rows = conn.execute(text(
            "SELECT id, parcel_code, holder_id FROM parcels WHERE parcel_code = ANY(:c) AND valid_to IS NULL "
            "ORDER BY id FOR UPDATE NOWAIT"), {"c": codes}).mappings().all()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":
            raise ProblemError(409, "parcel-locked", "宗地正被另一操作处理，请稍后重试",
                               "the parcel is being changed by another operation; retry later",
                               headers={"Retry-After": "1"}) from None
        raise
    found = {r["parcel_code"] for r in rows}
    for code in codes:
        if code in found:
            continue
        exists = conn.execute(text("SELECT 1 FROM parcels WHERE parcel_code = :c LIMIT 1"), {"c": code}).first()
        if exists is None:
            raise ProblemError(404, "unknown-parcel", f"未找到宗地：{code}", f"no parcel with code {code}")
        raise ProblemError(409, "parcel-not-current", f"宗地 {code} 已注销（不再是现状宗地）",
                           f"parcel {code} is retired (no longer current)", parcel_code=code)
    return [dict(r) for r in rows]


def _confirmed(operation: str, request: Mapping[str, Any]) -> bool:
    conf = request.get("confirmations") or {}
    return isinstance(conf, Mapping) and all(conf.get(k) is True for k in REQUIRED_CONFIRMATIONS[operation])


def _next_code(conn: Connection, parent_code: str, county_code: str) -> str:
    """The next free GB/T 37346 code in the parent's 地籍子区: never a code used before, retired ones included."""
    m = _CODE.match(parent_code)
    prefix = m.group(1) if m else f"{county_code}000000GB"
    used = conn.execute(text(
        "SELECT max(substr(parcel_code, 15, 5)::int) FROM parcels WHERE left(parcel_code, 14) = :p "
        "AND length(parcel_code) = 19 AND substr(parcel_code, 15, 5) ~ '^[0-9]{5}$'"), {"p": prefix}).scalar() or 0
    seq = conn.execute(text(
        "INSERT INTO parcel_code_seq (prefix, last_seq) VALUES (:p, :u + 1) "
        "ON CONFLICT (prefix) DO UPDATE SET last_seq = GREATEST(parcel_code_seq.last_seq, :u) + 1 "
        "RETURNING last_seq"), {"p": prefix, "u": used}).scalar_one()
    if seq > 99999:
        raise ProblemError(409, "code-space-exhausted", f"地籍子区 {prefix} 的宗地顺序号已用尽",
                           f"no sequence numbers left in sub-district {prefix}")
    return f"{prefix}{seq:05d}"


def _holder_id(conn: Connection, party: Any, pointer: str) -> int | None:
    if not isinstance(party, Mapping):
        return None
    name = (party.get("name") or "").strip() or None
    credit = (party.get("credit_code") or "").strip().upper() or None
    if credit:
        if not _CREDIT.match(credit):
            raise ProblemError(422, "invalid-credit-code", f"统一社会信用代码格式不正确：{credit}",
                               f"malformed unified social credit code: {credit}", pointer=f"{pointer}/credit_code")
        hid = conn.execute(text("SELECT id FROM holders WHERE credit_code = :c"), {"c": credit}).scalar()
        if hid is None:
            hid = conn.execute(text("INSERT INTO holders (name, credit_code) VALUES (:n, :c) RETURNING id"),
                               {"n": name or credit, "c": credit}).scalar_one()
        return hid
    if name:
        hid = conn.execute(text("SELECT id FROM holders WHERE name = :n AND credit_code IS NULL"),
                           {"n": name}).scalar()
        return hid or conn.execute(text("INSERT INTO holders (name) VALUES (:n) RETURNING id"),
                                   {"n": name}).scalar_one()
    return None


def _insert_child(conn: Connection, base_id: int, *, code: str, geom: shapely.Geometry, holder_id: int | None,
                  produced_by: str, parents: list[str], no_split: bool, op_id: str,
                  overrides: Mapping[str, Any] | None = None) -> int:
    cols = ", ".join(_COPIED)
    sets = dict(overrides or {})
    select_cols = ", ".join(f":ov_{c}" if c in sets else c for c in _COPIED)
    params = {f"ov_{k}": v for k, v in sets.items()}
    return conn.execute(text(
        f"INSERT INTO parcels ({cols}, parcel_code, geom, holder_id, produced_by, parent_codes, no_split, "
        "operation_id, source) "
        f"SELECT {select_cols}, :code, ST_Multi(ST_GeomFromWKB(:wkb, 4549)), :holder, :by, :parents, :ns, :op, 'api' "
        "FROM parcels WHERE id = :base RETURNING id"),
        {**params, "code": code, "wkb": shapely.to_wkb(shapely.normalize(geom)), "holder": holder_id,
         "by": produced_by, "parents": parents, "ns": no_split, "op": op_id, "base": base_id}).scalar_one()


def _copy_features(conn: Connection, parent_ids: list[int], children: list[tuple[int, shapely.Geometry]]) -> None:
    """Buildings and support land of the parents into the child whose geometry holds most of each."""
    for table, cols in (("buildings", "number, floors, height_m, floor_area_m2, use"),
                        ("support_land", "kind, floor_area_m2")):
        number_col = "number" if table == "buildings" else "NULL"
        rows = conn.execute(text(f"SELECT id, parcel_id, {number_col} AS number, ST_AsBinary(geom) AS wkb FROM {table} "
                                 "WHERE parcel_id = ANY(:p) ORDER BY id"), {"p": parent_ids}).all()
        numbers: dict[int, set[str]] = {cid: set() for cid, _ in children}
        for r in rows:
            g = shapely.from_wkb(r.wkb)
            cid = max(children, key=lambda c: shapely.area(shapely.intersection(c[1], g)))[0]
            if table == "buildings":
                new_number = r.number if r.number not in numbers[cid] else f"{r.parcel_id}-{r.number}"
                numbers[cid].add(new_number)
                conn.execute(text(
                    "INSERT INTO buildings (parcel_id, number, floors, height_m, floor_area_m2, use, geom) "
                    "SELECT :c, :n, floors, height_m, floor_area_m2, use, geom FROM buildings WHERE id = :i"),
                    {"c": cid, "n": new_number, "i": r.id})
            else:
                conn.execute(text(f"INSERT INTO {table} (parcel_id, {cols}, geom) "
                                  f"SELECT :c, {cols}, geom FROM {table} WHERE id = :i"), {"c": cid, "i": r.id})


def _children(conn: Connection, operation: str, request: Mapping[str, Any], report: Mapping[str, Any],
              parents: list[dict[str, Any]], codes: list[str], crs: str | None, j: Any, op_id: str,
              ) -> list[dict[str, Any]]:
    ref = request_crs(request, crs)
    by_code = {p["parcel_code"]: p for p in parents}
    first = by_code[codes[0]]
    out: list[tuple[str, int, shapely.Geometry]] = []
    if operation == "split":
        features = (request.get("lots") or {}).get("features") or []
        labels = [lot["label"] for lot in report.get("lots", [])]
        for i, feat in enumerate(features):
            geom = to_storage_geometry(feat["geometry"], ref, jurisdiction=j, pointer=f"/lots/features/{i}/geometry")
            props = feat.get("properties") or {}
            transferee = props.get("transferee")
            holder = _holder_id(conn, transferee, f"/lots/features/{i}/properties/transferee") \
                if transferee and props.get("retained") is not True else first["holder_id"]
            label = labels[i] if i < len(labels) else str(props.get("label") or i + 1)
            code = _next_code(conn, codes[0], j.county_code)
            cid = _insert_child(conn, first["id"], code=code, geom=geom, holder_id=holder, produced_by="split",
                                parents=codes, no_split=False, op_id=op_id)
            out.append((label, cid, geom))
    else:
        geoms = [shapely.from_wkb(w) for w in conn.execute(text(
            "SELECT ST_AsBinary(geom) FROM parcels WHERE id = ANY(:i)"), {"i": [p["id"] for p in parents]}).scalars()]
        holder = first["holder_id"]
        overrides: dict[str, Any] = {}
        if operation == "merge":
            if request.get("holder"):
                holder = _holder_id(conn, request["holder"], "/holder")
            lease = conn.execute(text("SELECT min(lease_end_on) FROM parcels WHERE id = ANY(:i)"),
                                 {"i": [p["id"] for p in parents]}).scalar()
            overrides["lease_end_on"] = lease
        else:
            features = (request.get("plots") or {}).get("features") or []
            geoms += [to_storage_geometry(f["geometry"], ref, jurisdiction=j, pointer=f"/plots/features/{i}/geometry")
                      for i, f in enumerate(features)]
        merged = shapely.union_all(geoms)
        if shapely.get_num_geometries(merged) > 1:  # slivers within tolerance: close them
            tol = j.tolerance_m
            merged = shapely.buffer(shapely.buffer(merged, tol, join_style="mitre"), -tol, join_style="mitre")
        merged = shapely.make_valid(merged) if not shapely.is_valid(merged) else merged
        code = _next_code(conn, codes[0], j.county_code)
        cid = _insert_child(conn, first["id"], code=code, geom=merged, holder_id=holder,
                            produced_by=KIND[operation], parents=codes, no_split=True, op_id=op_id,
                            overrides=overrides)
        out.append(("merged" if operation == "merge" else "enlarged", cid, merged))
    _copy_features(conn, [p["id"] for p in parents], [(cid, g) for _, cid, g in out])
    result = []
    for label, cid, _ in out:
        row = conn.execute(text("SELECT parcel_code, area_m2 FROM parcels WHERE id = :i"), {"i": cid}).one()
        conn.execute(text("INSERT INTO operation_parcels (operation_id, parcel_id, role, label) "
                          "VALUES (:o, :p, 'child', :l)"), {"o": op_id, "p": cid, "l": label})
        result.append({"label": label, "parcel_code": row.parcel_code, "area_m2": round_m2(row.area_m2),
                       "area_mu": m2_to_mu(row.area_m2, 2), "links": [
                           {"rel": "self", "href": f"/api/v1/parcels/{row.parcel_code}"}]})
    return result


def _carry_out(conn: Connection, operation: str, request: Mapping[str, Any], report: dict[str, Any],
               parents: list[dict[str, Any]], codes: list[str], crs: str | None, j: Any, actor: str,
               idempotency_key: str | None, check_id: str) -> dict[str, Any]:
    """Record the operation, retire the parents, create the children (inside the caller's transaction)."""
    op_id = str(conn.execute(text(
        "INSERT INTO operations (kind, actor, rule_set, as_of, verdict, request, report, confirmations, "
        "idempotency_key) VALUES (:k, :a, :rs, :d, :v, CAST(:q AS jsonb), CAST(:r AS jsonb), "
        "CAST(:c AS jsonb), :key) RETURNING id"),
        {"k": KIND[operation], "a": actor, "rs": report["rule_set"]["id"], "d": report["as_of"],
         "v": report["verdict"], "q": dumps(request), "r": dumps(report),
         "c": dumps(request.get("confirmations") or {}), "key": idempotency_key}).scalar_one())
    parent_ids = [p["id"] for p in parents]
    conn.execute(text("UPDATE parcels SET valid_to = now(), retired_by = :o WHERE id = ANY(:i)"),
                 {"o": op_id, "i": parent_ids})
    for p in parents:
        conn.execute(text("INSERT INTO operation_parcels (operation_id, parcel_id, role, label) "
                          "VALUES (:o, :p, 'parent', :l)"), {"o": op_id, "p": p["id"], "l": p["parcel_code"]})
    children = _children(conn, operation, request, report, parents, codes, crs, j, op_id)
    result = {"operation_id": op_id, "operation": operation, "verdict": report["verdict"],
              "parents": codes, "children": children, "check_id": check_id, "report": report,
              "links": [{"rel": "self", "href": f"/api/v1/operations/{op_id}"}]}
    conn.execute(text("UPDATE operations SET result = CAST(:r AS jsonb) WHERE id = :o"),
                 {"r": dumps(result), "o": op_id})
    audit(conn, actor, f"operation.{KIND[operation]}", ",".join(codes),
          {"operation_id": op_id, "parents": codes, "children": [c["parcel_code"] for c in children],
           "idempotency_key": idempotency_key})
    return result


def execute(engine: Engine, operation: str, request: Mapping[str, Any], *, crs: str | None, actor: str,
            jurisdiction: str, idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
    """Execute an operation; returns (result, replayed)."""
    if not isinstance(request, Mapping):
        raise ProblemError(400, "not-an-object", "请求体应为 JSON 对象", "the request body must be a JSON object")
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        raise ProblemError(400, "invalid-idempotency-key", "Idempotency-Key 长度应为 1–200",
                           "Idempotency-Key must be 1–200 characters", pointer="/header/idempotency-key")
    codes = _stored_codes(operation, request)
    j = load_jurisdiction(jurisdiction)
    if idempotency_key:
        with engine.connect() as conn:
            replay = _replay(conn, idempotency_key, operation, request)
        if replay is not None:
            return replay, True
    try:
        with engine.begin() as conn:
            if idempotency_key:
                # a retry sent while the first attempt still runs waits for it here and then replays its
                # result, instead of meeting the parcel lock and answering 409
                conn.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:k))"),
                             {"ns": _IDEMPOTENCY_LOCK, "k": idempotency_key})
                replay = _replay(conn, idempotency_key, operation, request)
                if replay is not None:
                    return replay, True
            parents = _lock_parents(conn, codes) if codes else []
            report = check_in(conn, operation, request, crs=crs, jurisdiction=jurisdiction, lookup=PgLookup(conn))
            check_id = record(conn, actor, operation, request, report)
            report["check_id"] = check_id
            ok = report["verdict"] == "pass" or (report["verdict"] == "needs_review" and _confirmed(operation, request))
            if not ok:
                refused = report  # the refused check stays on record: the transaction commits, then we answer
            else:
                refused = None
                result = _carry_out(conn, operation, request, report, parents, codes, crs, j, actor,
                                    idempotency_key, check_id)
    except IntegrityError as exc:
        if idempotency_key and "idempotency_key" in str(exc.orig):
            with engine.connect() as conn:
                replay = _replay(conn, idempotency_key, operation, request)
            if replay is not None:
                return replay, True
            raise ProblemError(409, "idempotency-conflict", "同一 Idempotency-Key 的请求正在处理",
                               "a request with this Idempotency-Key is in progress") from None
        raise
    if refused is not None:
        raise ProblemError(
            422, "operation-refused",
            f"审查结论为 {refused['verdict']}，不能执行（需通过，或仅待核实且已给出全部确认）",
            f"the check's verdict is {refused['verdict']}: only a pass (or needs_review with every "
            "confirmation given) can be executed", report=jsonable(refused))
    return jsonable(result), False


def operation_detail(engine: Engine, op_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT result FROM operations WHERE id::text = :i"), {"i": op_id}).first()
    if row is None or row.result is None:
        raise ProblemError(404, "unknown-operation", f"未找到操作：{op_id}", f"no operation {op_id}")
    return row.result
