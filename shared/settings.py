"""Settings from the environment (prefix FLOWERS_) and `.env`; every domain default lives here."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("nomination", "review", "rewards", "publicity", "notification")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWERS_", env_file=".env", extra="ignore")

    # Where things are. Empty URLs mean: the embedded stack's, from .data/stack.json.
    nats_url: str = ""
    database_url: str = ""
    database_prefix: str = "flowers_"  # each service's database is <prefix><service>
    # PostgreSQL logins (shared/database_roles.py, README "PostgreSQL roles"). A process logs
    # in as `<prefix><role>` (role: a service, `<service>_owner`, `auditor`) with the password
    # from database_password_files[role], else the secrets directory's postgres/<role>.password
    # (else libpq's PGPASSWORD / ~/.pgpass). A user in FLOWERS_DATABASE_URL is replaced.
    database_password_files: dict[str, Path] = {}
    # Provisioning only (the test suite's in-process services, `flowers up` on a server the
    # stack does not start): a superuser (or CREATEDB CREATEROLE) URL. A process given it
    # creates its roles and database and applies the schema before it logs in as its own
    # role; the stack never hands it to a service process.
    database_admin_url: SecretStr | None = None
    data_dir: Path = PROJECT_ROOT / ".data"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    # How long the gateway keeps an idle HTTP connection open. Longer than its clients and
    # any proxy in front keep theirs (httpx, browsers, most proxies: 5-60 s), so the client
    # always closes first: at equal timeouts a request sent as the server closes the
    # connection is lost (the deadline-day bench's ReadError, docs/performance.md).
    gateway_keep_alive_s: int = Field(default=75, ge=1)

    # Bus
    stream_duplicate_window_s: float = Field(default=6 * 3600, gt=0)  # longer than any outage
    stream_replicas: int = Field(default=1, ge=1, le=5)
    consumer_max_deliver: int = Field(default=8, ge=1)
    consumer_backoff_s: list[float] = [0.2, 1.0, 5.0, 15.0, 30.0, 60.0]
    consumer_ack_wait_s: float = Field(default=30.0, gt=0)
    consumer_batch_size: int = Field(default=256, ge=1)
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_interval_s: float = Field(default=1.0, gt=0)
    request_timeout_s: float = Field(default=5.0, gt=0)
    rpc_workers: int = Field(default=16, ge=1, le=256)  # requests handled at once per subject
    group_commit_max: int = Field(default=200, ge=1)  # commands to one stream per transaction
    lock_timeout_ms: int = Field(default=5000, ge=1)  # a service's longest lock wait (appends)
    connect_attempts: int = Field(default=30, ge=1)
    # `flowers up` kills and restarts a service that has not answered its health request
    # (a hang, not only an exit) for this long.
    health_timeout_s: float = Field(default=30.0, gt=0)

    # Credentials (shared/credentials.py, README "Security model"). The embedded stack and
    # the tests name a secrets directory; production names each file instead.
    secrets_dir: Path | None = None
    nats_seed: SecretStr | None = None  # this process's NATS nkey seed (or the file below)
    nats_seed_file: Path | None = None
    identity_signing_key_file: Path | None = None  # gateway / operator: Ed25519 PEM
    identity_trusted_keys: dict[str, Path] = {}  # issuer → Ed25519 public key PEM
    identity_ttl_s: float = Field(default=60.0, gt=0, le=3600)  # an assertion's lifetime

    clock_file: Path | None = None  # tests only: "now" read from this file (FileClock)
    log_level: str = "INFO"
    log_json: bool = True
    # Prometheus metrics (shared/metrics.py): each service's /metrics on metrics_host at
    # FLOWERS_METRICS_PORT_<SERVICE> (0 = off); lag gauges refreshed every metrics_refresh_s.
    metrics_host: str = "127.0.0.1"
    metrics_port_nomination: int = Field(default=0, ge=0, le=65535)
    metrics_port_review: int = Field(default=0, ge=0, le=65535)
    metrics_port_rewards: int = Field(default=0, ge=0, le=65535)
    metrics_port_publicity: int = Field(default=0, ge=0, le=65535)
    metrics_port_notification: int = Field(default=0, ge=0, le=65535)
    metrics_refresh_s: float = Field(default=5.0, gt=0)

    # Domain defaults (DOMAIN.md): every one a setting.
    cadence: str = "quarterly"  # or "monthly"
    deadline_day: int = Field(default=25, ge=1, le=28)
    deadline_time: str = "23:59:59"
    quota_per_unit_category: int = Field(default=1, ge=1)
    cooldown_rounds: int = Field(default=0, ge=0)
    deeds_min_chars: int = Field(default=50, ge=1)
    deeds_max_chars: int = Field(default=3000, ge=1)
    scheduler_interval_s: float = Field(default=30.0, gt=0)
    # Retention of personal data (README "Retention"), in whole years after the fact that
    # starts the clock: a nomination that did not win, after its round's result; an
    # objection, after its resolution; payroll facts (会计档案管理办法: 30 years). A winner's
    # public record is kept. The nomination service's retention job shreds what has expired
    # every retention_interval_s.
    retention_unsuccessful_nomination_years: int = Field(default=3, ge=1)
    retention_objection_years: int = Field(default=1, ge=1)
    retention_payroll_years: int = Field(default=30, ge=30)
    retention_interval_s: float = Field(default=3600.0, gt=0)
    # Tests only: a run that recorded waits this long before destroying the keys (logged as
    # retention_paused_after_recording), so a test can SIGKILL the service in between.
    retention_pause_after_recording_s: float = Field(default=0.0, ge=0)
    # Review (DOMAIN.md "Review", "Public notice"): rubric weights per criterion (each scored
    # 0-100), per-panelist z-score normalisation, the trimmed mean's threshold, and dates that
    # correct the Chinese calendar (ISO dates; the only source for years it does not know).
    review_rubric: dict[str, Decimal] = {
        "achievements": Decimal(40),
        "exemplary_role": Decimal(30),
        "innovation": Decimal(20),
        "recognition": Decimal(10),
    }
    # A flower's own rubric (category -> criterion -> weight), e.g.
    # FLOWERS_REVIEW_RUBRIC_BY_CATEGORY='{"reform": {"innovation": 50, "achievements": 50}}';
    # a flower not named here is scored on review_rubric.
    review_rubric_by_category: dict[str, dict[str, Decimal]] = {}
    review_zscore: bool = False
    review_trim_from: int = Field(default=5, ge=3)
    calendar_extra_holidays: list[str] = []
    calendar_extra_workdays: list[str] = []  # make-up working days (调休上班)

    @field_validator("review_rubric")
    @classmethod
    def _usable_rubric(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        if not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("needs criteria with non-negative weights, not all zero")
        return value

    @field_validator("review_rubric_by_category")
    @classmethod
    def _usable_rubrics(cls, value: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
        from shared.contracts.common import Category  # local: one insertion into a shared file

        for category, rubric in value.items():
            Category(category)
            cls._usable_rubric(rubric)
        return value

    @field_validator("calendar_extra_holidays", "calendar_extra_workdays")
    @classmethod
    def _iso_dates(cls, value: list[str]) -> list[str]:
        from datetime import date  # local: this block is one insertion into a shared file

        return [date.fromisoformat(v.strip()).isoformat() for v in value]

    # Consent to publicity (README "Consent to publicity"): what each public use may show of a
    # winner without their consent, "full", "basic" (name, unit, position, flower) or "none",
    # e.g. FLOWERS_PUBLIC_WITHOUT_CONSENT='{"notice": "none"}' (a use not named keeps its
    # default: the notice "basic", the honor roll, bulletin, article, poster and video "none").
    public_without_consent: dict[str, str] = {}

    @field_validator("public_without_consent")
    @classmethod
    def _consent_rules(cls, value: dict[str, str]) -> dict[str, str]:
        from shared.contracts.nomination import (  # local: one insertion into a shared file
            DISCLOSURES,
            WITHOUT_CONSENT_DEFAULT,
            ConsentUse,
        )

        for use, level in value.items():
            ConsentUse(use)
            if level not in DISCLOSURES:
                raise ValueError(f"{use}: {level!r} is none of {', '.join(DISCLOSURES)}")
        return {**WITHOUT_CONSENT_DEFAULT, **value}

    min_scores: int = Field(default=3, ge=1)
    winners_per_category: int = Field(default=1, ge=1)
    notice_working_days: int = Field(default=5, ge=1)
    award_amount: Decimal = Decimal("500.00")
    award_currency: str = "CNY"
    payroll_cutoff_day: int = Field(default=20, ge=1, le=28)
    # Rewards: the payslip wording and payroll's codes; the year-end pacesetter (十大标兵)
    # weighting: weighted flowers = sum of the weights of an employee's flowers in the year,
    # ties broken by the named rules in order ("flowers", "categories", "panel_score").
    award_name_zh: str = Field(default="特殊贡献奖", min_length=1)
    payroll_reason_code: str = Field(default="FLOWER_AWARD", min_length=1)
    payroll_reversal_reason_code: str = Field(default="FLOWER_AWARD_REVERSAL", min_length=1)
    pacesetter_category_weights: dict[str, Decimal] = {
        "striving": Decimal("1"),
        "value_creation": Decimal("1"),
        "dedication": Decimal("1"),
        "reform": Decimal("1"),
        "hard_work": Decimal("1"),
    }
    pacesetter_tie_breaks: list[str] = ["flowers", "categories", "panel_score"]
    # Publicity: the monthly operations-planning meeting (月度作业计划会) is on the first
    # working day of each month ("first_working_day"), its N-th working day ("working_day:N")
    # or day N, moved to the next working day when that is not one ("day:N").
    publicity_meeting_rule: str = "first_working_day"
    publicity_meeting_lead_days: int = Field(default=0, ge=0, le=60)  # to make the video
    publicity_segment_s: int = Field(default=30, ge=5, le=600)  # one winner's video segment
    publicity_segment_min_s: int = Field(default=10, ge=1)
    publicity_segment_max_s: int = Field(default=120, ge=1)
    publicity_title_card_s: int = Field(default=4, ge=1, le=60)
    publicity_caption_max_chars: int = Field(default=60, ge=10, le=60)
    publicity_subtitle_chars: int = Field(default=16, ge=6, le=60)  # per subtitle cue
    publicity_summary_chars: int = Field(default=80, ge=20, le=500)  # deeds summary
    publicity_organisation: str = "后勤实业分公司"
    publicity_department: str = "党群工作部"
    publicity_chart_font: str = ""  # a CJK font file for charts; empty: found with fc-list
    # Winners' photos (services/publicity/photos.py): resized to fit this many pixels a side and
    # kept in the content-addressed file store (shared/filestore.py) named here: empty =
    # <data_dir>/files, file:///path or s3://bucket/prefix (located by FLOWERS_S3_*).
    publicity_photo_max_px: int = Field(default=1600, ge=200, le=4000)
    publicity_file_store_url: str = ""
    # The bulletin (简报) as an official document (GB/T 9704-2012): its red masthead (empty:
    # the organisation's name + 工会简报), issue number N of "2026年第N期" = offset + the round's
    # index in its year (quarter 1–4 or month 1–12), and the 报/送/发 distribution lines.
    # The official-account article's footer (来源/编辑/审核); empty: the organisation's union,
    # the department, the organisation's union.
    publicity_article_source: str = ""
    publicity_article_editor: str = ""
    publicity_article_reviewer: str = ""
    publicity_video_fps: int = Field(default=25, ge=1, le=60)  # the meeting video's frame rate
    publicity_bulletin_masthead: str = ""
    publicity_bulletin_issue_offset: int = Field(default=0, ge=0, le=999)
    publicity_bulletin_report_to: str = "集团公司工会"
    publicity_bulletin_copy_to: str = "分公司党委、行政领导班子成员"
    publicity_bulletin_send_to: str = "各基层单位党支部、工会分会"

    # Notifications (services/notification, README "Notifications"). Empty host / webhook:
    # that channel is off. The robots' webhooks carry their key or access_token.
    notify_base_url: str = "http://127.0.0.1:8000"  # links in mails and robot messages
    notify_smtp_host: str = ""
    notify_smtp_port: int = Field(default=25, ge=1, le=65535)
    notify_smtp_starttls: bool = False
    notify_smtp_sender: str = "flowers@localhost"
    notify_smtp_username: str = ""
    notify_smtp_password: SecretStr | None = None
    notify_smtp_ca_file: Path | None = None  # certificates to trust for STARTTLS (PEM)
    notify_wecom_webhook: str = ""  # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…
    notify_dingtalk_webhook: str = ""  # https://oapi.dingtalk.com/robot/send?access_token=…
    notify_dingtalk_secret: SecretStr | None = None  # the robot's 加签 secret (SEC…)
    # Group robots of units (unit code -> webhook; 钉钉's 加签 secret per unit): they take
    # that unit's group notices; the two above are the office's (and everyone's) group.
    notify_wecom_unit_webhooks: dict[str, str] = {}
    notify_dingtalk_unit_webhooks: dict[str, str] = {}
    notify_dingtalk_unit_secrets: dict[str, SecretStr] = {}
    notify_retry_attempts: int = Field(default=5, ge=1, le=20)
    notify_retry_first_delay_s: float = Field(default=30.0, gt=0)
    notify_delivery_interval_s: float = Field(default=5.0, gt=0)  # looking for due sends
    # Quiet hours (Beijing, HH:MM-HH:MM; empty: none): a new user's default and the robots'.
    notify_quiet_hours: str = "22:00-08:00"
    notify_tick_interval_s: float = Field(default=300.0, gt=0)  # the daily rules' check
    notify_daily_at: str = "09:00"  # Beijing: the daily rules' hour (reminders, digests)
    notify_quota_reminder_days: list[int] = [3, 1]  # working days before the deadline

    @field_validator("publicity_meeting_rule")
    @classmethod
    def _meeting_rule(cls, value: str) -> str:
        kind, _, n = value.strip().partition(":")
        if kind == "first_working_day" and not n:
            return kind
        if kind in ("working_day", "day") and n.isdigit() and 1 <= int(n) <= 28:
            return f"{kind}:{int(n)}"
        raise ValueError("expected first_working_day, working_day:N or day:N (N = 1..28)")

    @field_validator("cadence")
    @classmethod
    def _known_cadence(cls, value: str) -> str:
        if value not in ("quarterly", "monthly"):
            raise ValueError("cadence must be 'quarterly' or 'monthly'")
        return value

    def database_url_for(self, service: str, login: str | None = None) -> str:
        """`service`'s database `<prefix><service>`, logged in as `<prefix><login>` with its
        password; `login` defaults to the service's own run-time role (shared/database_roles)."""
        login = service if login is None else login
        url = with_login(
            self.database_url, self.database_role(login), self.database_password(login)
        )
        return with_database(url, self.database_name(service))

    def database_name(self, service: str) -> str:
        return f"{self.database_prefix}{service}"

    def database_role(self, login: str) -> str:
        """The PostgreSQL role of `login` (a service, `<service>_owner`, `auditor`)."""
        return f"{self.database_prefix}{login}"

    def database_password(self, login: str) -> str | None:
        """The password of `login`'s role: its named file, else the secrets directory's."""
        path = self.database_password_files.get(login)
        if path is None and self.secrets_dir is not None:
            from shared.credentials import SecretsLayout  # local: credentials imports settings

            candidate = SecretsLayout(self.secrets_dir).password_file(login)
            path = candidate if candidate.exists() else None
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            from shared.credentials import CredentialsError

            raise CredentialsError(
                f"cannot read the password of database role {login} from {path}: "
                f"{exc.strerror or exc}"
            ) from exc


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def with_login(url: str, user: str | None, password: str | None = None) -> str:
    """`url` with its user and password replaced (None, None: without any)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    login = ""
    if user is not None:
        login = quote(user, safe="")
        if password is not None:
            login += ":" + quote(password, safe="")
        login += "@"
    return urlunsplit((parts.scheme, login + host, parts.path, parts.query, parts.fragment))


@lru_cache
def get_settings() -> Settings:
    return Settings()
