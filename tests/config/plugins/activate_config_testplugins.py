"""Two config-only destination plugins, discovered through the `activate.destinations` entry point group.

A third entry point, `testbroken`, names an attribute this module does not define: a plugin that fails to load.

They let the config tests cover what real destinations declare (a required `match`, restricted modes, secret
fields, a discriminated `auth:` union) without depending on vendor plugins written in parallel. They never write:
`create` refuses, because no config test runs a sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr

from activate.config.models import ConnectionSpec, DestinationSpec, RateLimitSpec, StrictModel
from activate.destinations.base import Capabilities, Destination, WriteContext


class TokenAuth(StrictModel):
    method: Literal["token"]
    token: SecretStr


class PasswordAuth(StrictModel):
    method: Literal["password"]
    username: str
    password: SecretStr


class CrmConnection(ConnectionSpec):
    """A CRM that upserts by external id (like HubSpot or Salesforce)."""

    type: Literal["testcrm"] = "testcrm"
    base_url: str = "https://crm.invalid"
    auth: Annotated[TokenAuth | PasswordAuth, Field(discriminator="method")]
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = 30.0
    params: dict[str, str] = Field(default_factory=dict)  # deliberately not SecretStr: the loader's name heuristic
    rate_limit: RateLimitSpec | None = None


class ChatConnection(ConnectionSpec):
    """A chat tool that posts one message per row (like Slack)."""

    type: Literal["testchat"] = "testchat"
    token: SecretStr
    base_url: str = "https://chat.invalid/api/"


@dataclass(frozen=True)
class _ConfigOnlyPlugin:
    name: str
    connection_model: type[BaseModel]
    modes: frozenset[str]
    requires_match: bool

    def capabilities(self) -> Capabilities:
        return Capabilities(modes=self.modes, batch_size=100, requires_match=self.requires_match)

    def partial_updates(self, spec: DestinationSpec) -> str | None:
        # Like the vendors they stand for: a CRM patches fields by external id, a chat message is replaced whole.
        return None if self.requires_match else f"{self.name} replaces a message as a whole"

    def create(self, connection: Any, context: WriteContext) -> Destination:
        raise RuntimeError(f"{self.name} is a config-only test plugin: it has no writer")


crm = _ConfigOnlyPlugin("testcrm", CrmConnection, frozenset({"upsert", "update", "insert"}), requires_match=True)
chat = _ConfigOnlyPlugin("testchat", ChatConnection, frozenset({"upsert", "mirror"}), requires_match=False)
