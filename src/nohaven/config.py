"""The one settings object. Nothing else in nohaven reads the environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nohaven.errors import ConfigError

__all__ = ["DEMO_SECRET", "Settings", "load_settings"]

# The only secret that ships in the code; refused unless demo mode is on.
DEMO_SECRET = "nohaven-demo-secret-not-for-production"  # noqa: S105
SECRET_FILE = "secret.key"  # noqa: S105 - a file name


class Settings(BaseSettings):
    """Settings from NOHAVEN_* environment variables (or keyword arguments, which win)."""

    model_config = SettingsConfigDict(env_prefix="NOHAVEN_", extra="ignore")

    data_dir: Path = Path("nohaven-data")
    database_url: str | None = None
    demo_mode: bool = False
    secret_key: SecretStr | None = None
    cookie_secure: bool = True
    cookie_prefix: str = Field(default="nohaven", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    session_hours: float = 12.0
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    scheduler_enabled: bool = True
    scheduler_interval_seconds: float = Field(default=30.0, gt=0)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "nohaven@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    # Federation: this node's name in the signed network directory turns it on.
    federation_node_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$")
    federation_key_file: Path | None = None  # default: DATA_DIR/federation/node.key
    federation_authority_keys: str | None = None  # pinned authority public key files, comma-separated
    federation_directory_file: Path | None = None  # installed at start when newer than the current one
    federation_skew_seconds: float = Field(default=300.0, gt=0)
    federation_ca_file: Path | None = None  # CA bundle that verifies other nodes' HTTPS certificates
    federation_allow_loopback_http: bool = False  # plain HTTP to loopback inboxes; demo mode allows it anyway
    federation_retry_base_seconds: float = Field(default=1.0, gt=0)
    federation_retry_max_seconds: float = Field(default=300.0, gt=0)
    federation_poll_seconds: float = Field(default=2.0, gt=0)
    federation_timeout_seconds: float = Field(default=30.0, gt=0)
    federation_max_delivery_bytes: int = Field(default=64 * 2**30, gt=0)
    dispatcher_enabled: bool = True
    evidence_tsa_url: str | None = None  # an RFC 3161 time-stamping authority that timestamps sealed checkpoints
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Dated IP-registry snapshots (RIR delegated files, ip2asn tables) that `trace resolve` searches.
    ipdata_dir: Path = Field(default_factory=lambda data: Path(data.get("data_dir", "nohaven-data")) / "ipdata")

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite://", "sqlite+pysqlite://", "postgresql+psycopg://", "postgresql://")):
            raise ValueError(
                "NOHAVEN_DATABASE_URL must start with sqlite:/// or postgresql+psycopg:// "
                f"(got {value.split(':', 1)[0]}:...)"
            )
        if value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @model_validator(mode="after")
    def _demo_cookie(self) -> Settings:
        # The demo serves plain HTTP on loopback; a Secure cookie would not come back on every browser.
        if self.demo_mode and "cookie_secure" not in self.model_fields_set:
            self.cookie_secure = False
        return self

    @property
    def federation_enabled(self) -> bool:
        return self.federation_node_id is not None

    @property
    def federation_key_path(self) -> Path:
        return self.federation_key_file or self.data_dir / "federation" / "node.key"

    @property
    def authority_key_paths(self) -> list[Path]:
        text = self.federation_authority_keys or ""
        return [Path(part.strip()) for part in text.split(",") if part.strip()]

    @property
    def loopback_http_allowed(self) -> bool:
        return self.demo_mode or self.federation_allow_loopback_http

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'nohaven.db').resolve()}"

    def secret(self) -> str:
        """The signing secret for sessions and CSRF tokens; default secrets are refused outside demo mode."""
        value = self.secret_key.get_secret_value() if self.secret_key else None
        if value is None:
            path = self.data_dir / SECRET_FILE
            if path.exists():
                value = path.read_text().strip()
            elif self.demo_mode:
                value = DEMO_SECRET
            else:
                raise ConfigError(
                    f"no secret key: run `nohaven init` (it writes {SECRET_FILE} in the data directory) "
                    "or set NOHAVEN_SECRET_KEY"
                )
        if value == DEMO_SECRET and not self.demo_mode:
            raise ConfigError(
                "the demo secret key is refused outside demo mode; set NOHAVEN_SECRET_KEY to a random value")
        if len(value) < 16:
            raise ConfigError("the secret key is too short; use at least 16 random characters")
        return value

    def write_new_secret(self) -> None:
        """Create the data directory's secret key file (mode 0600) unless one exists."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / SECRET_FILE
        if path.exists():
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. the CLI's --data-dir)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"settings refused: {exc}") from None
