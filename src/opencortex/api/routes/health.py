"""``GET /health``: can this server answer? For load balancers and container health checks.

It lives outside ``/{org}/v2`` (an org's API is always two segments deep, so no org code can
shadow it), takes no credentials and says nothing about orgs, apps or data. The server is healthy
when its database answers ``SELECT 1``: ``{"status": "ok"}`` with 200, otherwise
``{"status": "unavailable"}`` with 503. The same two bodies whatever happens, so a check can read
either the status or the body; why the database did not answer goes to the server's log only.
``HEAD`` gives the same status without the body.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request
from sqlalchemy.exc import SQLAlchemyError

from opencortex.api.deps import RuntimeDep
from opencortex.api.openapi import described, json_response
from opencortex.api.query_arguments import refuse_unknown
from opencortex.api.responses import JSONBody
from opencortex.api.schemas.envelopes import ref

router = APIRouter()
log = logging.getLogger("opencortex.api")

# A health answer describes this instant: no cache on the way may keep it.
_NO_STORE = {"Cache-Control": "no-store"}


@router.api_route("/health", methods=["GET", "HEAD"], openapi_extra=described(
    "Whether the server can answer (its database does)", ref("Health"), credentials=False,
    responses={503: json_response(ref("Health"), "The database did not answer.")}))
def health(request: Request, runtime: RuntimeDep) -> JSONBody:
    refuse_unknown(request.query_params.keys(), frozenset())
    try:
        with runtime.database.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as error:
        log.warning("GET /health: the database did not answer: %s", error)
        return JSONBody({"status": "unavailable"}, status_code=503, headers=_NO_STORE)
    return JSONBody({"status": "ok"}, headers=_NO_STORE)
