"""``GET /{org}/v2/auth/certs/jwk``: the calling app's public key, to verify its bearer tokens.

Served as a standard JWK Set (``{"keys": [...]}``) so that any JWT library can use the URL.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from opencortex.api.deps import CallerDep, RuntimeDep
from opencortex.api.openapi import described
from opencortex.api.query_arguments import accepts
from opencortex.api.responses import document
from opencortex.api.schemas.envelopes import ref
from opencortex.auth.tokens import public_jwk
from opencortex.model.apps import app_private_key

router = APIRouter()


@router.get("/{org}/v2/auth/certs/jwk", dependencies=[accepts()],
            openapi_extra=described("The calling app's public key, as a JWK Set", ref("JwkSet")))
def read_jwk(caller: CallerDep, runtime: RuntimeDep) -> Response:
    public_key = app_private_key(runtime.master_key, caller.app).public_key()
    return document({"keys": [public_jwk(public_key, kid=caller.app["key"])]})
