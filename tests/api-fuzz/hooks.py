"""schemathesis hooks for tests/api-fuzz/run.sh (loaded through SCHEMATHESIS_HOOKS).

In the stateful phase every valid `Idempotency-Key` is made unique. A stateful scenario plays one
client making new requests (create a task, then complete, update, delete it), and a client sends a
new key with each new request. The generator, though, draws the same few keys again and again across
scenarios; a create that repeats an earlier scenario's key and body gets that scenario's 201 replayed
(what the header means), naming a task the earlier scenario may have deleted since, which the
`ensure_resource_availability` check (ST302) would report as a created resource that is not found.
The other phases keep the generated keys as they are, so replays, 409 and 422 are still checked
against the document; tests/api/idempotency.rs checks what they mean.
"""

import itertools
import re

import schemathesis
from schemathesis.generation.meta import TestPhase

HEADER = "idempotency-key"
# The documented pattern (services/backend-api/src/idempotency/request.rs, KEY_PATTERN).
VALID = re.compile(r"^[!-~]([ -~]{0,253}[!-~])?$")
_fresh = itertools.count(1)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = case.meta
    if meta is None or meta.phase.name != TestPhase.STATEFUL or not case.headers:
        return
    for name, value in list(case.headers.items()):
        if name.lower() == HEADER and isinstance(value, str) and VALID.match(value):
            case.headers[name] = f"{value[:230]}~{next(_fresh)}"
