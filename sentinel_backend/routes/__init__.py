"""The HTTP routes of docs/api.md, one module per route family.

:data:`router` holds them all (``app.include_router``); the hot endpoints are exported too,
for create_app to register them again as plain Starlette routes.
"""

from __future__ import annotations

from fastapi import APIRouter

from . import blackout, commands, detections, health, nodes
from .detections import list_detections, post_batch, post_detection
from .nodes import heartbeat_route, register

__all__ = ["heartbeat_route", "list_detections", "post_batch", "post_detection", "register",
           "router"]

router = APIRouter()
for _family in (nodes, detections, blackout, commands, health):
    router.include_router(_family.router)
