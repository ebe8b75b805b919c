"""moto_server, plus CloudWatch over the Smithy RPC v2 CBOR protocol.

The AWS SDK for Rust talks to CloudWatch in RPC v2 CBOR only; moto 5.2 implements
CloudWatch's JSON and query protocols but not CBOR (getmoto/moto#9195). This script runs
the same server as `moto_server` and translates, on the wire only, CBOR CloudWatch calls
into moto's JSON protocol and moto's JSON answers back into CBOR (typed by botocore's
CloudWatch model, so timestamps and doubles keep their CBOR types). Every other request
goes to moto untouched. Usage: python3 moto_cbor.py -H 127.0.0.1 -p PORT
With SLIPWAY_REQUEST_CHECK=FILE, every request is first checked against botocore's models
and each violation appended to FILE as a JSON line (request_check.py).
"""

import argparse
import base64
import datetime
import io
import json
import os
import struct

import botocore.session
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

PREFIX = "/service/GraniteServiceVersion20100801/operation/"
MODEL = botocore.session.get_session().get_service_model("cloudwatch")


class Break:
    pass


class Tagged:
    """A tagged CBOR item (tag 1: epoch timestamp), kept when decode(keep_tags=True)."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def decode(data, keep_tags=False):
    """The one CBOR data item DATA holds (bytes after it are an error)."""
    value, offset = _decode(data, 0, keep_tags)
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} bytes after the CBOR item")
    return value


def _length(data, offset, info):
    if info < 24:
        return info, offset
    size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
    return int.from_bytes(data[offset : offset + size], "big"), offset + size


def _decode(data, offset, keep_tags):
    head = data[offset]
    offset += 1
    major, info = head >> 5, head & 0x1F
    if major == 7:
        if info == 20:
            return False, offset
        if info == 21:
            return True, offset
        if info in (22, 23):
            return None, offset
        if info == 25:
            return struct.unpack(">e", data[offset : offset + 2])[0], offset + 2
        if info == 26:
            return struct.unpack(">f", data[offset : offset + 4])[0], offset + 4
        if info == 27:
            return struct.unpack(">d", data[offset : offset + 8])[0], offset + 8
        if info == 31:
            return Break, offset
        raise ValueError(f"unsupported CBOR simple value {info}")
    if info == 31:  # indefinite length
        items = []
        while True:
            item, offset = _decode(data, offset, keep_tags)
            if item is Break:
                break
            items.append(item)
        if major == 2:
            return b"".join(items), offset
        if major == 3:
            return "".join(items), offset
        if major == 4:
            return items, offset
        if major == 5:
            return dict(zip(items[::2], items[1::2])), offset
        raise ValueError(f"indefinite length for major type {major}")
    n, offset = _length(data, offset, info)
    if major == 0:
        return n, offset
    if major == 1:
        return -1 - n, offset
    if major == 2:
        return bytes(data[offset : offset + n]), offset + n
    if major == 3:
        return data[offset : offset + n].decode(), offset + n
    if major == 4:
        items = []
        for _ in range(n):
            item, offset = _decode(data, offset, keep_tags)
            items.append(item)
        return items, offset
    if major == 5:
        result = {}
        for _ in range(n):
            key, offset = _decode(data, offset, keep_tags)
            result[key], offset = _decode(data, offset, keep_tags)
        return result, offset
    if major == 6:  # tag 1 (epoch timestamp) and any other: the tagged value
        value, offset = _decode(data, offset, keep_tags)
        return (Tagged(n, value) if keep_tags else value), offset
    raise ValueError(f"unsupported CBOR major type {major}")


def _head(major, n):
    if n < 24:
        return bytes([(major << 5) | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([(major << 5) | info]) + n.to_bytes(size, "big")
    raise ValueError("integer too large")


def encode(value, shape=None):
    kind = shape.type_name if shape is not None else None
    if value is None:
        return b"\xf6"
    if kind == "timestamp":
        if isinstance(value, str):
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        return b"\xc1" + b"\xfb" + struct.pack(">d", float(value))
    if kind in ("double", "float"):
        return b"\xfb" + struct.pack(">d", float(value))
    if kind == "blob" and isinstance(value, str):
        value = base64.b64decode(value)
    if isinstance(value, bool):
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return _head(3, len(raw)) + raw
    if isinstance(value, list):
        member = shape.member if kind == "list" else None
        return _head(4, len(value)) + b"".join(encode(v, member) for v in value)
    if isinstance(value, dict):
        items = [(k, v) for k, v in value.items() if v is not None]
        out = _head(5, len(items))
        for key, item in items:
            if kind == "structure":
                member = shape.members.get(key)
            elif kind == "map":
                member = shape.value
            else:
                member = None
            out += encode(key) + encode(item, member)
        return out
    raise ValueError(f"cannot encode {type(value)}")


def plain(value):
    """CBOR-decoded request values as JSON values (bytes as base64)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class CborCloudWatch:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.app(environ, start_response)
        operation = path[len(PREFIX) :]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        params = plain(decode(raw)) if raw else {}
        body = json.dumps(params).encode()
        environ = dict(environ)
        environ.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "HTTP_X_AMZ_TARGET": f"GraniteServiceVersion20100801.{operation}",
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
            }
        )
        answer = {}

        def capture(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return lambda _data: None

        chunks = self.app(environ, capture)
        try:
            text = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        data = json.loads(text) if text.strip() else {}
        if answer["status"].startswith("2"):
            output = MODEL.operation_model(operation).output_shape
            payload = encode(data, output)
        else:
            payload = encode(data)
        headers = [
            (k, v)
            for k, v in answer["headers"]
            if k.lower() not in ("content-type", "content-length")
        ]
        headers += [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(payload))),
        ]
        start_response(answer["status"], headers)
        return [payload]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = CborCloudWatch(DomainDispatcherApplication(create_backend_app))
    check_file = os.environ.get("SLIPWAY_REQUEST_CHECK")
    if check_file:
        # Every request checked against botocore's models (tests/request_check.py).
        from request_check import RequestCheck

        app = RequestCheck(app, check_file)
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
