"""Every knob of the harness: one pydantic-settings class, read from the environment."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.contracts import (
    FAN_OUT,
    GENERATE_ORDER_TICKETS,
    GENERATE_TICKET,
    MONOLITHIC_NO_TIMEOUT,
    JobDesign,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEBHOOK_SECRET = "whsec_delegate_bench_local_only"
REDIS_SCHEMES = ("redis", "rediss", "unix")  # what redis-py's from_url accepts


class Settings(BaseSettings):
    """Each field is read from the environment variable of the same name in upper case."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # Where things live. With no REDIS_URL, the harness (runner, `make serve`, tests) starts
    # its own private redis-server and hands its URL to every child process.
    redis_url: str | None = None
    database_path: Path = PROJECT_ROOT / "var" / "bench.db"
    # Unset (or empty), the SQLite file above; set (postgresql://user@host:5432/db), a PostgreSQL
    # that targets and workers on several hosts can share.
    database_url: str | None = None
    tickets_dir: Path = PROJECT_ROOT / "var" / "tickets"
    host: str = "127.0.0.1"
    # Who may set X-Forwarded-For/-Proto: comma-separated addresses or networks of reverse
    # proxies in front of the targets (uvicorn's --forwarded-allow-ips). Empty, none: uvicorn's
    # default trusts any loopback client, which could then pick the scheme of emailed links and
    # the address LOGIN_PER_CLIENT_PER_MIN counts.
    trusted_proxies: str = ""
    log_level: str = "INFO"
    # The embedded Redis's append-only file: queued jobs then survive a Redis crash (all but
    # the last second of writes, fsynced every second) at the cost of a disk write per command.
    redis_appendonly: bool = False

    # The email provider, as the targets and jobs see it.
    provider_url: str = "http://127.0.0.1:8025"
    provider_api_key: str = "SG.delegate-bench-local-key"
    provider_connect_timeout_s: float = 1.0
    provider_read_timeout_s: float = 5.0
    mail_from: str = "login@delegate-bench.test"

    # The fake provider itself. Its control API is open unless a token is set.
    provider_control_token: str | None = None
    provider_hang_max_s: float = 60.0

    # The sync variant: a classic thread-pool deployment that retries the provider in-request.
    sync_threads: int = Field(default=40, ge=1)
    sync_provider_tries: int = Field(default=3, ge=1)
    sync_retry_delay_s: float = 0.2

    # The longest a queued target's handler waits for its queue to take a job: a queue that
    # stops answering (a paused Redis, a partition) is answered 503 after this, not hung on.
    queue_timeout_s: float = Field(default=1.0, gt=0)
    # Above 0, the delegated target waits up to this long for its job before answering: a
    # deliberately degraded variant that shows what `make check` catches. 0 answers at once.
    delegated_await_job_s: float = Field(default=0.0, ge=0.0)

    # Magic links and webhooks. Sign-in requests are limited per address and per client IP;
    # 0 turns a limit off. The per-client one is off by default: a load generator is one client.
    magic_link_ttl_s: int = 15 * 60
    public_url: str | None = None  # where links in emails point; unset: the server's own address
    login_per_address_per_min: int = Field(default=5, ge=0)
    login_per_client_per_min: int = Field(default=0, ge=0)
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    webhook_tolerance_s: int = 300
    max_body_bytes: int = 64 * 1024

    # Tickets: one real subprocess per seat. It sleeps TICKET_WORK_S, or, with TICKET_MEDIAN_S
    # set, a lognormal time seeded per order, seat and attempt (median 1.5 s and sigma 0.4 put
    # p99 near 3.8 s: the post's "up to four seconds"). Sleeping, not burning CPU, keeps a big
    # order's tickets affordable on a 2-core machine.
    ticket_work_s: float = 0.05
    ticket_median_s: float | None = Field(default=None, gt=0)
    ticket_sigma: float = Field(default=0.4, ge=0)
    ticket_cpu_s: float = 0.0
    ticket_timeout_s: float = 5.0
    ticket_hang_probability: float = Field(default=0.0, ge=0.0, le=1.0)
    # How the workers split an order's tickets into jobs (see core.contracts.JOB_DESIGNS). The
    # sync and background variants ignore it: they always make the tickets seat by seat.
    job_design: JobDesign = FAN_OUT
    # The monolithic job's timeout: saq's default, the "queue's default" the post ran into.
    order_job_timeout_s: float = Field(default=10.0, gt=0)

    # The job queue (arq). Only `Retry` is retried, so each job maps provider errors to it.
    queue_name: str = "arq:queue"
    # 8 tries with the backoff below wait up to 1+2+4+8+16+30+30 s (about 45 s on average):
    # long enough to ride out a short outage or a rate limit, short enough to see in a bench.
    max_tries: int = Field(default=8, ge=1)
    # A worker runs at most max_jobs at once, so with emails taking ~150 ms arq's default of 10
    # caps it near 66 emails/s; 40 is the sync variant's thread pool, which keeps the two fair.
    # An idle worker looks for jobs every poll_delay (arq's default, 0.5 s, adds ~0.25 s to
    # every completion time in light load).
    poll_delay_s: float = 0.05
    worker_max_jobs: int = Field(default=40, ge=1)
    email_job_timeout_s: float = 15.0
    ticket_job_timeout_s: float = 10.0
    retry_base_s: float = 1.0
    retry_cap_s: float = 30.0
    keep_result_s: int = 3600
    # The `saq` variant's queue. Its workers sweep for jobs stuck past their timeout (a killed
    # worker's job) this often; saq's default, 60 s, would leave such work waiting a minute.
    saq_queue_name: str = "bench"
    saq_sweep_s: int = Field(default=5, ge=1)
    # The celery variants' broker: unset, the harness's Redis; amqp://guest:guest@127.0.0.1:5672//
    # for RabbitMQ. The id claims and job records stay in REDIS_URL either way.
    celery_broker_url: str | None = None
    # celery-acks-late on Redis: how long a task waits with its worker before it is handed
    # out again. Unset: the longest job timeout or retry backoff cap, plus 10 s.
    celery_visibility_timeout_s: float | None = Field(default=None, gt=0)
    # The `procrastinate` variant's queue, in the store's PostgreSQL. A handler waits at most
    # QUEUE_TIMEOUT_S for its hand-off (then answers 503); a worker that has not beaten its
    # heart for procrastinate_stalled_s is taken for dead, and its jobs run again.
    procrastinate_queue_name: str = "bench"
    procrastinate_stalled_s: int = Field(default=5, ge=2)
    # A new job wakes a worker by NOTIFY; a deferred one (a retry's backoff) is found by this
    # polling, procrastinate's default of 5 s would add up to 5 s to every retry.
    procrastinate_poll_s: float = Field(default=0.2, gt=0)

    # Traces (docs/traces.md): off unless TRACING is set. Each process writes its spans to its
    # own OTLP JSON lines file in TRACE_DIR (the runner points it into the run's folder) and,
    # with OTEL_EXPORTER_OTLP_ENDPOINT set, to that collector too. A target traces each request
    # with TRACE_SAMPLE_RATIO's chance, at most TRACE_MAX_PER_S a second (0: no cap).
    tracing: bool = False
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    trace_max_per_s: float = Field(default=0.0, ge=0.0)
    trace_dir: Path = PROJECT_ROOT / "var" / "traces"
    otel_exporter_otlp_endpoint: str | None = None

    # Randomness is always seeded.
    seed: int = 1
    seed_users: int = Field(default=10_000, ge=1)
    seed_orders: int = Field(default=5_000, ge=1)
    max_seats: int = Field(default=60, ge=1)

    @field_validator("redis_url")
    @classmethod
    def _a_redis_url(cls, value: str | None) -> str | None:
        # Refused here, in one line: else every process waits out its health deadline on it.
        if value and urlsplit(value).scheme not in REDIS_SCHEMES:
            raise ValueError(f"{value!r} is not a Redis URL (redis://host:port/db)")
        return value

    def job_timeout_s(self, function: str) -> float | None:
        """A job function's timeout on every queue; None: none at all (monolithic-no-timeout)."""
        if function == GENERATE_TICKET:
            return self.ticket_job_timeout_s
        if function == GENERATE_ORDER_TICKETS:
            return None if self.job_design == MONOLITHIC_NO_TIMEOUT else self.order_job_timeout_s
        return self.email_job_timeout_s
