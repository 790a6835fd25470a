"""schemathesis hooks for tests/contract.sh.

A listing cursor (`GET /api/jobs`, `GET /api/keys/{key}`, and the body of
`POST /api/jobs/bulk`) is signed by the server: one made up is rightly refused with the documented 400, so a
schema-valid request cannot carry an invented one. Requests meant to be
accepted carry only the cursors the API handed out, which the stateful
phase passes along the document's links (`next` to `cursor`); requests
meant to be refused keep whatever was generated. Made-up and edited
cursors are also refused in functions/admin/tests/api/jobs.rs.
"""

import schemathesis


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    body = case.body if isinstance(case.body, dict) else None
    if body is not None and "cursor" in body:
        # A step that goes on from a made-up cursor: a first step instead,
        # on the Deleted jobs (a bulk action's own listing).
        del body["cursor"]
        body["state"] = "deleted"
    if not case.query:
        return case
    override = getattr(case, "_override", None)
    linked = override is not None and "cursor" in (override.query or {})
    if "cursor" in case.query and not linked:
        del case.query["cursor"]
    return case
