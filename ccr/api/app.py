"""The REST API (FastAPI): routes, French errors, body limit, security headers and the audit of each request.

Errors answer JSON ``{"detail": "<français>"}``: 401 for a missing, unknown, revoked or expired token, 403 for
a missing scope, 404 for an id of another organisation, 409 for a duplicate, 413 for a body over
``CCR_MAX_UPLOAD_MB``, 415 for a body that is not multipart, 422 for an invalid file or metadata (nothing is
then stored), 429 with ``Retry-After``. Every authenticated request is audited under « api:NAME »; a refused
token is audited on the system chain, without the token. CORS is off: no browser of another site may call it.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser
from swagger_ui_bundle import swagger_ui_path

from ccr.api import records
from ccr.api.auth import FAILED_AUTH_PER_MIN, RateLimiter, identify
from ccr.api.limits import BodyLimit
from ccr.core import audit
from ccr.core.api_tokens import ApiClient
from ccr.core.config import Settings, get_settings
from ccr.core.db import session as db_session
from ccr.core.errors import (
    AccessDenied,
    AudioError,
    CcrError,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from ccr.ops.health import run_health_checks
from ccr.pipeline import intake
from ccr.pipeline.ingest import ACCEPTED_EXTENSIONS, sanitize_filename

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
DOCS_STATIC = "/api/docs/static"
# Declared types a recording may come with; anything else (an HTML page, an executable) is refused unread.
AUDIO_TYPES = ("audio/", "video/ogg", "video/mp4", "application/ogg", "application/octet-stream")
STATUS_OF = {Unauthenticated: 401, AccessDenied: 403, NotFound: 404, RateLimited: 429, AudioError: 422,
             InvalidInput: 422}
DESCRIPTION = """API de CallCenterRate : les plateformes de téléphonie déposent les enregistrements, le CRM lit
les résultats.

**Authentification** : en-tête `Authorization: Bearer ccr_…` avec un jeton créé par un administrateur
(page Intégrations ou `python -m ccr create-token`). Portées : `calls:write` (déposer), `calls:read`
(état des appels), `evaluations:read` (évaluations et revues).

**Erreurs** : JSON `{"detail": "…"}` en français. 401 jeton absent, inconnu, révoqué ou expiré ; 403 portée
manquante ; 404 appel introuvable (y compris celui d'une autre organisation) ; 409 doublon ; 413 fichier trop
volumineux ; 422 fichier ou métadonnées invalides (rien n'est enregistré) ; 429 trop de requêtes
(en-tête `Retry-After`).
"""


def _status(err: CcrError) -> int:
    for kind, code in STATUS_OF.items():
        if isinstance(err, kind):
            return code
    return 400


def _error(code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=code, headers=headers)


def _audit_request(request: Request, code: int) -> None:
    client: ApiClient | None = getattr(request.state, "client", None)
    detail = {"methode": request.method, "chemin": request.url.path, "statut": code}
    with db_session() as s:
        if client is not None:
            audit.log_event(session=s, who=client.who, action="api_request", target_type="api_token",
                            target_id=client.token_id, detail=detail, outcome="ok" if code < 400 else "refused")
        else:  # the organisation is unknown: the system chain, never the token itself
            audit.log_event(session=s, who=audit.SYSTEM, action="api_request_refused",
                            detail=detail | {"adresse": request.client.host if request.client else None},
                            outcome="refused")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API application, sharing the app's database, storage, queue and settings."""
    settings = settings or get_settings()
    max_body = settings.max_upload_mb * 1024 * 1024
    # Uploaded recordings stay in memory up to the upload limit: the multipart parser would otherwise spool
    # a clear copy to a temporary file, and audio is only ever written to disk encrypted.
    MultiPartParser.spool_max_size = max_body
    limiter = RateLimiter(settings.api_rate_per_min)
    failures = RateLimiter(FAILED_AUTH_PER_MIN)
    app = FastAPI(title="CallCenterRate — API", version="1.0", description=DESCRIPTION, docs_url=None,
                  redoc_url=None, openapi_url="/api/openapi.json")
    app.state.limiter = limiter
    app.mount(DOCS_STATIC, StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.middleware("http")
    async def guard(request: Request, call_next):
        """Headers that a browser must honour, and the audit line of every API request."""
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path.startswith(PREFIX + "/calls"):
            try:
                await run_in_threadpool(_audit_request, request, response.status_code)
            except Exception:  # the answer is already decided; a failing audit write is logged, not hidden
                log.exception("Journal d'audit de la requête API impossible")
        return response

    async def client_of(request: Request, scope: str) -> ApiClient:
        address = request.client.host if request.client else "?"
        client = await run_in_threadpool(identify, request.headers.get("authorization"), address=address,
                                         failures=failures)
        request.state.client = client  # audited under its name from here on, a 429 or a 403 included
        limiter.take(f"token:{client.token_id}")
        client.require(scope)
        return client

    @app.exception_handler(CcrError)
    async def ccr_error(request: Request, err: CcrError):
        headers = {"Retry-After": str(err.retry_after)} if isinstance(err, RateLimited) else None
        if isinstance(err, Unauthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        return _error(_status(err), str(err), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError):
        fields = ", ".join(sorted({str(e.get("loc", ["?"])[-1]) for e in err.errors()}))
        return _error(422, f"Requête invalide : champ manquant ou mal formé ({fields}).")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):
        messages = {404: "Ressource introuvable.", 405: "Méthode non permise sur cette adresse.",
                    413: "Requête trop volumineuse."}
        return _error(err.status_code, messages.get(err.status_code, str(err.detail)), getattr(err, "headers", None))

    @app.get("/api/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="CallCenterRate — API",
                                   swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png")

    @app.get(f"{PREFIX}/health", summary="État du service",
             description="Le résultat de la sonde de santé (base, stockage, worker, transcription, planificateur), "
                         "sans détail ni secret. Sans authentification : pour un répartiteur de charge.")
    def health() -> JSONResponse:
        report = run_health_checks(settings)
        body = {"status": report.status, "ok": report.ok, "checked_at": report.checked_at.isoformat(),
                "checks": [{"name": c.name, "label": c.label, "status": c.status} for c in report.checks]}
        return JSONResponse(body, status_code=200 if report.ok else 503)

    @app.post(f"{PREFIX}/calls", status_code=202, summary="Déposer un enregistrement",
              description="Multipart : `audio` (wav, mp3, ogg, opus, flac, m4a) et `metadata`, un objet JSON "
                          "facultatif (`agent`, `team`, `started_at` ISO 8601, `direction`, `campaign`, "
                          "`external_id`, `line`, `customer_phone`). Même contrôle que la page Import : décodage "
                          "complet, doublon (empreinte du fichier, `external_id`), maintenance, chiffrement. "
                          "202 `{id, status}` ; 409 doublon avec l'id existant ; 422 refus motivé. Portée "
                          "`calls:write`.")
    async def post_call(request: Request, audio: Annotated[UploadFile, File(description="L'enregistrement")],
                        metadata: Annotated[str | None, Form(description="Métadonnées (objet JSON)")] = None):
        client = await client_of(request, "calls:write")
        name = sanitize_filename(audio.filename)
        if "." not in name or name.rsplit(".", 1)[1].lower() not in ACCEPTED_EXTENSIONS:
            raise InvalidInput(f"Format de fichier non accepté « {name} » : {', '.join(ACCEPTED_EXTENSIONS)}.")
        declared = (audio.content_type or "").lower()
        if declared and not declared.startswith(AUDIO_TYPES):
            raise InvalidInput(f"Type de contenu « {declared[:60]} » refusé pour un enregistrement audio.")
        meta = intake.parse_metadata(metadata)
        data = await audio.read()
        result = await run_in_threadpool(intake.ingest_one, actor=client.actor(), filename=name, data=data,
                                         metadata=meta)
        if result.status == "duplicate":
            return JSONResponse({"detail": result.reason, "id": result.call_id, "status": result.call_status},
                                status_code=409)
        if result.status != "accepted":
            return _error(422, result.reason)
        return JSONResponse({"id": result.call_id, "status": result.call_status}, status_code=202)

    @app.get(f"{PREFIX}/calls/{{call_id}}", summary="Lire un appel",
             description="État et métadonnées ; avec la portée `evaluations:read`, l'évaluation (contrat de "
                         "notation, avec `needs_review`) et les verdicts finals de la revue humaine. "
                         "Portée `calls:read`.")
    async def get_call(request: Request, call_id: int) -> dict[str, Any]:
        client = await client_of(request, "calls:read")

        def read() -> dict[str, Any]:
            with db_session() as s:
                return records.call_record(session=s, client=client, call_id=call_id)

        return await run_in_threadpool(read)

    @app.get(f"{PREFIX}/calls", summary="Lister les appels modifiés",
             description="Les appels importés, évalués, en échec ou validés depuis `updated_since` (ISO 8601) ou "
                         "après `cursor` (le `next_cursor` de la réponse précédente), du plus ancien changement au "
                         "plus récent. Portée `calls:read`.")
    async def list_calls(request: Request, updated_since: str | None = None, status: str | None = None,
                         cursor: str | None = None,
                         limit: Annotated[int, Query(ge=1, le=1000)] = settings.api_page_size) -> dict[str, Any]:
        client = await client_of(request, "calls:read")

        def read() -> dict[str, Any]:
            with db_session() as s:
                return records.list_records(session=s, client=client, updated_since=updated_since, status=status,
                                            cursor=cursor, limit=min(limit, settings.api_page_size))

        return await run_in_threadpool(read)

    app.add_middleware(BodyLimit, max_body=max_body + 64 * 1024)  # the multipart envelope around the file
    return app
