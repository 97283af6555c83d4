"""Schemathesis hooks for bench/schemathesis: send `application/wasm` bodies as raw bytes.

Schemathesis has serializers for JSON, forms, text and octet-stream, not for the `.wasm`
uploads of `POST /v1/modules` and `POST /v1/run`; without one it skips them.
"""

import schemathesis


@schemathesis.serializer("application/wasm")
def wasm(ctx, value):
    if isinstance(value, str):
        value = value.encode("utf-8")
    return {"data": value}
