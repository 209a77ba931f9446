"""Version-specific set-up of InfluxDB: retention and downsampling (see docs/schema.md).

- 1.x: a database, two retention policies (``raw`` default, ``rollup`` long) and continuous
  queries that downsample raw measurements into ``rollup`` every 5 minutes (InfluxQL).
- 2.x: ``influxdb-client`` (BucketsApi, TasksApi, DBRP mappings): a raw bucket and a rollup
  bucket with retention rules, a Flux downsampling task, and DBRP mappings so that Pantau's
  v1-compatible reads and writes reach the buckets.

Everything here is idempotent: running it on an already provisioned server changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from store.timeseries import InfluxError, InfluxV1, quote_ident, quote_literal

# Measurements downsampled into the rollup retention (numeric fields averaged per 5 minutes).
ROLLUP_MEASUREMENTS = ("hotspot_poll", "hotspot_if", "hotspot_radio", "grid_telemetry", "egov_probe")


@dataclass(frozen=True)
class RetentionPlan:
    raw_days: int = 30
    rollup_days: int = 400
    rollup_every: str = "5m"


def provision_v1(db: InfluxV1, plan: RetentionPlan = RetentionPlan()) -> list[str]:
    """Create database, retention policies and continuous queries on InfluxDB 1.x. Returns actions taken."""
    name = db.database
    qn = quote_ident(name)
    actions: list[str] = []
    dbs = {r["name"] for r in db.query_rows("SHOW DATABASES", database=name)}
    if name not in dbs:
        db.query(f"CREATE DATABASE {qn}")
        actions.append(f"created database {name}")
    rps = {r["name"]: r for r in db.query_rows(f"SHOW RETENTION POLICIES ON {qn}")}
    for rp, days, default in (("raw", plan.raw_days, True), ("rollup", plan.rollup_days, False)):
        clause = f"DURATION {days}d REPLICATION 1" + (" DEFAULT" if default else "")
        if rp not in rps:
            db.query(f"CREATE RETENTION POLICY {quote_ident(rp)} ON {qn} {clause}")
            actions.append(f"created retention policy {rp} ({days}d)")
        elif rps[rp]["duration"] != f"{days * 24}h0m0s" or bool(rps[rp]["default"]) != default:
            db.query(f"ALTER RETENTION POLICY {quote_ident(rp)} ON {qn} {clause}")
            actions.append(f"altered retention policy {rp} ({days}d)")
    existing = set()
    for res in db.query("SHOW CONTINUOUS QUERIES"):
        for s in res.series:
            if s.get("name") == name:
                existing |= {v[0] for v in s.get("values", [])}
    for m in ROLLUP_MEASUREMENTS:
        cq = f"cq_{m}_{plan.rollup_every}"
        if cq in existing:
            continue
        db.query(
            f"CREATE CONTINUOUS QUERY {quote_ident(cq)} ON {qn} BEGIN "
            f'SELECT mean(*) INTO {qn}."rollup".{quote_ident(m)} FROM {qn}."raw".{quote_ident(m)} '
            f"GROUP BY time({plan.rollup_every}), * END"
        )
        actions.append(f"created continuous query {cq}")
    return actions


def provision_users_v1(admin: InfluxV1, users: dict[str, tuple[str, str]]) -> list[str]:
    """Non-admin users on InfluxDB 1.x with ``auth-enabled``: name → (password, privilege on the
    database: ``WRITE`` for ``pantau collect``, ``READ`` for ``pantau api``, or ``ALL``). Idempotent:
    an existing user gets its password set again and the privilege granted."""
    qn = quote_ident(admin.database)
    existing = {r["user"] for r in admin.query_rows("SHOW USERS")}
    actions = []
    for user, (password, privilege) in users.items():
        if privilege not in ("READ", "WRITE", "ALL"):
            raise ValueError(f"privilege for {user!r} must be READ, WRITE or ALL, not {privilege!r}")
        if user in existing:
            admin.query(f"SET PASSWORD FOR {quote_ident(user)} = {quote_literal(password)}")
        else:
            admin.query(f"CREATE USER {quote_ident(user)} WITH PASSWORD {quote_literal(password)}")
            actions.append(f"created user {user}")
        admin.query(f"GRANT {privilege} ON {qn} TO {quote_ident(user)}")
    return actions


def provision_v2(url: str, token: str, org: str, bucket: str, plan: RetentionPlan = RetentionPlan()) -> list[str]:
    """Create buckets, DBRP mappings and the downsampling task on InfluxDB 2.x (influxdb-client)."""
    from influxdb_client import BucketRetentionRules, InfluxDBClient, TaskCreateRequest
    from influxdb_client.domain.dbrp_create import DBRPCreate
    from influxdb_client.service.dbr_ps_service import DBRPsService

    actions: list[str] = []
    rollup_bucket = f"{bucket}_rollup"
    with InfluxDBClient(url=url, token=token, org=org) as client:
        orgs = client.organizations_api().find_organizations(org=org)
        if not orgs:
            raise InfluxError(f"organisation {org!r} not found on {url}")
        org_id = orgs[0].id
        buckets = client.buckets_api()
        ids = {}
        for name, days in ((bucket, plan.raw_days), (rollup_bucket, plan.rollup_days)):
            found = buckets.find_bucket_by_name(name)
            if found is None:
                found = buckets.create_bucket(
                    bucket_name=name,
                    org_id=org_id,
                    retention_rules=BucketRetentionRules(type="expire", every_seconds=days * 86400),
                )
                actions.append(f"created bucket {name} ({days}d)")
            ids[name] = found.id
        dbrp = DBRPsService(client.api_client)
        mapped = {(m.database, m.retention_policy) for m in (dbrp.get_dbr_ps(org_id=org_id).content or [])}
        for rp, name in (("raw", bucket), ("rollup", rollup_bucket)):
            if (bucket, rp) not in mapped:
                dbrp.post_dbrp(
                    DBRPCreate(
                        org_id=org_id, bucket_id=ids[name], database=bucket, retention_policy=rp, default=(rp == "raw")
                    )
                )
                actions.append(f"mapped {bucket}/{rp} to bucket {name}")
        tasks = client.tasks_api()
        task_name = f"pantau-rollup-{plan.rollup_every}"
        if not tasks.find_tasks(name=task_name):
            measurements = " or ".join(f'r._measurement == "{m}"' for m in ROLLUP_MEASUREMENTS)
            flux = (
                f'option task = {{name: "{task_name}", every: {plan.rollup_every}}}\n'
                f'from(bucket: "{bucket}") |> range(start: -task.every)\n'
                f"  |> filter(fn: (r) => ({measurements}) and (r._value is float or r._value is int))\n"
                f"  |> aggregateWindow(every: {plan.rollup_every}, fn: mean)\n"
                f'  |> to(bucket: "{rollup_bucket}")\n'
            )
            tasks.create_task(
                task_create_request=TaskCreateRequest(
                    flux=flux, org_id=org_id, status="active", description="Pantau downsampling"
                )
            )
            actions.append(f"created task {task_name}")
    return actions


def server_major_version(db: InfluxV1) -> int:
    v = db.server_version().lstrip("v")
    try:
        return int(v.split(".")[0])
    except ValueError:
        return 1
