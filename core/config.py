"""Typed settings, loaded from YAML and validated whole before any work starts."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.home import REPOSITORY_ROOT, Home
from core.scoring_config import AuditConfig, ScoringConfig
from core.training_config import TrainingConfig

CONFIG_VERSION: Final = 1
CONFIG_ENV = "CHAMPOLLION_CONFIG"
DEFAULT_CONFIG = REPOSITORY_ROOT / "configs" / "champollion.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PseudonymisationConfig(_Section):
    """Where the HMAC key that pseudonymises NIRs comes from (never from code)."""

    key_env: str = "CHAMPOLLION_PSEUDONYM_KEY"
    key_file: str | None = Field(
        default="secrets/pseudonym.key",
        description="Path of a file holding the key, relative to the home directory; used when key_env is unset.",
    )


class IngestConfig(_Section):
    """How DSN files are read into the warehouse."""

    workers: int = Field(default=2, ge=1, le=64)
    batch_megabytes: int = Field(default=128, ge=1, description="Input size parsed by one worker task.")
    inferred_end_after_months: int = Field(
        default=3, ge=1, description="Months an establishment keeps declaring without a contract before its end is inferred."
    )
    max_issue_lines_logged: int = Field(default=20, ge=0)


class FeaturesConfig(_Section):
    """Windows and legal parameters of the features computed as of a month."""

    window_months: int = Field(default=12, description="Main window: establishments active and rates (12 only).")
    short_window_months: int = Field(default=3, description="Short window: recent hires and rates (3 only).")
    history_months: int = Field(
        default=24, ge=12, le=60,
        description="Months of declarations read to rebuild contracts (chains, 18-month rule).",
    )
    post_key: Literal["pcs", "title"] = Field(
        default="pcs",
        description="What makes two contracts 'the same post': the PCS-ESE code (40.004, the normalised job "
        "title when absent) or the normalised job title alone.",
    )
    opening_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default=["mon", "tue", "wed", "thu", "fri", "sat"],
        description="Opening days counted in a waiting period (délai de carence), unless set per SIRET.",
    )
    opening_days_by_siret: dict[str, list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]] = {}
    max_renewals: int = Field(default=2, ge=0, description="L1243-13: at most two renewals.")
    max_fixed_term_months: int = Field(default=18, ge=1, description="L1242-8: 18 months renewals included.")
    replacement_margin_days: int = Field(
        default=7, ge=0, description="An absence on the post this close to a replacement contract counts as its reason."
    )
    continuity_gap_days: int = Field(default=3, ge=0, description="A post is held without a gap when breaks are this short.")
    year_round_share: float = Field(
        default=0.9, gt=0, le=1,
        description="A post held by fixed-term contracts on this share of the year's days is held all year.",
    )
    chain_gap_days: int = Field(default=30, ge=0, description="Successive contracts of one person this close form a chain.")
    post_memory_days: int = Field(
        default=60, ge=0,
        description="A post of a job left empty this many days no longer exists (délai de carence: posts from concurrency).",
    )
    benchmark_min_group: int = Field(
        default=5, ge=2, description="Smallest NAF x region group whose median serves as a benchmark; else France."
    )
    outcome_known_after_days: int = Field(
        default=90, ge=0, le=730,
        description="Days after a control from which its outcome is taken as known: an assumption (the ministry's "
        "file does not date the end of the procedure: the employer heard, the letter of observations or the "
        "procès-verbal drawn up), 90 by default; set it to the delay your records show. A control counts from its "
        "day; its outcome feeds the features, and trains a fold, only from then. Changing it brings the stored "
        "months' past-inspection features up to date, and a model trained with another value must be trained again "
        "before it scores.",
    )
    pass_processes: int | None = Field(
        default=None, ge=1,
        description="Processes that run the rule checks' Python passes by ranges of establishments where a month is "
        "computed in one pass (Spark) and in `bench rules`; null: one per usable CPU. DuckDB computes a month by ranges "
        "and runs each range's passes in a thread, beside the next range's tables.",
    )

    @model_validator(mode="after")
    def _windows_as_named(self) -> FeaturesConfig:
        # The features are named after their windows (hires_12m, share_hires_cdd_3m) and read in French « sur 12 mois »,
        # « sur 3 mois » by inspectors; other windows would be computed under those names and labels.
        if (self.window_months, self.short_window_months) != (12, 3):
            raise ValueError(
                f"window_months {self.window_months} and short_window_months {self.short_window_months}: the features are "
                "named and labelled for windows of 12 and 3 months (hires_12m, « sur 12 mois »), which are the only ones")
        return self


class DuckDBConfig(_Section):
    """The embedded engine of `features` and of ingestion's cancel-and-replace and tables (`--engine duckdb`)."""

    memory_limit: str | None = Field(
        default="5GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="Beyond this DuckDB spills to disk (a folder of each connection's own under data/duckdb-tmp in the home, "
                    "removed when it closes, or by the next connection when its process was killed); null: 80% of the RAM. "
                    "5GB keeps a national month of features under 6 GiB (maximum resident set), 2% slower than 10GB (10.4 GiB); "
                    "ingestion's peak is under 2 GB either way (README).",
    )
    threads: int | None = Field(
        default=None, ge=1,
        description="null: one per core. With one thread, a statement waits for the interpreter while Python code "
        "runs beside it: a month's rule passes and the next range's tables then take turns instead of sharing cores.",
    )


JVM_MEMORY = r"^\d+[kmgt]$"  # Spark's memory sizes: 512m, 12g


class SparkConfig(_Section):
    """Where `--engine spark` runs, and how large it is: `auto` sizes from the machine (local mode) or from the
    cluster's settings (see warehouse.spark.session.sized_settings); `settings` override anything sized."""

    master: str = Field(
        default="auto", pattern=r"^(auto|local(\[(\d+|\*)(,\d+)?\])?|spark://.+|yarn|k8s://.+)$",
        description="auto: local[N], N the CPUs this process may use; or local[N], spark://host:7077, yarn, k8s://...",
    )
    app_name: str = "champollion"
    driver_memory: str = Field(
        default="auto", pattern=r"^auto$|" + JVM_MEMORY,
        description="The driver JVM's heap (e.g. 12g); auto: driver_memory_share of this machine's memory. In local "
                    "mode the driver is the only executor.",
    )
    driver_memory_share: float = Field(
        default=0.5, gt=0, le=0.75,
        description="Share of the machine's memory (container limit included) the driver JVM gets with driver_memory: "
                    "auto; the rest is for the JVM's own overhead, the Python driver (the fetched feature table and "
                    "evidence, converted to pandas) and the system.",
    )
    broadcast_heap_ratio: int = Field(
        default=1024, ge=16,
        description="Joins broadcast a table below 1/ratio of the smallest JVM heap (driver, or executor on a "
                    "cluster): a broadcast is built whole in the driver and held by every executor.",
    )
    shuffle_partition_megabytes: int = Field(
        default=64, ge=1,
        description="One shuffle partition per this many MB of Parquet read (at least two per core), unless "
                    "spark.sql.shuffle.partitions is set.",
    )
    settings: dict[str, str] = Field(
        default={"spark.sql.session.timeZone": "UTC"},
        description="Passed to SparkSession.builder.config after the sized settings (e.g. spark.executor.memory).",
    )

    @model_validator(mode="after")
    def _one_place_per_setting(self) -> SparkConfig:
        if "spark.master" in self.settings:
            raise ValueError("settings: spark.master is given by `master`, not in settings")
        if "spark.driver.memory" in self.settings and self.driver_memory != "auto":
            raise ValueError("settings: spark.driver.memory and driver_memory both set: give the driver's memory once")
        partitions = self.settings.get("spark.sql.shuffle.partitions")
        if partitions is not None and not (partitions.isdigit() and int(partitions) > 0):
            raise ValueError(f"settings: spark.sql.shuffle.partitions must be a positive integer, not {partitions!r}")
        for key in ("spark.driver.memory", "spark.executor.memory"):
            value = self.settings.get(key)
            if value is not None and not re.fullmatch(JVM_MEMORY, value):
                raise ValueError(f"settings: {key} must be a size such as 4g or 512m, not {value!r}")
        return self


class OidcConfig(_Section):
    """Sign-in through an OpenID Connect provider (ProConnect, the State's federation for agents); off without an issuer."""

    issuer: str | None = Field(default=None, description="e.g. https://auth.agentconnect.gouv.fr/api/v2 (its "
                               ".well-known/openid-configuration is read when a user signs in).")
    client_id: str | None = None
    client_secret_env: str = Field(default="CHAMPOLLION_OIDC_SECRET", description="Variable holding the client secret.")
    scopes: str = "openid email given_name usual_name"
    role_claim: str = Field(default="belonging_population", description="Claim whose value is looked up in role_mapping.")
    role_mapping: dict[str, Literal["inspecteur", "responsable", "evaluateur", "administrateur"]] = {}
    region_claim: str | None = Field(default=None, description="Claim holding the region code (INSEE); else the "
                                     "region of the local account with the same e-mail.")


class WebConfig(_Section):
    """`champollion serve`: where the application writes, how it is reached, how users sign in."""

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/champollion; "
        "null: SQLite at data/web/champollion.db under the home.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    session_key_file: str = Field(default="secrets/web-session.key",
                                  description="Key signing session cookies, relative to the home (written on first start).")
    session_minutes: int = Field(default=480, ge=5, description="A session ends this long after sign-in.")
    secure_cookies: bool = Field(default=True, description="Cookies sent over HTTPS only (browsers treat "
                                 "http://127.0.0.1 and localhost as secure).")
    login_attempts: int = Field(default=5, ge=1, description="Failed sign-ins allowed from one address (any login)...")
    login_window_minutes: int = Field(default=15, ge=1, description="...within this many minutes.")
    login_account_attempts: int = Field(default=20, ge=1, description="Failed sign-ins of one login, from any address, "
                                        "after which it is refused from addresses it never signed in from...")
    login_account_window_minutes: int = Field(default=60, ge=1, description="...within this many minutes.")
    login_known_days: int = Field(default=90, ge=1, description="An address a login signed in from within this many "
                                  "days is known to it: the login's failures elsewhere do not refuse it there.")
    trusted_proxies: list[str] = Field(
        default=["127.0.0.1", "::1"],
        description="Addresses or networks of the reverse proxies whose X-Forwarded-For names the client: the address "
                    "sign-in limits count. Behind a proxy not listed, every sign-in comes from the proxy's address. "
                    "Replaces uvicorn's FORWARDED_ALLOW_IPS.")
    oidc: OidcConfig = OidcConfig()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:  # as uvicorn reads them: a network with host bits set (10.0.0.1/8) would never match
                network = ipaddress.ip_network(proxy)
            except ValueError:
                raise ValueError(f"trusted_proxies: {proxy!r} is not an IP address or network") from None
            if _wider_than_proxies(network):
                raise ValueError(f"trusted_proxies: {proxy!r} is wider than any network of proxies (at most a /8 in "
                                 "IPv4, as 10.0.0.0/8, or a /7 in IPv6, as fc00::/7): a client in it could send "
                                 "X-Forwarded-For itself and choose the address its sign-ins count against")
        return proxies


# IPv6's addresses that are IPv4 addresses (::ffff:a.b.c.d), as a dual-stack socket names IPv4 clients.
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def _wider_than_proxies(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Whether `network` holds more addresses than a network of reverse proxies does: wider than IPv4's largest private
    network (a /8), than IPv6's unique local addresses (a /7), or, among IPv4 addresses written in IPv6, than a /8."""
    if network.version == 4:
        return network.prefixlen < 8
    assert isinstance(network, ipaddress.IPv6Network)
    return network.prefixlen < 7 or (network.overlaps(_IPV4_MAPPED) and network.prefixlen < _IPV4_MAPPED.prefixlen + 8)


class Config(_Section):
    """All of Champollion's settings."""

    version: Literal[1] = CONFIG_VERSION
    pseudonymisation: PseudonymisationConfig = PseudonymisationConfig()
    ingest: IngestConfig = IngestConfig()
    features: FeaturesConfig = FeaturesConfig()
    training: TrainingConfig = TrainingConfig()
    scoring: ScoringConfig = ScoringConfig()
    audit: AuditConfig = AuditConfig()
    duckdb: DuckDBConfig = DuckDBConfig()
    spark: SparkConfig = SparkConfig()
    web: WebConfig = WebConfig()

    def with_ingest_workers(self, workers: int) -> Config:
        """These settings with another number of ingestion workers, validated like a settings file."""
        return Config.model_validate({**self.model_dump(), "ingest": {**self.ingest.model_dump(), "workers": workers}})


class ConfigError(ValueError):
    """A configuration file that cannot be used, with the file and the faulty setting named."""


def load_config(path: Path | None = None) -> Config:
    """Read and validate a configuration file.

    `path` defaults to `$CHAMPOLLION_CONFIG`, else `configs/champollion.yaml` of the repository;
    a missing default file means all defaults.
    """
    explicit = path or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    source = explicit or DEFAULT_CONFIG
    if not source.exists():
        if explicit is not None:
            raise ConfigError(f"{source}: configuration file not found")
        return Config()
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{source}: invalid settings: {problems}") from exc


def pseudonym_key(config: Config, home: Home) -> bytes:
    """The HMAC key for NIRs, from the environment variable or the key file named in the config."""
    settings = config.pseudonymisation
    from_env = os.environ.get(settings.key_env)
    if from_env:
        return from_env.encode("utf-8")
    if settings.key_file:
        key_path = home.root / settings.key_file
        if key_path.exists():
            key = key_path.read_text(encoding="utf-8").strip()
            if key:
                return key.encode("utf-8")
    raise ConfigError(
        f"no pseudonymisation key: set ${settings.key_env} or write a key in "
        f"{home.root / (settings.key_file or '<key_file>')} (for example with `champollion init-key`)"
    )
