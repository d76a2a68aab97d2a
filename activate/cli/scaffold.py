"""`activate init`: a project that works at once against the local simulators.

It writes `activate.yml` (a DuckDB state store, a sample DuckDB warehouse, one connection per destination pointed
at the simulators, every secret and URL overridable from the environment), one sync per destination in `syncs/`,
and the warehouse itself: `analytics.customers`, 25 rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from activate.errors import UsageError


@dataclass(frozen=True)
class Endpoints:
    """Where the destinations are: the simulators' default ports (`activate simulate all`), or the demo's."""

    webhook: str = "http://127.0.0.1:8790"
    hubspot: str = "http://127.0.0.1:8791"
    salesforce: str = "https://127.0.0.1:8792"
    slack: str = "http://127.0.0.1:8793/api/"
    salesforce_ca_bundle: str = ".activate/simulator/simulator-ca.pem"


ACTIVATE_YML = """\
# activate project: where state lives and how to reach each system.
# ${{VAR}} and ${{VAR:-default}} read the environment; the defaults point at the local simulators
# (start them with: python -m activate simulate all).
state:
  url: "${{ACTIVATE_STATE_URL:-duckdb:///.activate/state.duckdb}}"   # e.g. postgresql+psycopg://user@host/db

connections:
  warehouse:
    type: duckdb
    path: warehouse.duckdb

  hubspot:
    type: hubspot
    access_token: "${{HUBSPOT_TOKEN:-sim-hubspot-token}}"
    base_url: "${{HUBSPOT_BASE_URL:-{hubspot}}}"

  salesforce:
    type: salesforce
    instance_url: "${{SALESFORCE_INSTANCE_URL:-{salesforce}}}"
    login_url: "${{SALESFORCE_LOGIN_URL:-{salesforce}}}"
    ca_bundle: "${{SALESFORCE_CA_BUNDLE:-{salesforce_ca_bundle}}}"
    auth:
      method: password
      username: "${{SALESFORCE_USERNAME:-integration@activate.test}}"
      password: "${{SALESFORCE_PASSWORD:-s3cret-Passw0rd}}"
      security_token: "${{SALESFORCE_SECURITY_TOKEN:-TOKEN0123456789}}"

  slack:
    type: slack
    token: "${{SLACK_BOT_TOKEN:-xoxb-activate-simulator}}"
    base_url: "${{SLACK_BASE_URL:-{slack}}}"

  webhook:
    type: webhook
    url: "${{WEBHOOK_URL:-{webhook}}}"
"""

SYNCS = {
    "hubspot_contacts.yml": """\
# Every customer with an email becomes a HubSpot contact, matched by email.
source:
  connection: warehouse
  query: select * from analytics.customers where email is not null
  primary_key: customer_id
destination:
  connection: hubspot
  object: contacts
  mode: upsert
  match: email
  mapping:
    email: email
    firstname: first_name
    lastname: last_name
    company: company
    lifecyclestage: "{{ 'customer' if row.plan != 'free' else 'lead' }}"
schedule: "*/15 * * * *"
guardrails:
  max_error_rate: 0.2
""",
    "salesforce_contacts.yml": """\
# Customers as Salesforce Contacts, upserted by the External ID field Activate_Id__c.
source:
  connection: warehouse
  table: analytics.customers
  primary_key: customer_id
destination:
  connection: salesforce
  object: Contact
  mode: upsert
  match: Activate_Id__c
  mapping:
    Activate_Id__c: customer_id
    Email: email
    FirstName: first_name
    LastName: last_name
    Lifetime_Value__c: "{{ row.ltv | round(2) }}"
schedule: "0 * * * *"
""",
    "slack_churn_alerts.yml": """\
# One message per at-risk account in #alerts, kept up to date, deleted when the account recovers.
source:
  connection: warehouse
  query: select * from analytics.customers where churn_risk >= 0.7
  primary_key: customer_id
destination:
  connection: slack
  object: alerts
  mode: mirror
  message:
    text: >-
      :warning: {{ row.company }} is at churn risk {{ (row.churn_risk * 100) | round | int }}%
      (owner {{ row.owner_email }})
schedule: "*/5 * * * *"
guardrails:
  max_deletes: "50%"
""",
    "webhook_customers.yml": """\
# The whole customer table mirrored to an HTTP endpoint (see the README for the wire format).
source:
  connection: warehouse
  table: analytics.customers
  primary_key: customer_id
destination:
  connection: webhook
  object: customers
  mode: mirror
  mapping:
    email: email
    name: "{{ row.first_name }} {{ row.last_name }}"
    plan: plan
    ltv: ltv
schedule: "*/30 * * * *"
guardrails:
  max_deletes: 10
""",
}

CUSTOMERS_SQL = """
create schema if not exists analytics;
create or replace table analytics.customers as
select
    i as customer_id,
    'customer' || i || '@example.com' as email,
    ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara'][1 + i % 5] as first_name,
    ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov'][1 + (i // 5) % 5] as last_name,
    'Company ' || i as company,
    ['free', 'pro', 'enterprise'][1 + i % 3] as plan,
    round(100 + i * 37.5, 2)::decimal(12, 2) as ltv,
    round(((i * 37) % 100) / 100.0, 2) as churn_risk,
    'owner' || (i % 3) || '@example.com' as owner_email
from range(1, 26) t(i);
"""


GITIGNORE = """\
# activate: local state, the sample warehouse, the simulators' certificates (all regenerated, none to commit)
.activate/
warehouse.duckdb
warehouse.duckdb.wal
*.duckdb.wal
"""


def write_gitignore(path: Path) -> Path:
    """`.gitignore` with what a project keeps out of version control; an existing one gains the missing lines."""
    target = path / ".gitignore"
    existing = target.read_text(encoding="utf-8").splitlines() if target.exists() else []
    missing = [line for line in GITIGNORE.splitlines() if line and line not in existing]
    if missing and existing:
        missing = [line for line in missing if not line.startswith("#")]
        prefix = "" if not existing or existing[-1] == "" else "\n"
        with target.open("a", encoding="utf-8") as handle:
            handle.write(prefix + "\n".join(missing) + "\n")
    elif not existing:
        target.write_text(GITIGNORE, encoding="utf-8")
    return target


def scaffold(path: Path, *, force: bool = False, endpoints: Endpoints | None = None) -> list[Path]:
    """Write a new project into `path`; refuses a non-empty directory unless `force`."""
    import duckdb

    endpoints = endpoints or Endpoints()
    path.mkdir(parents=True, exist_ok=True)
    if not force and any(p for p in path.iterdir() if not p.name.startswith(".")):
        raise UsageError(f"{path} is not empty; choose an empty directory or pass --force")
    written = [path / "activate.yml"]
    written[0].write_text(
        ACTIVATE_YML.format(
            webhook=endpoints.webhook,
            hubspot=endpoints.hubspot,
            salesforce=endpoints.salesforce,
            slack=endpoints.slack,
            salesforce_ca_bundle=endpoints.salesforce_ca_bundle,
        )
    )
    (path / "syncs").mkdir(exist_ok=True)
    for name, text in SYNCS.items():
        written.append(path / "syncs" / name)
        written[-1].write_text(text)
    warehouse = path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(CUSTOMERS_SQL)
    finally:
        con.close()
    written.append(warehouse)
    written.append(write_gitignore(path))
    return [p.relative_to(path) for p in written]
