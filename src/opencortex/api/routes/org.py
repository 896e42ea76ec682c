"""``GET /{org}/v2`` (and ``/{org}/v2/``, see ``api.slashes``): the org's public properties."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from opencortex.api.deps import CallerDep
from opencortex.api.openapi import described
from opencortex.api.query_arguments import accepts
from opencortex.api.responses import document
from opencortex.api.schemas.envelopes import ref
from opencortex.model.orgs import org_public_json

router = APIRouter()


@router.get("/{org}/v2", dependencies=[accepts()], openapi_extra=described("The org", ref("Org")))
def read_org(caller: CallerDep) -> Response:
    return document(org_public_json(caller.org))
