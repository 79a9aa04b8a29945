"""Cervi's settings: one typed object loaded from ``config.yaml`` and the environment.

Precedence, highest first: ``CERVI_<SECTION>__<KEY>`` environment variables, the YAML file,
the defaults below. Unknown keys are errors (``extra="forbid"``) so that a typo never silently
falls back to a default, and an error names where the bad value came from (the file or the
environment variable). Relative paths written in the file are relative to the file's folder;
those from the environment or the defaults to the working directory. Load once in
:func:`load_settings`; nothing here runs at import time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError
from sqlalchemy import make_url

from dicom_node import assembly_rules, identity

AE_TITLE_MAX = 16


class SettingsError(Exception):
    """The configuration cannot be used; the message names the key and the file."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_ae_title(value: str) -> str:
    if not value or len(value) > AE_TITLE_MAX or "\\" in value or not value.isprintable():
        raise ValueError(f"must be 1 to {AE_TITLE_MAX} printable characters without backslash")
    return value


class AllowedCaller(_Section):
    """A calling AE title, optionally bound to the host it must connect from."""

    ae_title: str
    host: str | None = None

    _ae = field_validator("ae_title")(_check_ae_title)


class ListenerTlsSettings(_Section):
    """DICOM TLS on the listener (BCP 195): its own port, beside or instead of the plain one."""

    port: int | None = Field(None, ge=0, le=65535)  # None: no TLS listener; 0: any free port
    certificate: Path | None = None
    private_key: Path | None = None
    client_ca: Path | None = None  # set: callers must present a certificate it signed

    @model_validator(mode="after")
    def _complete(self) -> ListenerTlsSettings:
        if self.port is not None and not (self.certificate and self.private_key):
            raise ValueError("a TLS port needs certificate and private_key")
        return self


class NodeSettings(_Section):
    ae_title: str = identity.AE_TITLE
    host: str = "0.0.0.0"
    port: int | None = Field(11112, ge=0, le=65535)  # 0: any free port (tests); None: TLS only
    tls: ListenerTlsSettings = Field(default_factory=ListenerTlsSettings)
    allowed_callers: list[AllowedCaller] = Field(default_factory=list)
    max_associations: int = Field(16, ge=1, le=1024)
    max_connections: int = Field(64, ge=1, le=4096)
    max_connections_per_peer: int = Field(24, ge=1, le=4096)
    max_pdu_size: int = Field(1_048_576, ge=4096, le=64 * 1_048_576)
    acse_timeout: float = Field(30, gt=0)
    dimse_timeout: float = Field(60, gt=0)
    network_timeout: float = Field(60, gt=0)

    _ae = field_validator("ae_title")(_check_ae_title)

    @model_validator(mode="after")
    def _connections_hold_associations(self) -> NodeSettings:
        if self.max_connections < self.max_associations:
            raise ValueError("max_connections must be at least max_associations")
        if self.max_connections_per_peer > self.max_connections:
            raise ValueError("max_connections_per_peer must be at most max_connections")
        return self

    @model_validator(mode="after")
    def _some_port(self) -> NodeSettings:
        if self.port is None and self.tls.port is None:
            raise ValueError("no listener: set port, tls.port or both")
        return self

    @field_validator("allowed_callers", mode="before")
    @classmethod
    def _callers_from_strings(cls, value: Any) -> Any:
        """Accept ``"AE"`` and ``"AE@host"`` strings as shorthand for the mapping form."""
        if isinstance(value, list):
            return [_caller_from_string(v) if isinstance(v, str) else v for v in value]
        return value


def _caller_from_string(text: str) -> dict[str, str | None]:
    title, _, host = text.partition("@")
    return {"ae_title": title, "host": host or None}


class StorageSettings(_Section):
    database_url: str = "sqlite:///var/cervi.db"
    instance_dir: Path = Path("var/instances")
    min_free_disk_mb: int = Field(1024, ge=0)
    retention_days: int = Field(30, ge=1)
    ignored_retention_hours: float = Field(24, gt=0)


class ViewRule(_Section):
    """One view identification rule: if ``field`` matches ``pattern`` the instance is ``view``.

    ``pattern`` is a regular expression, searched, case-insensitive unless ``case_sensitive``;
    ``field`` is a header keyword, a code sequence (codes as ``SCHEME:VALUE``) or
    ``<sequence>.CodeMeaning`` (see ``dicom_node.assembly_rules``).
    """

    name: str
    field: str
    pattern: str
    view: Literal["extension", "neutral", "flexion"]
    case_sensitive: bool = False
    tentative: bool = False  # holds for one image only; several are left to the image

    @model_validator(mode="after")
    def _usable(self) -> ViewRule:
        self.to_rule()
        return self

    def to_rule(self) -> assembly_rules.ViewRule:
        try:
            return assembly_rules.ViewRule(
                self.name,
                self.field,
                self.pattern,
                self.case_sensitive,
                view=assembly_rules.View(self.view),
                tentative=self.tentative,
            )
        except assembly_rules.RuleError as exc:
            raise ValueError(str(exc)) from None


class AcceptRule(_Section):
    """One accept rule. Rules form groups (e.g. ``modality``, ``region``); within a group the
    first matching rule decides (``accept: false`` ignores the instance), and an instance is
    taken only when every group has accepted it."""

    name: str
    field: str
    pattern: str
    group: str = "region"
    accept: bool = True
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _usable(self) -> AcceptRule:
        self.to_rule()
        return self

    def to_rule(self) -> assembly_rules.AcceptRule:
        try:
            return assembly_rules.AcceptRule(
                self.name,
                self.field,
                self.pattern,
                self.case_sensitive,
                group=self.group,
                accept=self.accept,
            )
        except assembly_rules.RuleError as exc:
            raise ValueError(str(exc)) from None


class AssemblySettings(_Section):
    quiet_seconds: float = Field(120, gt=0)
    min_views: int = Field(3, ge=1, le=3)
    on_timeout: Literal["analyse_partial", "not_analysed"] = "analyse_partial"
    study_key: Literal["study", "patient_window"] = "study"
    patient_window_hours: float = Field(24, gt=0)
    view_rules: list[ViewRule] = Field(default_factory=list)
    default_view_rules: bool = True
    accept: list[AcceptRule] = Field(default_factory=list)
    default_accept: bool = True
    own_manufacturer: str = Field(identity.MANUFACTURER, min_length=1)


class InferenceSettings(_Section):
    model: Path = Path("models/cervihfenet-demo.onnx")
    roi_model: Path = Path("models/cervi-roi-demo.onnx")
    threads: int = Field(2, ge=1, le=64)


class DestinationTls(_Section):
    """DICOM TLS to a destination: the CA bundle that signed its certificate, and the client
    certificate to present (default: the listener's, ``node.tls``)."""

    ca: Path
    certificate: Path | None = None
    private_key: Path | None = None
    verify_hostname: bool = True


class Destination(_Section):
    name: str
    kind: Literal["dimse", "stow"] = "dimse"
    ae_title: str | None = None
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    url: str | None = None
    tls: DestinationTls | None = None
    commitment: bool = False  # Storage Commitment: delivered means committed by the PACS
    commitment_timeout_seconds: float = Field(600, gt=0)  # no answer by then: send again

    @model_validator(mode="after")
    def _complete(self) -> Destination:
        if self.kind == "stow" and not self.url:
            raise ValueError("a stow destination needs url")
        if self.kind == "dimse" and not (self.ae_title and self.host and self.port):
            raise ValueError("a dimse destination needs ae_title, host and port")
        if self.kind == "stow" and (self.tls or self.commitment):
            raise ValueError("tls and commitment are for dimse destinations (use an https url)")
        if self.ae_title is not None:
            _check_ae_title(self.ae_title)
        return self


class RetrySettings(_Section):
    first_seconds: float = Field(5, gt=0)
    max_seconds: float = Field(600, gt=0)
    max_attempts: int = Field(50, ge=1)


class ResultsSettings(_Section):
    destinations: list[Destination] = Field(default_factory=list)
    key_image: bool = False
    retry: RetrySettings = Field(default_factory=RetrySettings)


class ApiToken(_Section):
    """One API client: a name (in the audit), a role, and the SHA-256 of its token
    (``cervi token hash``); the token itself is never stored."""

    name: str = Field(min_length=1, max_length=64)
    role: Literal["reader", "operator"]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApiTlsSettings(_Section):
    """HTTPS for the API (uvicorn): a PEM certificate (chain) and its key."""

    certificate: Path
    private_key: Path


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    token: SecretStr | None = None  # one operator token in clear (kept for compatibility)
    tokens: list[ApiToken] = Field(default_factory=list)
    tls: ApiTlsSettings | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> ApiSettings:
        names = [t.name for t in self.tokens]
        if len(names) != len(set(names)):
            raise ValueError("token names must be unique (the audit names the token)")
        return self


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = Field(True, alias="json")
    log_phi: bool = False

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Settings(BaseSettings):
    """Everything Cervi can be told, one section per part of the service."""

    model_config = SettingsConfigDict(
        extra="forbid", env_prefix="CERVI_", env_nested_delimiter="__", case_sensitive=False
    )

    node: NodeSettings = Field(default_factory=NodeSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    assembly: AssemblySettings = Field(default_factory=AssemblySettings)
    inference: InferenceSettings = Field(default_factory=InferenceSettings)
    results: ResultsSettings = Field(default_factory=ResultsSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets shown as ``'**********'``."""
        data = json.loads(self.model_dump_json(by_alias=True))
        url = make_url(self.storage.database_url)
        data["storage"]["database_url"] = url.render_as_string(hide_password=True)
        return data


def load_settings(path: Path | str | None = None) -> Settings:
    """Load settings from ``path`` (YAML) and the environment, or raise :class:`SettingsError`."""
    source_name = str(path) if path else "defaults"
    loaded: Any = None
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"{path}: configuration file not found")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError(f"{path}: the top level must be a mapping of sections")

    yaml_file = path

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if yaml_file is not None:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
            return tuple(sources)

    try:
        settings = _Loaded()
    except ValidationError as exc:
        raise SettingsError(_describe(exc, source_name)) from None
    except SourceError as exc:  # a CERVI_* variable that is not valid JSON where JSON is due
        raise SettingsError(f"environment: {exc}") from None
    if path is not None:
        _relative_to_file(settings, loaded or {}, path.parent)
    return settings


def _environment_variable(loc: tuple[str | int, ...]) -> str | None:
    """The ``CERVI_*`` variable that set the value at ``loc`` (or a section above it), if any."""
    present = {name.upper(): name for name in os.environ}
    for depth in range(len(loc), 0, -1):
        name = "CERVI_" + "__".join(str(part) for part in loc[:depth]).upper()
        if name in present:
            return present[name]
    return None


def _describe(exc: ValidationError, source: str) -> str:
    lines = ["invalid configuration"]
    for error in exc.errors():
        loc = error["loc"]
        key = ".".join(str(part) for part in loc)
        variable = _environment_variable(loc)
        origin = f"environment variable {variable}" if variable else source
        lines.append(f"  {key}: {error['msg']} (from {origin})")
    return "\n".join(lines)


#: Settings that are paths (``storage.database_url``: when it is a SQLite file).
PATH_KEYS = (("storage", "instance_dir"), ("inference", "model"), ("inference", "roi_model"))


def _relative_to_file(settings: Settings, data: dict[str, Any], folder: Path) -> None:
    """Make the relative paths that the file set (and no variable overrode) relative to it."""

    def from_file(section: str, key: str) -> bool:
        written = isinstance(data.get(section), dict) and key in data[section]
        return written and _environment_variable((section, key)) is None

    for section, key in PATH_KEYS:
        value = getattr(getattr(settings, section), key)
        if from_file(section, key) and not value.is_absolute():
            setattr(getattr(settings, section), key, folder.resolve() / value)
    if from_file("storage", "database_url"):
        url = make_url(settings.storage.database_url)
        database = url.database or ""
        a_file = database not in ("", ":memory:") and not database.startswith("file:")
        if url.get_backend_name() == "sqlite" and a_file and not Path(database).is_absolute():
            url = url.set(database=str(folder.resolve() / database))
            settings.storage.database_url = url.render_as_string(hide_password=False)


DEFAULT_CONFIG = Path("config.yaml")


def resolve_settings(path: str | Path | None) -> tuple[Settings, str]:
    """Settings from ``path``, else ``./config.yaml`` if present, else defaults; and the source."""
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    return load_settings(path), str(path) if path else "defaults"
