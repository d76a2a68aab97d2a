"""A faithful local Salesforce (REST, sObject Collections, Bulk API 2.0, OAuth/SOAP login) over HTTPS.

`SalesforceSimulator` backs the Salesforce destination's tests and users' CI; `serve()` runs one standalone;
`SalesforceConformanceTarget` lets the shared destination conformance suite drive it.
"""

from __future__ import annotations

from activate.testing.salesforce.app import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    SalesforceSimulator,
    serve,
)
from activate.testing.salesforce.conformance import SalesforceConformanceTarget
from activate.testing.salesforce.org import RecordError, SalesforceOrg

__all__ = [
    "CONSUMER_KEY",
    "CONSUMER_SECRET",
    "PASSWORD",
    "SECURITY_TOKEN",
    "USERNAME",
    "RecordError",
    "SalesforceConformanceTarget",
    "SalesforceOrg",
    "SalesforceSimulator",
    "serve",
]
