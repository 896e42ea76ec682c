"""``/deidentificationProfiles``: the org's de-identification profiles, for administrators.

An export names one as ``deidentify`` (``docs/deidentification.md``). A profile is addressed by
its ``name`` or its ``_id`` (the path's ``{name}``). ``PUT`` replaces everything but the name and
bumps ``version``. No route ever returns a profile's key.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from opencortex.api.deps import AdministratorDep, JSONBodyDep, RuntimeDep
from opencortex.api.openapi import TRUE_RESULT, described, json_body
from opencortex.api.query_arguments import accepts
from opencortex.api.responses import document, listing, result
from opencortex.api.schemas.envelopes import list_of, ref
from opencortex.exports.deidentify import profiles

router = APIRouter()
ROOT = "/{org}/v2/deidentificationProfiles"
PROFILE, BODY = ref("DeidentificationProfile"), json_body(ref("DeidentificationProfileBody"), required=True)
NAME = {"name": {"schema": {"type": "string"}, "description": "The profile's name or _id."}}


@router.get(ROOT, dependencies=[accepts()], openapi_extra=described(
    "The org's de-identification profiles (administrators)", list_of(PROFILE, with_total=False)))
def list_profiles_route(caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    return listing([profile.to_json() for profile in profiles.list_profiles(runtime, caller.org["id"])], False)


@router.post(ROOT, dependencies=[accepts()], openapi_extra=described(
    "Create a de-identification profile (administrators)", PROFILE, body=BODY))
def create_profile_route(caller: AdministratorDep, runtime: RuntimeDep, body: JSONBodyDep) -> Response:
    profile = profiles.create_profile(runtime, caller.org["id"], body, creator=caller.principal.account_id)
    return document(profile.to_json())


@router.get(ROOT + "/{name}", dependencies=[accepts()], openapi_extra=described(
    "A de-identification profile (administrators)", PROFILE, path=NAME))
def read_profile_route(name: str, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    return document(profiles.get_profile(runtime, caller.org["id"], name).to_json())


@router.put(ROOT + "/{name}", dependencies=[accepts()], openapi_extra=described(
    "Replace a de-identification profile's settings (administrators); its version goes up", PROFILE,
    body=BODY, path=NAME))
def replace_profile_route(name: str, caller: AdministratorDep, runtime: RuntimeDep, body: JSONBodyDep) -> Response:
    changed = profiles.replace_profile(runtime, caller.org["id"], name, body,
                                       principal=caller.principal.account_id)
    return document(changed.to_json())


@router.delete(ROOT + "/{name}", dependencies=[accepts()], openapi_extra=described(
    "Delete a de-identification profile (administrators)", TRUE_RESULT, path=NAME))
def delete_profile_route(name: str, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    profiles.delete_profile(runtime, caller.org["id"], name, principal=caller.principal.account_id)
    return result(True)
