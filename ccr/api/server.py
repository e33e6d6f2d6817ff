"""``python -m ccr api``: the API on uvicorn, with the process's background services unless told otherwise.

With the services (the default), this process also runs what ``python -m ccr serve`` runs: the workers
(none in Celery mode, where an upload is only enqueued), the scheduler and the webhook deliveries, so the
API can stand alone. Beside a running app server, ``--no-services`` leaves that work to it.
"""

from __future__ import annotations

import asyncio
import logging

from ccr.core import audit
from ccr.core.config import get_settings
from ccr.core.db import migrate
from ccr.core.filemodes import restrict_umask, secure_data_dir
from ccr.ops.services import start_services, stop_services

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
READY_LINE = "API prête sur http://{host}:{port} (documentation : /api/docs)"


def serve_api(*, host: str | None = None, port: int | None = None, services: bool = True) -> int:
    """Prepare the process (database, secret, services), then serve the API until SIGINT or SIGTERM."""
    import uvicorn

    from ccr.api.app import create_app

    restrict_umask()
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    logging.getLogger("ccr").setLevel(logging.INFO)
    settings = get_settings()
    settings.secret()
    secure_data_dir(settings)
    migrate(settings)
    audit.checkpoint_job(settings)
    host = host or settings.api_host
    port = port or settings.api_port
    if services:
        start_services(settings)
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning", access_log=False,
                            server_header=False, proxy_headers=True, forwarded_allow_ips="127.0.0.1",
                            timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    # The access log stays off: every request is in the audit log already, and a query string is no place
    # for a secret but a client may still put one there.

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:  # the line a supervisor (or a test) waits for
            print(READY_LINE.format(host=host, port=port), flush=True)
        await task

    try:
        asyncio.run(run())
    finally:
        if services:
            stop_services(settings)
    return 0 if server.started else 1
