"""Settings from the environment and `.env`.

The variable names are an interface (DESIGN.md §3): deployments and scripts rely on them. Every field maps to the
upper-case environment variable of the same name (`wecom_corp_id` <- `WECOM_CORP_ID`). Secrets are `SecretStr`, so
they never show up in a repr or a log line.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

# Demo values: used only when SCRM_ENV=demo (what `scrm demo` and the tests run with). The AES key is 43 chars as WeCom
# requires; none of these is a real credential.
DEMO_WECOM = {
    "wecom_corp_id": "wwdemo0000000001",
    "wecom_agent_id": 1000002,
    "wecom_secret": "demo-app-secret-not-a-real-one",
    "wecom_token": "demotoken",
    "wecom_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
}
PLACEHOLDER = "changethis"
_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")
_HOURS = r"^\d{2}:\d{2}-\d{2}:\d{2}(,\d{2}:\d{2}-\d{2}:\d{2})*$"


class Environment(StrEnum):
    production = "production"
    development = "development"
    demo = "demo"


class WeComSettings(BaseModel):
    corp_id: str
    agent_id: int
    secret: SecretStr
    kf_secret: SecretStr | None
    token: SecretStr
    aes_key: SecretStr
    api_base: str


class LLMSettings(BaseModel):
    base_url: str
    api_key: SecretStr
    model: str
    timeout_s: float


class EmbeddingSettings(BaseModel):
    base_url: str | None
    api_key: SecretStr | None
    model: str | None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    scrm_env: Environment = Environment.production
    scrm_data_dir: Path = Path("./var")
    scrm_timezone: str = "Asia/Shanghai"
    scrm_public_url: str = "http://127.0.0.1:8000"
    scrm_admin_token: SecretStr | None = None

    wecom_corp_id: str | None = None
    wecom_agent_id: int | None = None
    wecom_secret: SecretStr | None = None
    wecom_kf_secret: SecretStr | None = None
    wecom_token: SecretStr | None = None
    wecom_aes_key: SecretStr | None = None
    wecom_api_base: str = "https://qyapi.weixin.qq.com"

    database_url: str | None = None
    chroma_url: str | None = None

    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout_s: float = Field(default=15.0, gt=0)

    embedding_base_url: str | None = None
    embedding_api_key: SecretStr | None = None
    embedding_model: str | None = None

    # Edge limits.
    scrm_callback_max_bytes: int = Field(default=64 * 1024, gt=0)
    scrm_callback_max_age_s: int = Field(default=300, gt=0)
    # Process roles: in-process workers and scheduler (several `scrm serve` processes may run with these off).
    scrm_workers: int = Field(default=2, ge=0)
    scrm_scheduler: bool = True
    scrm_worker_poll_s: float = Field(default=0.5, gt=0)
    # Escalations: first-response SLA, re-notify interval, notices before reassigning, reassignments before the
    # supervisor; advisors' default working hours (trading days, comma-separated ranges); hand the kf session to the
    # advisor in WeCom at once (state 3) instead of replying from the console through the API.
    scrm_sla_first_response_min: float = Field(default=15, gt=0)
    scrm_sla_renotify_min: float = Field(default=5, gt=0)
    scrm_sla_max_notify: int = Field(default=2, ge=1)
    scrm_sla_max_reassign: int = Field(default=1, ge=0)
    scrm_working_hours: str = Field(default="09:00-17:30", pattern=_HOURS)
    scrm_kf_trans_on_escalate: bool = False
    # Reminders: allowed send window (local time), per-client caps, planned kf sends per minute.
    scrm_reminder_window: str = Field(default="09:00-20:00", pattern=_HOURS)
    scrm_reminder_max_per_day: int = Field(default=1, ge=1)
    scrm_reminder_max_per_week: int = Field(default=3, ge=1)
    scrm_reminder_rate_per_min: int = Field(default=2000, ge=1, le=10000)
    # How long a claimed queue row stays ours; a worker that dies is replaced after this.
    scrm_lease_s: float = Field(default=120.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _demo_defaults(cls, data: object) -> object:
        if isinstance(data, dict) and str(data.get("scrm_env", data.get("SCRM_ENV", ""))).lower() == "demo":
            for key, value in DEMO_WECOM.items():
                if data.get(key) in (None, "") and data.get(key.upper()) in (None, ""):
                    data[key] = value
        return data

    @field_validator("wecom_api_base", "scrm_public_url", "llm_base_url", "embedding_base_url", "chroma_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("wecom_aes_key")
    @classmethod
    def _check_aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() and not _AES_KEY.match(value.get_secret_value()):
            raise ValueError(f"must be the 43-character EncodingAESKey (got {len(value.get_secret_value())} characters)")
        return value

    @field_validator("scrm_timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @model_validator(mode="after")
    def _require_wecom(self) -> "Settings":
        missing = [
            name.upper()
            for name in ("wecom_corp_id", "wecom_agent_id", "wecom_secret", "wecom_token", "wecom_aes_key")
            if not _present(getattr(self, name))
        ]
        if missing:
            raise ValueError(f"required variable(s) not set: {', '.join(missing)}")
        if self.scrm_env == Environment.production:
            placeholders = [
                name.upper()
                for name in self.model_fields
                if isinstance(getattr(self, name), SecretStr) and getattr(self, name).get_secret_value() == PLACEHOLDER
            ]
            if placeholders:
                raise ValueError(f"still set to the '{PLACEHOLDER}' placeholder: {', '.join(placeholders)}")
        llm = [self.llm_base_url, self.llm_model]
        if any(llm) and not all(llm):
            raise ValueError("LLM_BASE_URL and LLM_MODEL must be set together")
        return self

    # Grouped views -------------------------------------------------------------------------------------------------

    @property
    def is_demo(self) -> bool:
        return self.scrm_env == Environment.demo

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.scrm_timezone)

    @property
    def wecom(self) -> WeComSettings:
        return WeComSettings(
            corp_id=self.wecom_corp_id or "",
            agent_id=self.wecom_agent_id or 0,
            secret=self.wecom_secret or SecretStr(""),
            kf_secret=self.wecom_kf_secret,
            token=self.wecom_token or SecretStr(""),
            aes_key=self.wecom_aes_key or SecretStr(""),
            api_base=self.wecom_api_base,
        )

    @property
    def llm(self) -> LLMSettings | None:
        if not (self.llm_base_url and self.llm_model):
            return None
        return LLMSettings(
            base_url=self.llm_base_url,
            api_key=self.llm_api_key or SecretStr("not-needed"),
            model=self.llm_model,
            timeout_s=self.llm_timeout_s,
        )

    @property
    def embedding(self) -> EmbeddingSettings:
        return EmbeddingSettings(
            base_url=self.embedding_base_url, api_key=self.embedding_api_key, model=self.embedding_model
        )

    @property
    def data_dir(self) -> Path:
        return self.scrm_data_dir.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'scrm.db'}"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"


def _present(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return value not in (None, "")


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning validation errors into one ConfigError that names each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"]).upper()
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{loc}: {message}" if loc else message)
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
