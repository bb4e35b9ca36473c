"""Arrayscope settings, read from environment variables.

Every variable is read through ``env`` so the set of names is known in one place
(``READ_ENV``, name -> required): the compose test checks each service is given them. ``DATABASE_URL``
and ``REDIS_URL`` are required here; the launcher (``portal.launcher``) fills them
with the embedded PostgreSQL and Redis when the user has not set them.
"""

import os
from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
READ_ENV: dict[str, bool] = {}
_UNSET = object()


def env(name, default=_UNSET, *, help=""):
    """Return an environment variable, recording its name in ``READ_ENV``."""
    READ_ENV[name] = default is _UNSET
    value = os.environ.get(name)
    if value is None or value == "":
        if default is _UNSET:
            raise ImproperlyConfigured(
                f"{name} is not set: {help} (or start the portal with ./arrayscope run, or its tests "
                "with ./arrayscope test, which provide embedded defaults)."
            )
        return default
    return value


def env_bool(name, default, *, help=""):
    return env(name, "1" if default else "0", help=help).lower() in {"1", "true", "yes", "on"}


def env_list(name, default, *, help=""):
    return [item.strip() for item in env(name, default, help=help).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False, help="show tracebacks in pages; never in production")
SECRET_KEY = env("SECRET_KEY", help="a long random string that signs sessions and tokens")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]", help="host names served, comma separated")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "", help="https origins allowed to POST forms, comma separated")
VAR_DIR = Path(env("ARRAYSCOPE_VAR", str(BASE_DIR / "var"), help="folder for embedded services and local data"))

INSTALLED_APPS = [
    "daphne",
    "portal.apps.ArrayscopeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "portal",
    "observations",
    "alerts",
    "scheduling",
    "mlmodels",
    "labeling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # An ETag on every answer to a GET (a hash of its body) and 304 Not Modified to a client that
    # already holds it: a partner polling a target or a queue re-reads nothing that did not change.
    "django.middleware.http.ConditionalGetMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.TenantMiddleware",
    "portal.middleware.QueryParameterMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.tenancy",
            ],
        },
    },
]

# The app connects as a role that owns no table, so row-level security applies to it;
# migrations run through the "admin" alias, which connects as the owner.
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", help="the app's connection, as a role that owns no table"),
        # Workers keep their connection. The ASGI server runs each request in a thread of its
        # own, and a kept connection per thread would exhaust PostgreSQL's slots under load:
        # it borrows one from a pool instead (below).
        conn_max_age=int(env("DATABASE_CONN_MAX_AGE", "600", help="seconds a process keeps its database connection")),
        conn_health_checks=True,
    )
}
# The ASGI server borrows a connection per request from a bounded pool (the launcher and
# compose.yaml set the size): a new connection per request costs PostgreSQL more CPU than the
# request itself (a backend's start, its catalog caches). The tenant is a per-connection
# setting, so it is set again on every borrowing (portal.tenancy) and cleared on every return.
DATABASE_POOL_SIZE = int(env("DATABASE_POOL_SIZE", "0", help="connections the ASGI server pools (0: no pool)"))
if DATABASE_POOL_SIZE:
    from portal.tenancy import pool_options

    DATABASES["default"]["CONN_MAX_AGE"] = 0  # a pooled connection goes back at the end of each request
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = pool_options(DATABASE_POOL_SIZE)
# Django binds its own queries on the client, so they are never prepared; the few hot
# statements that ask for it (the cone search) are prepared once per connection. Turn
# it off behind a pooler in transaction mode that does not track prepared statements.
if env_bool("DATABASE_PREPARED_STATEMENTS", True, help="prepare hot statements (off behind PgBouncer < 1.21)"):
    # Their plan is fixed by their shape, so PostgreSQL need not re-plan them per call.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        prepare_threshold=5, options="-c plan_cache_mode=force_generic_plan"
    )
_admin_url = env("DATABASE_ADMIN_URL", "", help="the owner's connection, used only to migrate")
if _admin_url:
    DATABASES["admin"] = dj_database_url.parse(_admin_url)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", help="Redis: Celery broker, Channels layer and cache")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
# A consumer waits for messages with a 5-second blocking pop; redis-py's own read timeout is
# also 5 s by default, so a page with nothing new for 5 s lost its consumer. Reads may take longer.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "prefix": "arrayscope"},
    }
}


def celery_broker_url(redis_url):
    """Kombu spells a unix socket ``redis+socket://``; redis-py spells it ``unix://``."""
    return "redis+socket://" + redis_url.removeprefix("unix://") if redis_url.startswith("unix://") else redis_url


CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
# Each task declares its own queue (``@app.task(runs_on=...)``): ``gpu`` for inference someone
# waits for, ``gpu-batch`` for training and backfills (minutes to hours: a new alert or frame
# never waits behind them), ``default`` for the light rest.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = ("portal.celery.route_to_declared_queue",)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker waits for Redis however long it is gone (the default gives up after 100 tries).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
AGGREGATE_EVERY_S = float(env("AGGREGATE_EVERY_S", "600", help="seconds between aggregations of a citizen-science "
                                                              "project that has new votes"))  # fmt: skip
SCHEDULING_EVERY_S = float(env("SCHEDULING_EVERY_S", "300", help="seconds between plans of the coming night"))
SCHEDULING_TIME_LIMIT_S = float(env("SCHEDULING_TIME_LIMIT_S", "50", help="seconds a periodic plan may take"))
SCHEDULING_REPLAN_TIME_LIMIT_S = float(env("SCHEDULING_REPLAN_TIME_LIMIT_S", "4", help="seconds a re-plan after "
                                           "a follow-up, a site's weather or a cancellation may take"))  # fmt: skip
SCHEDULING_SLICE_SECONDS = 300  # the night in 5-minute slices, as LCO's scheduler cuts it
SCHEDULING_FOLLOW_UP_SECONDS = 600  # a follow-up's exposures when its asker gave none, overheads included
SCHEDULING_SEEING_HOLDS_S = 7200  # a site's seeing measurement stands for the next two hours; later is unknown
SCHEDULING_SEEING_REPLAN_ARCSEC = 0.2  # a seeing report re-plans when it moved at least this much
SCHEDULING_PLANNER = env("SCHEDULING_PLANNER", "optimiser", help="the planner of SCHEDULING_PLANNERS that plans nights")
SCHEDULING_PLANNERS = {
    "optimiser": "scheduling.planners.optimiser.OptimisingPlanner",
    "greedy": "scheduling.planners.greedy.GreedyPlanner",
    "learned": "scheduling.planners.learned.LearnedPlanner",
}
# Beat runs once (the launcher, or compose's beat service): sweeps that put right what a
# stopped part left behind, and the periodic work (aggregating projects' new votes).
CELERY_BEAT_SCHEDULE = {
    "queue-forgotten-alert-runs": {"task": "alerts.tasks.queue_forgotten_runs", "schedule": 10.0},
    "recover-stale-jobs": {"task": "portal.tasks.recover_stale_jobs", "schedule": 300.0},
    "aggregate-new-votes": {"task": "labeling.tasks.aggregate_new_votes", "schedule": AGGREGATE_EVERY_S},
    "plan-every-night": {"task": "scheduling.tasks.plan_every_night", "schedule": SCHEDULING_EVERY_S},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/plotly", Path(plotly.__file__).parent / "package_data"),
]
# Frames, previews and cutouts live in a folder, or in any S3-compatible bucket (AWS S3,
# MinIO, Ceph, R2…) when S3_BUCKET is set: every web and worker replica then sees the same files.
S3_BUCKET = env("S3_BUCKET", "", help="keep frames, previews and cutouts in this S3-compatible bucket")
if S3_BUCKET:
    _files = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env("S3_ENDPOINT_URL", "", help="the S3 API's URL when not AWS, e.g. MinIO's") or None,
            "region_name": env("S3_REGION", "", help="the bucket's region") or None,
            "access_key": env("S3_ACCESS_KEY_ID", "", help="S3 access key (else the usual AWS sources)") or None,
            "secret_key": env("S3_SECRET_ACCESS_KEY", "", help="S3 secret key") or None,
            "location": env("S3_PREFIX", "", help="folder inside the bucket"),
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    _files = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env("MEDIA_ROOT", str(VAR_DIR / "media"), help="where uploaded files are kept")},
    }
STORAGES = {"default": _files, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Static files are served by WhiteNoise straight from the source folders: no collectstatic
# step to forget, and nothing to rebuild between a code change and a restart.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    # A key first; without one, a signed-in browser's session (the browsable API, the docs'
    # "Try it out"); a call with neither is counted against its address's anonymous rate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api_auth.ApiKeyAuthentication",
        "portal.api_auth.SessionAuthentication",
        "portal.api_auth.AnonymousCalls",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api_auth.ActsAsKeyOwner"],
    "DEFAULT_PAGINATION_CLASS": "portal.pagination.OrderedCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["portal.ordering.ListOrdering"],
    "DEFAULT_PARSER_CLASSES": [
        "portal.api_parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "portal.api_errors.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["portal.throttling.ApiKeyRateThrottle"],
    "NUM_PROXIES": int(env("NUM_PROXIES", "0", help="trusted proxies whose X-Forwarded-For names the client")),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The API's OpenAPI 3 schema (portal.api_schema), served at /api/v1/schema/ to any API key and
# kept in docs/openapi.yaml, which a test holds equal to what the code describes.
SPECTACULAR_SETTINGS = {
    "TITLE": "Arrayscope API",
    # Keys, errors, lists, and the alert websocket's protocol, shown above the endpoints.
    "DESCRIPTION": (BASE_DIR / "docs" / "api-description.md").read_text(),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["portal.api_auth.ActsAsKeyOwner"],
    "GET_MOCK_REQUEST": "portal.api_schema.mock_request",
    # Partners' clients present keys; the session is the browser's convenience, not a documented way in.
    "AUTHENTICATION_WHITELIST": ["portal.api_auth.ApiKeyAuthentication"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "tryItOutEnabled": True, "displayRequestDuration": True},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api_schema.problem_responses",
    ],
}
# Rate limits (portal.throttling), as N/s, N/min, N/h or N/<k>min: over one, a call gets 429
# with Retry-After and a sign-in form says when to try again.
API_RATE_PER_KEY = env("API_RATE_PER_KEY", "120/s", help="API calls one key may make")
ALERTS_PER_KEY = env("ALERTS_PER_KEY", "60000/min", help="alert packets one key may send (stored, refused or not)")
API_RATE_ANONYMOUS = env("API_RATE_ANONYMOUS", "60/min", help="API calls without a key, per address")
API_KEY_FAILURES_PER_ADDRESS = env("API_KEY_FAILURES_PER_ADDRESS", "20/10min", help="wrong API keys per address")
# A volunteer answering a whole tree takes seconds a galaxy; a classroom shares one address.
LABELING_RATE_PER_VOLUNTEER = env(
    "LABELING_RATE_PER_VOLUNTEER", "60/min", help="classifications one volunteer may send"
)
LABELING_RATE_PER_ADDRESS = env("LABELING_RATE_PER_ADDRESS", "1200/min", help="classifications sent from one address")
LOGIN_FAILURES_PER_ACCOUNT = env("LOGIN_FAILURES_PER_ACCOUNT", "5/15min", help="failed sign-ins per account")
LOGIN_FAILURES_PER_ADDRESS = env("LOGIN_FAILURES_PER_ADDRESS", "20/15min", help="failed sign-ins per address")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # container health checks call it over plain http
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG, help="redirect plain http to https")
SESSION_ENGINE = "portal.sessions"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG, help="send cookies over https only")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000" if not DEBUG else "0", help="HSTS max-age"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO", help="logging level")},
}

# Request limits (the README's "Limits"): Django's 2.5 MiB body limit holds everywhere but the
# alerts endpoint, whose documented batch (1,000 packets with stamps, as JSON or Avro) is
# ~70-100 MB from ZTF and ~175 MB from Rubin.
API_MAX_PAGE_SIZE = int(env("API_MAX_PAGE_SIZE", "1000", help="the most rows one API page may ask for (?limit=)"))
ALERTS_API_MAX_BODY_BYTES = int(
    env("ALERTS_API_MAX_BODY_BYTES", str(256 * 2**20), help="the largest body POSTed to /api/v1/alerts/, in bytes")
)

# Science defaults
CONE_SEARCH_MAX_RESULTS = int(
    env("CONE_SEARCH_MAX_RESULTS", "10000", help="a cone search lists at most this many targets, nearest first")
)
TARGET_DUPLICATE_RADIUS_ARCSEC = float(
    env("TARGET_DUPLICATE_RADIUS_ARCSEC", "5", help="a new target this close to another is flagged as a duplicate")
)
NAME_RESOLVER_URLS = env_list(
    "NAME_RESOLVER_URLS",
    "https://cds.unistra.fr/cgi-bin/nph-sesame/,http://vizier.cfa.harvard.edu/viz-bin/nph-sesame/",
    help="Sesame mirrors used to resolve object names, comma separated",
)
NAME_RESOLVER_TIMEOUT_S = float(env("NAME_RESOLVER_TIMEOUT_S", "5", help="seconds to wait for the name resolver"))
FRAME_MAX_BYTES = int(env("FRAME_MAX_BYTES", str(512 * 2**20), help="largest FITS file accepted, in bytes"))
# A fused image is refused before its job starts when its grid or its memory would pass these.
FUSION_MAX_PIXELS = int(env("FUSION_MAX_PIXELS", str(4096 * 4096), help="largest fused image, in pixels"))
FUSION_MAX_BYTES = int(env("FUSION_MAX_BYTES", str(2 * 2**30), help="memory one image fusion may use, in bytes"))
# Who may leave a frame out of a fusion, and why: callables (tenant, frames) -> {frame id: reason},
# by dotted path, so observations asks the frame-quality model without importing mlmodels.
FRAME_VETOES = ["mlmodels.services.frame_quality_vetoes"]
REQUEST_MAX_BYTES = int(
    env("REQUEST_MAX_BYTES", str(FRAME_MAX_BYTES + 2**20), help="largest request body read, in bytes")
)
# Uploads are read a chunk at a time: kept in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE, then
# on disk, and the request is no longer read once one file passes FRAME_MAX_BYTES.
FILE_UPLOAD_HANDLERS = [
    "portal.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Alerts
ALERT_CROSSMATCH_RADIUS_ARCSEC = float(
    env("ALERT_CROSSMATCH_RADIUS_ARCSEC", "1.5", help="an alert this close to a target belongs to it")
)
ALERT_WEBHOOK_ATTEMPTS = int(env("ALERT_WEBHOOK_ATTEMPTS", "6", help="tries of a filter's webhook before giving up"))
ALERT_WEBHOOK_ALLOW_PRIVATE = env_bool(
    "ALERT_WEBHOOK_ALLOW_PRIVATE", False, help="1: webhooks may call addresses inside the portal's own network"
)
ALERT_WEBHOOK_RETRY_SECONDS = float(
    env("ALERT_WEBHOOK_RETRY_SECONDS", "10", help="pause before a webhook's second try; it doubles after each")
)

# Inference on the gpu workers, and "galaxies like this one".
INFERENCE_BATCH_SIZE = int(env("INFERENCE_BATCH_SIZE", "64", help="images per forward pass on the gpu workers"))
INFERENCE_THREADS = int(
    env(
        "INFERENCE_THREADS",
        str(os.cpu_count() or 1),
        help="a gpu worker's torch threads on the CPU, its file-reading threads on CUDA",
    )  # fmt: skip
)
HF_ENDPOINT = env("HF_ENDPOINT", "https://huggingface.co", help="the Hugging Face hub (or a mirror) for models")
HF_TOKEN = env("HF_TOKEN", "", help="hub access token; pushing and private repos need one")
GENERATION_MAX_IMAGES = int(env("GENERATION_MAX_IMAGES", "512", help="the most galaxies one generated set may hold"))
GENERATION_MIN_CLASS_EXAMPLES = int(
    env("GENERATION_MIN_CLASS_EXAMPLES", "40", help="real galaxies of a class a generator must have learnt from")
)
# The quality gate a generated set must pass before it may be trained on (mlmodels.generation_quality.gate).
GENERATION_GATE = {
    "distance_ratio": float(env("GENERATION_GATE_DISTANCE_RATIO", "2.0",
                                help="synthetic galaxy and Fréchet distances: at most this × real against real")),
    "cohens_d": float(env("GENERATION_GATE_COHENS_D", "0.8",
                          help="no statistic's mean further than this many standard deviations from real")),
    "memorisation_ratio": float(env("GENERATION_GATE_MEMORISATION_RATIO", "0.5",
                                    help="nearest training galaxy: at least this × as far as real galaxies are")),
}  # fmt: skip
REPAIR_MAX_MASKED_FRACTION = float(
    env("REPAIR_MAX_MASKED_FRACTION", "0.25", help="the most of a frame a repair may fill from the rest")
)
SIMILARITY_EF_SEARCH = int(
    env("SIMILARITY_EF_SEARCH", "100", help="HNSW candidate list size: higher finds truer neighbours, slower")
)

# Plug-in points (portal.plugins): a new kind of each is a class behind its abstract base
# and a line here; no caller changes.
# What each model task classifies (mlmodels.subjects.ClassificationSubject).
CLASSIFICATION_SUBJECTS = {
    "morphology": "mlmodels.subjects.TargetImages",
    "vote_fractions": "mlmodels.subjects.TargetImages",
    "frame_quality": "mlmodels.subjects.Frames",
    "fusion": "mlmodels.subjects.TargetSiteSets",
    "real_bogus": "alerts.classifiers.StampTriplets",
    "light_curve": "alerts.classifiers.LightCurves",
}
# Where each task's labelled examples come from (mlmodels.training_sets.TrainingSetSource).
TRAINING_SET_SOURCES = {
    "morphology": "mlmodels.training_sets.SyntheticGalaxies",
    "vote_fractions": "labeling.training_sets.VolunteerVotes",
    "frame_quality": "mlmodels.training_sets.SyntheticFrames",
    "real_bogus": "alerts.training_sets.SyntheticStampTriplets",
    "light_curve": "alerts.training_sets.SyntheticLightCurves",
    "fusion": "mlmodels.training_sets.SyntheticObservationSets",
    "generative": "mlmodels.training_sets.SurveyGalaxies",
    "inpainting": "mlmodels.training_sets.CleanFramePatches",
}
# The kinds of alert stream an admin can add (alerts.streams.StreamKind).
ALERT_STREAM_KINDS = {
    "kafka": "alerts.streams.KafkaTopic",
    "replay": "alerts.streams.ReplayFolder",
}
