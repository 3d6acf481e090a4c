"""The chat backend's settings, read like the rest of orderpay's from `ORDERPAY_*` variables.

Kept apart from `payment_core.settings` because only the chat backend reads them;
every one has a default, so `orderpay serve` chats with the offline assistant
when nothing is set.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_SERVER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class McpServerConfig:
    """One MCP server the assistant may use. The user's bearer token is sent to it."""

    name: str
    url: str


class ChatSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERPAY_", env_file=".env", extra="ignore")

    chat_provider: Literal["auto", "offline", "openai", "anthropic"] = Field(
        "auto", description="Which model answers: `auto` picks OpenAI when its key or base URL is set, "
                            "else Anthropic when its key is set, else the offline assistant.")
    openai_api_key: str | None = Field(None, description="Key of the OpenAI-compatible endpoint.")
    openai_base_url: str | None = Field(
        None, description="Base URL of an OpenAI-compatible endpoint (Ollama: http://localhost:11434/v1, vLLM, …).")
    openai_model: str = Field("gpt-5.4-mini", description="Model name sent to the OpenAI-compatible endpoint.")
    anthropic_api_key: str | None = Field(None, description="Anthropic API key.")
    anthropic_base_url: str | None = Field(None, description="Base URL of the Anthropic API (a proxy, a gateway).")
    anthropic_model: str = Field("claude-haiku-4-5", description="Anthropic model name.")
    chat_max_output_tokens: int = Field(1024, gt=0, description="Longest answer one model call may write.")
    chat_provider_retries: int = Field(2, ge=0, le=10, description="Retries of a failed model call (by the SDK).")
    chat_provider_timeout_seconds: float = Field(
        60, gt=0, description="Longest wait for a model's next bytes before the turn fails.")

    chat_max_tool_rounds: int = Field(8, ge=1, le=50, description="Model calls one turn may make that end in tool calls.")
    chat_turn_timeout_seconds: float = Field(180, gt=0, description="Longest a turn may run, tools and model together.")
    chat_tool_timeout_seconds: float = Field(30, gt=0, description="Longest one tool call may take.")
    chat_max_active_turns: int = Field(
        32, ge=1, description="Turns of this process working at once; more wait their turn (already streaming "
                              "`start` and keep-alives), which keeps the tools and the database from thrashing.")
    chat_keepalive_seconds: float = Field(15, gt=0, description="Interval of SSE keep-alive comments.")
    chat_resume_grace_seconds: float = Field(
        10, ge=0, description="How long a turn whose client went away keeps running, waiting for a reconnect "
                              "with Last-Event-ID, before it is cancelled.")
    chat_payment_watch_seconds: float = Field(
        2, ge=0, description="While a turn that prepared a payment runs, how often it reads the payment's status "
                             "again to update the payment part of the stream (0: only once, at the turn's end).")
    chat_history_messages: int = Field(40, ge=2, description="Most recent messages of a conversation sent to the model.")

    mcp_servers: Annotated[list[McpServerConfig], NoDecode] = Field(
        default_factory=list,
        description="Extra MCP servers (streamable HTTP), comma-separated `name=url`. The user's bearer token is "
                    "forwarded to them, so list only servers trusted with it.")
    mcp_list_timeout_seconds: float = Field(10, gt=0, description="Longest wait for an MCP server's tool list.")

    @field_validator("mcp_servers", mode="before")
    @classmethod
    def _parse_servers(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        servers = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, url = item.partition("=")
            if not sep or not _SERVER_NAME.match(name.strip()) or not url.strip().startswith(("http://", "https://")):
                raise ValueError(f"{item!r}: expected name=http(s)://host/path, the name a letter then "
                                 "letters, digits, - or _ (at most 32)")
            servers.append(McpServerConfig(name.strip(), url.strip()))
        return servers

    @property
    def provider(self) -> Literal["offline", "openai", "anthropic"]:
        """The provider `chat_provider` resolves to."""
        if self.chat_provider != "auto":
            return self.chat_provider
        if self.openai_api_key or self.openai_base_url:
            return "openai"
        if self.anthropic_api_key:
            return "anthropic"
        return "offline"
