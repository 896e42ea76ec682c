"""Jinja2 templates (``web/templates``), escaping every value, and the pages they render into."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from opencortex import __version__
from opencortex.web.views.formatting import byte_size, compact_json, count, machine_moment, moment, pretty_json

STATIC_PATH = "/static/console"
"""Where ``web/static`` is served: one place for every org's console (``static`` is no org code)."""

_environment = Environment(
    loader=PackageLoader("opencortex.web", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.update(moment=moment, machine_moment=machine_moment, byte_size=byte_size, number=count,
                            pretty_json=pretty_json, compact_json=compact_json)
_environment.globals.update(static=lambda name: f"{STATIC_PATH}/{name}?v={__version__}")


def render(template: str, context: dict[str, Any], status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page: ``template`` rendered with ``context`` (values escaped unless a template says not)."""
    html = _environment.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=headers)
