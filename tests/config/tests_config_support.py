"""Paths and environment shared by the config tests."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
EXAMPLE = HERE / "example"
PLUGINS = HERE / "plugins"
EXAMPLE_ENV = {
    "PG_PASSWORD": "pg-pass-9931",
    "CRM_TOKEN": "crm-token-1234",
    "CRM_KEY": "abcd5678",
    "CHAT_TOKEN": "xoxb-chat-77",
}
