"""schemathesis hooks of tests/backend/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

One rule of a detection is beyond JSON Schema and so is stated in the document's
description only: ``detection_count == len(detections)``. Generated positive cases are
made to keep it (negative ones are left as drawn), so that "schema-valid request
rejected" means a real disagreement between the document and the server. Their
``node_id`` is the fuzzed node's (``SENTINEL_FUZZ_NODE_ID``), so that with its token they
are stored, not refused with 403.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode.is_positive
    body = case.body
    if (positive and case.operation.path == "/api/detections"
            and case.method.upper() == "POST" and isinstance(body, dict)
            and isinstance(body.get("detections"), list)):
        body["detection_count"] = len(body["detections"])
        body["node_id"] = os.environ.get("SENTINEL_FUZZ_NODE_ID", body.get("node_id"))
    return case
