"""Checks every AWS request moto receives against botocore's service models.

moto accepts requests that AWS rejects (names too long, unknown enum values, missing
members). This module parses each request back into the operation's parameters, using the
input shape of botocore's model for the wire protocol the Rust SDK used (query and EC2's
query flavour, JSON 1.0/1.1, Smithy RPC v2 CBOR, REST-XML), and validates them: the operation exists,
required members are present, no member is unknown, types, enums, length and value ranges,
and patterns. Each violation is one JSON line (service, operation, path, rule, value,
detail) appended to a file. A request it cannot attribute or parse is itself a violation:
nothing is skipped silently, except moto's own control API (/moto-api/).

moto_cbor.py wraps moto in `RequestCheck` when SLIPWAY_REQUEST_CHECK=<file> is set.
`python3 request_check.py --self-test` checks the parser and validator themselves, with
requests serialized by botocore's own serializers.

What the models do not encode is not checked here: e.g. EC2's allowed characters in a
security group description, or ELBv2's 32-character limit on target group names. Those
documented limits live in the provisioner's own validation.
"""

import base64
import collections
import datetime
import io
import json
import math
import re
import sys
import threading
import traceback
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ElementTree

import botocore.session

import moto_cbor  # its CBOR decoder

CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([^/]+)$")
# Signing names (credential scope) that differ from botocore's service name.
SIGNING_ALIASES = {
    "monitoring": ["cloudwatch"],
    "elasticloadbalancing": ["elbv2", "elb"],
    "tagging": ["resourcegroupstaggingapi"],
}

_session = botocore.session.get_session()
_models = {}
_models_lock = threading.Lock()
# moto's server answers requests on several threads, and botocore's shape objects build
# their members lazily without locking: checking two requests at once has failed with a
# spurious KeyError inside botocore. Checks run one at a time.
_check_lock = threading.Lock()


def service_model(name):
    with _models_lock:
        if name not in _models:
            _models[name] = _session.get_service_model(name)
        return _models[name]


def candidate_services(signing_name):
    names = SIGNING_ALIASES.get(signing_name, [signing_name])
    available = set(_session.get_available_services())
    found = [service_model(n) for n in names if n in available]
    if found:
        return found
    # Rare (an unexpected service): look the signing name up in every model.
    return [
        m
        for m in (service_model(n) for n in sorted(available))
        if m.metadata.get("signingName", m.metadata.get("endpointPrefix")) == signing_name
    ]


class Violations:
    """Violations of one request, each with the service and operation it belongs to."""

    def __init__(self, service="?", operation="?"):
        self.service, self.operation, self.items = service, operation, []

    def add(self, path, rule, value=None, detail=""):
        self.items.append(
            {
                "service": self.service,
                "operation": self.operation,
                "path": path,
                "rule": rule,
                "value": _printable(value),
                "detail": detail,
            }
        )


def _printable(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 200 else text[:200] + "…"
    return value


# ---------------------------------------------------------------- request → parameters


def check_request(method, path, query_string, headers, body):
    """All violations of one HTTP request (a list of dicts; empty when it is valid)."""
    found, parsed = parse_request(method, path, query_string, headers, body)
    if parsed is not None:
        if parsed.shape is None:
            for key, value in parsed.value.items():
                found.add(key, "unknown-member", value, "the operation takes no input")
        else:
            validate(parsed.value, parsed.shape, "", found, parsed.wire)
    return found.items


# A request's parameters as its wire protocol (`wire`: query, json or cbor) has them.
Parsed = collections.namedtuple("Parsed", "model operation wire shape value")


def parse_request(method, path, query_string, headers, body):
    """(violations so far, Parsed or None when the request cannot be attributed or read)."""
    headers = {k.lower(): v for k, v in headers.items()}
    found = Violations()
    if path.startswith("/moto-api/"):
        return found, None
    authorization = headers.get("authorization", "")
    scope = re.search(r"Credential=[^/,]+/\d{8}/[^/]+/([^/]+)/aws4_request", authorization)
    if not scope:
        found.add("", "unsigned-request", f"{method} {path}", "no SigV4 credential scope")
        return found, None
    signing_name = scope.group(1)
    candidates = candidate_services(signing_name)
    found.service = signing_name
    if not candidates:
        found.add("", "unknown-service", signing_name, "no botocore model signs as this")
        return found, None

    cbor = CBOR_PATH.match(path)
    target = headers.get("x-amz-target")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if cbor:
        prefix, operation = cbor.group(1), urllib.parse.unquote(cbor.group(2))
        model = _pick(candidates, lambda m: m.metadata.get("targetPrefix") == prefix)
        protocol = "smithy-rpc-v2-cbor"
        if model is not None and protocol not in _protocols(model):
            model = None
    elif target:
        prefix, _, operation = target.rpartition(".")
        model = _pick(candidates, lambda m: m.metadata.get("targetPrefix") == prefix)
        protocol = "json"
        if model is not None and "json" not in _protocols(model):
            model = None
    elif content_type == "application/x-www-form-urlencoded" or "Action=" in query_string:
        form = urllib.parse.parse_qsl(query_string, keep_blank_values=True)
        if body:
            try:
                form += urllib.parse.parse_qsl(
                    body.decode(), keep_blank_values=True, strict_parsing=True
                )
            except (UnicodeDecodeError, ValueError) as err:
                found.add("", "unparseable", _printable(body), f"query body: {err}")
                return found, None
        params = {}
        for key, value in form:
            if key in params:
                found.add(key, "duplicate-key", value)
            params[key] = value
        operation = params.pop("Action", None)
        version = params.pop("Version", None)
        model = _pick(
            candidates,
            lambda m: m.api_version == version and {"query", "ec2"} & set(_protocols(m)),
        )
        protocol = model.metadata["protocol"] if model is not None else "query"
        if protocol not in ("query", "ec2"):
            protocol = "query"
        if operation is None:
            found.add("Action", "missing-action", None, "a query request names its Action")
            return found, None
    else:
        rest = match_rest_xml(method, path, query_string, candidates)
        if rest is None:
            found.add(
                "", "unsupported-protocol", f"{method} {path}", "not CBOR, JSON, query or REST-XML"
            )
            return found, None
        model, operation, labels = rest
        found.service = model.service_name
        found.operation = operation
        shape = model.operation_model(operation).input_shape
        value = from_rest_xml(shape, labels, query_string, headers, body, found)
        if value is None:
            return found, None
        return found, Parsed(model, operation, "rest", shape, value)

    found.operation = operation
    if model is None:
        found.add("", "unknown-service", signing_name, f"no {protocol} model matches")
        return found, None
    found.service = model.service_name
    if operation not in model.operation_names:
        found.add("", "unknown-operation", operation, f"not in botocore's {model.service_name}")
        return found, None
    shape = model.operation_model(operation).input_shape
    if protocol == "smithy-rpc-v2-cbor":
        try:
            value = moto_cbor.decode(body, keep_tags=True) if body else {}
        except Exception as err:  # any decoding failure is a malformed request
            found.add("", "unparseable", _printable(body), f"CBOR: {err}")
            return found, None
        wire = "cbor"
    elif protocol == "json":
        try:
            value = json.loads(body) if body.strip() else {}
        except ValueError as err:
            found.add("", "unparseable", _printable(body), f"JSON: {err}")
            return found, None
        wire = "json"
    else:
        value = from_query(_tree(params), shape, "", found, protocol) if shape else params
        wire = "query"
    if shape is None and not isinstance(value, dict):
        found.add("", "type", value, "the operation takes no input")
        return found, None
    return found, Parsed(model, operation, wire, shape, value)


# ------------------------------------------------------------------- REST-XML (Route 53)


def _uri_pattern(request_uri):
    """(regex of the path, static query keys) of a model's `requestUri` template."""
    path, _, static_query = request_uri.partition("?")
    regex = ""
    for literal, label in re.findall(r"([^{]*)(?:\{([^}]*)\})?", path):
        regex += re.escape(literal)
        if label:
            greedy = label.endswith("+")
            name = label.rstrip("+")
            regex += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
    keys = [k.split("=")[0] for k in static_query.split("&") if k]
    return re.compile("^" + regex.rstrip("/") + "/?$"), keys


def match_rest_xml(method, path, query_string, candidates):
    """(model, operation, URI labels) of the REST-XML operation a request is, or None: the
    one whose HTTP method and request URI match, the most literal one on a tie."""
    query_keys = {k for k, _ in urllib.parse.parse_qsl(query_string, keep_blank_values=True)}
    best = None
    for model in candidates:
        if "rest-xml" not in _protocols(model):
            continue
        for name in model.operation_names:
            http = model.operation_model(name).http
            if http.get("method") != method:
                continue
            regex, static_keys = _uri_pattern(http["requestUri"])
            match = regex.match(path)
            if not match or not set(static_keys) <= query_keys:
                continue
            score = len(re.sub(r"\{[^}]*\}", "", http["requestUri"]))
            if best is None or score > best[0]:
                best = (score, model, name, match.groupdict())
    return None if best is None else best[1:]


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _xml_value(element, shape, path, found):
    """An XML element as the value of `shape` (member names as keys)."""
    kind = shape.type_name
    if kind == "structure":
        by_wire = {m.serialization.get("name", n): n for n, m in shape.members.items()}
        value = {}
        for child in element:
            key = _local(child.tag)
            name = by_wire.get(key, key)
            member = shape.members.get(name)
            here = f"{path}.{name}" if path else name
            if member is None:
                value[key] = child.text
                continue
            value[name] = _xml_value(child, member, here, found)
        return value
    if kind == "list":
        return [
            _xml_value(item, shape.member, f"{path}[{i}]", found)
            for i, item in enumerate(element)
        ]
    return _scalar(element.text or "", shape, path, found)


def _scalar(text, shape, path, found):
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        found.add(path, "type", text, f"expected a {kind}")
        return None
    if kind == "boolean":
        if text not in ("true", "false"):
            found.add(path, "type", text, "expected true or false")
            return None
        return text == "true"
    return text


def from_rest_xml(shape, labels, query_string, headers, body, found):
    """The input of a REST-XML request: URI labels, query string and header members, and
    the XML body (the input structure itself, or its payload member)."""
    value = {}
    if shape is None:
        return value
    query = collections.defaultdict(list)
    for key, item in urllib.parse.parse_qsl(query_string, keep_blank_values=True):
        query[key].append(item)
    known_query = set()
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri" and wire_name in labels:
            value[name] = _scalar(urllib.parse.unquote(labels[wire_name]), member, name, found)
        elif location == "querystring":
            known_query.add(wire_name)
            if wire_name in query:
                items = [_scalar(v, getattr(member, "member", member), name, found) for v in query[wire_name]]
                value[name] = items if member.type_name == "list" else items[0]
        elif location == "header" and wire_name.lower() in headers:
            value[name] = _scalar(headers[wire_name.lower()], member, name, found)
    for key in query:
        if key not in known_query and query[key] != [""]:
            found.add(key, "unknown-member", query[key], "not a query parameter of the operation")
    if not body:
        return value
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as err:
        found.add("", "unparseable", _printable(body), f"XML: {err}")
        return None
    payload = shape.serialization.get("payload")
    if payload:
        value[payload] = _xml_value(root, shape.members[payload], payload, found)
    else:
        expected = shape.serialization.get("name", shape.name)
        if _local(root.tag) != expected:
            found.add("", "type", _local(root.tag), f"the XML body's root is {expected}")
        body_value = _xml_value(root, shape, "", found)
        value.update(body_value)
    return value


def _protocols(model):
    return model.metadata.get("protocols") or [model.metadata.get("protocol")]


def _pick(candidates, match):
    return next((m for m in candidates if match(m)), None)


class Node:
    """One segment of a dotted query key: its value (if the key ends here) and children."""

    def __init__(self):
        self.value, self.children = None, {}


def _tree(params):
    root = Node()
    for key, value in params.items():
        node = root
        for segment in key.split("."):
            node = node.children.setdefault(segment, Node())
        node.value = value
    return root


def _query_name(shape, default, protocol):
    """The name a member (or list/map part) has on the wire (botocore's serializers)."""
    if protocol == "ec2":
        if "queryName" in shape.serialization:
            return shape.serialization["queryName"]
        if "name" in shape.serialization:
            name = shape.serialization["name"]
            return name[0].upper() + name[1:]
        return default
    return shape.serialization.get("name", default)


def _flattened(shape, protocol):
    return protocol == "ec2" or shape.serialization.get("flattened", False)


def _member_keys(shape, protocol):
    """Wire key → member name of a structure."""
    keys = {}
    for name, member in shape.members.items():
        key = _query_name(member, name, protocol)
        if (
            protocol != "ec2"
            and member.type_name == "list"
            and member.serialization.get("flattened")
            and member.member.serialization.get("name")
        ):
            key = member.member.serialization["name"]
        keys[key] = name
    return keys


def from_query(node, shape, path, found, protocol):
    """The parameters a query-encoded node stands for, reporting what does not fit."""
    kind = shape.type_name
    if kind == "structure":
        if node.value not in (None, "") and not node.children:
            found.add(path, "type", node.value, "expected a structure")
            return None
        keys = _member_keys(shape, protocol)
        out = {}
        for key, child in node.children.items():
            name = keys.get(key)
            child_path = f"{path}.{key}" if path else key
            if name is None:
                found.add(child_path, "unknown-member", _leaf_values(child), shape.name)
                continue
            out[name] = from_query(child, shape.members[name], child_path, found, protocol)
        return out
    if kind == "list":
        if not node.children:
            if node.value == "":
                return []  # the query protocol's empty list: `Foo=`
            found.add(path, "type", node.value, "expected a list")
            return None
        items = node.children
        if not _flattened(shape, protocol):
            list_name = shape.member.serialization.get("name", "member")
            if set(items) != {list_name}:
                found.add(
                    path, "list-encoding", _leaf_values(node), f"expected {path}.{list_name}.N"
                )
                return None
            items = items[list_name].children
        return _indexed(
            items, path, found, lambda child, p: from_query(child, shape.member, p, found, protocol)
        )
    if kind == "map":
        entries = node.children
        if not _flattened(shape, protocol):
            if set(entries) != {"entry"}:
                found.add(path, "map-encoding", _leaf_values(node), f"expected {path}.entry.N")
                return None
            entries = entries["entry"].children
        key_name = _query_name(shape.key, "key", protocol)
        value_name = _query_name(shape.value, "value", protocol)
        pairs = _indexed(entries, path, found, lambda child, p: child)
        out = {}
        for i, entry in enumerate(pairs or [], 1):
            if set(entry.children) != {key_name, value_name}:
                found.add(
                    f"{path}.{i}",
                    "map-encoding",
                    _leaf_values(entry),
                    f"expected {key_name} and {value_name}",
                )
                continue
            key = from_query(
                entry.children[key_name], shape.key, f"{path}.{i}.{key_name}", found, protocol
            )
            out[key] = from_query(
                entry.children[value_name], shape.value, f"{path}.{i}.{value_name}", found, protocol
            )
        return out
    if node.children:
        found.add(path, "type", _leaf_values(node), f"expected a {kind}, got nested keys")
        return None
    return _scalar(node.value, shape, path, found)


def _indexed(children, path, found, convert):
    try:
        indexes = sorted(int(i) for i in children)
    except ValueError:
        found.add(path, "list-encoding", sorted(children), "indexes must be numbers")
        return None
    if indexes != list(range(1, len(indexes) + 1)):
        found.add(path, "list-encoding", indexes, "indexes must run 1..N")
    return [convert(children[str(i)], f"{path}.{i}") for i in indexes]


def _leaf_values(node, prefix=""):
    out = {}
    if node.value is not None:
        out[prefix or "."] = node.value
    for key, child in node.children.items():
        out.update(_leaf_values(child, f"{prefix}.{key}" if prefix else key))
    return out


def _scalar(text, shape, path, found):
    kind = shape.type_name
    try:
        if kind in ("string", "character"):
            return text
        if kind in ("integer", "long", "short", "byte", "bigInteger"):
            return int(text)
        if kind in ("double", "float", "bigDecimal"):
            return float(text)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError("expected true or false")
            return text == "true"
        if kind == "timestamp":
            return _parse_timestamp(text)
        if kind == "blob":
            return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as err:
        found.add(path, "type", text, f"not a {kind}: {err}")
        return None
    found.add(path, "type", text, f"unsupported shape type {kind}")
    return None


def _parse_timestamp(text):
    try:
        return float(text)
    except ValueError:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------- validation


_patterns = {}


_CONTAINERS = {"structure": dict, "list": list, "map": dict, "string": str}


def validate(value, shape, path, found, wire):
    """Checks a parsed value against its shape; `wire` is json, cbor or query (types differ)."""
    kind = shape.type_name
    here = path or "(input)"
    if isinstance(value, moto_cbor.Tagged):
        if not (kind == "timestamp" and value.tag == 1):
            found.add(here, "type", value.value, f"unexpected CBOR tag {value.tag}")
            return
        value = value.value
    elif kind == "timestamp" and wire == "cbor" and value is not None:
        found.add(here, "type", value, "CBOR timestamps carry tag 1")
        return
    if value is None:
        if wire != "query":  # query parsing has reported it already
            found.add(here, "type", None, f"null where a {kind} belongs")
        return
    if kind == "structure" and shape.is_document_type:
        return  # any JSON value
    container = _CONTAINERS.get(kind)
    if container and not isinstance(value, container):
        found.add(here, "type", value, f"expected a {kind}")
        return
    if kind in ("list", "map", "string"):
        _length(len(value), shape, here, value, found)
    if kind == "structure":
        # JSON may rename a member on the wire; query parsing and CBOR use member names.
        wire_keys = {
            name: member.serialization.get("name", name) if wire == "json" else name
            for name, member in shape.members.items()
        }
        names = {key: name for name, key in wire_keys.items()}
        for key, item in value.items():
            name = names.get(key)
            child = f"{path}.{key}" if path else key
            if name is None:
                found.add(child, "unknown-member", item, f"{shape.name} has no member {key}")
                continue
            validate(item, shape.members[name], child, found, wire)
        for required in shape.required_members:
            key = wire_keys[required]
            if key not in value:
                child = f"{path}.{key}" if path else key
                found.add(child, "required", None, f"{shape.name} requires it")
        if shape.metadata.get("union") and len(value) != 1:
            found.add(here, "union", sorted(value), "a union sets exactly one member")
        return
    if kind == "list":
        for i, item in enumerate(value):
            validate(item, shape.member, f"{path}[{i}]", found, wire)
        return
    if kind == "map":
        for key, item in value.items():
            validate(key, shape.key, f"{path}[{key!r}](key)", found, wire)
            validate(item, shape.value, f"{path}[{key!r}]", found, wire)
        return
    if kind == "string":
        if shape.enum and value not in shape.enum:
            listed = shape.enum if len(shape.enum) <= 12 else shape.enum[:12] + ["…"]
            found.add(
                here, "enum", value, f"not one of the model's {len(shape.enum)} values {listed}"
            )
        pattern = shape.metadata.get("pattern")
        if pattern and not _pattern(pattern).fullmatch(value):
            found.add(here, "pattern", value, pattern)
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            found.add(here, "type", value, f"expected an {kind}")
            return
        limit = 2**31 if kind == "integer" else 2**63
        if not -limit <= value < limit:
            found.add(here, "type", value, f"out of {kind} range")
        _range(value, shape, here, found)
        return
    if kind in ("double", "float"):
        if wire == "json" and value in ("NaN", "Infinity", "-Infinity"):
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            found.add(here, "type", value, f"expected a {kind}")
            return
        if not math.isnan(value):
            _range(value, shape, here, found)
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            found.add(here, "type", value, "expected a boolean")
        return
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            found.add(here, "type", value, "expected epoch seconds")
        return
    if kind == "blob":
        if wire == "json":
            if not isinstance(value, str):
                found.add(here, "type", value, "expected base64 text")
                return
            try:
                value = base64.b64decode(value, validate=True)
            except ValueError as err:
                found.add(here, "type", value, f"not base64: {err}")
                return
        if not isinstance(value, bytes):
            found.add(here, "type", value, "expected bytes")
            return
        _length(len(value), shape, here, value, found)
        return
    found.add(here, "type", value, f"unsupported shape type {kind}")


def _length(size, shape, path, value, found):
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        found.add(path, "min-length", value, f"length {size} < {low}")
    if high is not None and size > high:
        found.add(path, "max-length", value, f"length {size} > {high}")


def _range(number, shape, path, found):
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and number < low:
        found.add(path, "min", number, f"< {low}")
    if high is not None and number > high:
        found.add(path, "max", number, f"> {high}")


# Java regex constructs in the models that Python's `re` spells differently.
_class_ranges = {}


def _category_ranges(letter):
    """A character-class body for Unicode general category LETTER (Java's \\p{L})."""
    if not _class_ranges:  # one pass over all code points for every category used
        runs = {"L": [], "Z": [], "N": []}
        for code in range(sys.maxunicode + 1):
            ranges = runs.get(unicodedata.category(chr(code))[0])
            if ranges is None:
                continue
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
        for name, ranges in runs.items():
            _class_ranges[name] = "".join(
                f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges
            )
    return _class_ranges[letter]


def translate_java_regex(pattern):
    """Python `re` syntax for a Java pattern of botocore's models."""
    # UTF-16 surrogate pairs stand for the supplementary planes.
    pattern = pattern.replace("\\uD800\\uDC00-\\uDBFF\\uDFFF", "\\U00010000-\\U0010FFFF")
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and pattern.startswith("\\p{", i):
            end = pattern.index("}", i)
            name = pattern[i + 3 : end]
            if name == "Print":  # Java's POSIX class: printable ASCII
                body = "\\x20-\\x7e"
            elif name in ("L", "Z", "N"):
                body = _category_ranges(name)
            else:
                raise ValueError(f"unsupported Java class \\p{{{name}}}")
            out.append(body if in_class else f"[{body}]")
            i = end + 1
            continue
        if char == "\\":
            escaped = pattern[i : i + 2]
            # Java reads `[\w-_]` as \w, '-', '_'; Python rejects the range.
            if in_class and escaped in ("\\w", "\\d", "\\s") and pattern[i + 2 : i + 3] == "-":
                out.append(escaped + "\\-")
                i += 3
                continue
            out.append(escaped)
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def _pattern(pattern):
    """The compiled pattern; Java's `\\w` is ASCII, hence re.ASCII."""
    if pattern not in _patterns:
        _patterns[pattern] = re.compile(translate_java_regex(pattern), re.ASCII)
    return _patterns[pattern]


# ---------------------------------------------------------------- WSGI middleware


class RequestCheck:
    """WSGI middleware: checks each request, appends violations to `path`, passes it on."""

    def __init__(self, app, path):
        self.app, self.path, self.lock = app, path, threading.Lock()

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            body = environ["wsgi.input"].read(length)
        elif environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        headers = {
            key[5:].replace("_", "-"): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if "CONTENT_TYPE" in environ:
            headers["content-type"] = environ["CONTENT_TYPE"]
        try:
            with _check_lock:
                items = check_request(
                    environ.get("REQUEST_METHOD", ""),
                    environ.get("PATH_INFO", ""),
                    environ.get("QUERY_STRING", ""),
                    headers,
                    body,
                )
        except Exception:  # the checker's own failure must show, not pass silently
            items = [
                {
                    "service": "?",
                    "operation": "?",
                    "path": environ.get("PATH_INFO", ""),
                    "rule": "checker-error",
                    "value": None,
                    "detail": traceback.format_exc(limit=3),
                }
            ]
        if items:
            with self.lock, open(self.path, "a", encoding="utf-8") as out:
                for item in items:
                    out.write(json.dumps(item, default=str) + "\n")
        return self.app(environ, start_response)


# ---------------------------------------------------------------- self-test


def _wire(service, operation, params):
    """A signed-looking HTTP request for PARAMS, serialized by botocore itself."""
    from botocore.serialize import create_serializer

    model = service_model(service)
    protocol = "smithy-rpc-v2-cbor" if service == "cloudwatch" else model.metadata["protocol"]
    request = create_serializer(protocol, include_validation=False).serialize_to_request(
        params, model.operation_model(operation)
    )
    query = request.get("query_string") or ""
    if isinstance(query, dict):
        query = urllib.parse.urlencode(query, doseq=True)
    signing = model.metadata.get("signingName", model.metadata["endpointPrefix"])
    headers = dict(request["headers"])
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{signing}/aws4_request, "
        "SignedHeaders=host, Signature=0"
    )
    body = request["body"]
    if isinstance(body, dict):  # query protocols: botocore leaves the form as a dict
        body = urllib.parse.urlencode(body)
    if isinstance(body, str):
        body = body.encode()
    return (request["method"], request["url_path"], query, headers, body)


def self_test():
    failures = []

    def expect(label, request, rules):
        got = sorted({(v["path"], v["rule"]) for v in check_request(*request)})
        if got != sorted(rules):
            failures.append(f"{label}: expected {sorted(rules)}, got {got}")

    def model_says(label, condition):
        if not condition:
            failures.append(f"model fact no longer true: {label}")

    long_name = "a" * 33
    valid = {
        ("ec2", "CreateSecurityGroup"): {
            "GroupName": "voting-dev-vote",
            "Description": "vote's tasks",
            "VpcId": "vpc-1",
            "TagSpecifications": [
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": "slipway:stack", "Value": "voting"}],
                }
            ],
        },
        ("elbv2", "CreateTargetGroup"): {
            "Name": "voting-dev-vote",
            "Protocol": "HTTP",
            "Port": 8080,
            "VpcId": "vpc-1",
            "TargetType": "ip",
            "Tags": [{"Key": "managed-by", "Value": "slipway"}],
        },
        ("iam", "CreateRole"): {"RoleName": "voting-dev-task", "AssumeRolePolicyDocument": "{}"},
        ("sns", "CreateTopic"): {"Name": "alarms", "Attributes": {"DisplayName": "x"}},
        ("ecs", "CreateService"): {
            "serviceName": "vote",
            "desiredCount": 1,
            "launchType": "FARGATE",
        },
        ("cloudwatch", "PutMetricAlarm"): {
            "AlarmName": "a",
            "EvaluationPeriods": 3,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 5.0,
            "Period": 60,
            "Statistic": "Sum",
            "MetricName": "RequestCount",
            "Namespace": "AWS/ApplicationELB",
        },
        ("route53", "ChangeResourceRecordSets"): {
            "HostedZoneId": "Z0123456789ABC",
            "ChangeBatch": {
                "Comment": "slipway notes-dev: dns-web.example.com",
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": "web.example.com.",
                            "Type": "A",
                            "AliasTarget": {
                                "HostedZoneId": "Z35SXDOTRQ7X7K",
                                "DNSName": "notes-dev-alb-1.us-east-1.elb.amazonaws.com",
                                "EvaluateTargetHealth": True,
                            },
                        },
                    },
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": "_x1.example.com.",
                            "Type": "CNAME",
                            "TTL": 300,
                            "ResourceRecords": [{"Value": "_x2.acm-validations.aws."}],
                        },
                    },
                ],
            },
        },
        ("route53", "ListResourceRecordSets"): {
            "HostedZoneId": "Z0123456789ABC",
            "StartRecordName": "example.com",
            "StartRecordType": "A",
            "MaxItems": "300",
        },
        ("route53", "ListHostedZonesByName"): {"DNSName": "example.com"},
        ("route53", "GetChange"): {"Id": "C123"},
        ("acm", "RequestCertificate"): {
            "DomainName": "example.com",
            "SubjectAlternativeNames": ["*.example.com"],
            "ValidationMethod": "DNS",
            "IdempotencyToken": "0123456789abcdef0123456789abcdef",
        },
    }
    for (service, operation), params in valid.items():
        expect(f"valid {service}:{operation}", _wire(service, operation, params), [])

    # REST-XML: what the model encodes there is reported too.
    change = json.loads(json.dumps(valid[("route53", "ChangeResourceRecordSets")]))
    change["ChangeBatch"]["Changes"][0]["Action"] = "REPLACE"
    del change["ChangeBatch"]["Changes"][1]["ResourceRecordSet"]["Type"]
    change["ChangeBatch"]["Comment"] = "c" * 257
    expect(
        "Route 53 bad action, missing type, long comment",
        _wire("route53", "ChangeResourceRecordSets", change),
        [
            ("ChangeBatch.Changes[0].Action", "enum"),
            ("ChangeBatch.Changes[1].ResourceRecordSet.Type", "required"),
            ("ChangeBatch.Comment", "max-length"),
        ],
    )
    listing = dict(valid[("route53", "ListResourceRecordSets")], StartRecordType="ALIAS")
    method, path, query, headers, body = _wire("route53", "ListResourceRecordSets", listing)
    expect(
        "Route 53 query enum and unknown query parameter",
        (method, path, query + "&colour=blue", headers, body),
        [("StartRecordType", "enum"), ("colour", "unknown-member")],
    )

    # What the models encode: each must be reported.
    sg = dict(valid[("ec2", "CreateSecurityGroup")])
    del sg["GroupName"]
    expect(
        "EC2 missing GroupName",
        _wire("ec2", "CreateSecurityGroup", sg),
        [("GroupName", "required")],
    )
    tg = dict(valid[("elbv2", "CreateTargetGroup")], Protocol="HTTP3")
    expect(
        "ELBv2 unknown protocol", _wire("elbv2", "CreateTargetGroup", tg), [("Protocol", "enum")]
    )
    tg = dict(valid[("elbv2", "CreateTargetGroup")], Port=70000, HealthCheckPath="")
    expect(
        "ELBv2 port and empty path",
        _wire("elbv2", "CreateTargetGroup", tg),
        [("HealthCheckPath", "min-length"), ("Port", "max")],
    )
    tg = dict(valid[("elbv2", "CreateTargetGroup")], Tags=[{"Value": "x"}])
    expect(
        "ELBv2 tag without key",
        _wire("elbv2", "CreateTargetGroup", tg),
        [("Tags[0].Key", "required")],
    )
    tg = dict(
        valid[("elbv2", "CreateTargetGroup")],
        Tags=[{"Key": "é ok", "Value": "v"}, {"Key": "bad!", "Value": "v"}],
    )
    expect(
        "ELBv2 tag key (Java \\p{L} pattern)",
        _wire("elbv2", "CreateTargetGroup", tg),
        [("Tags[1].Key", "pattern")],
    )
    role = {"RoleName": "r" * 65, "AssumeRolePolicyDocument": "{}"}
    expect("IAM role name of 65", _wire("iam", "CreateRole", role), [("RoleName", "max-length")])
    role = {"RoleName": "sg-debug's", "AssumeRolePolicyDocument": "{}"}
    expect(
        "IAM role name with an apostrophe",
        _wire("iam", "CreateRole", role),
        [("RoleName", "pattern")],
    )
    ecs = _wire("ecs", "CreateService", dict(valid[("ecs", "CreateService")], launchType="LAMBDA"))
    ecs_body = dict(json.loads(ecs[4]), bogus=1)
    expect(
        "ECS enum and unknown member",
        ecs[:4] + (json.dumps(ecs_body).encode(),),
        [("bogus", "unknown-member"), ("launchType", "enum")],
    )
    alarm = dict(valid[("cloudwatch", "PutMetricAlarm")], AlarmName="")
    expect(
        "CloudWatch (CBOR) empty alarm name",
        _wire("cloudwatch", "PutMetricAlarm", alarm),
        [("AlarmName", "min-length")],
    )
    logs = {"logGroupName": "/slipway/voting dev"}
    expect(
        "Logs group name pattern",
        _wire("logs", "CreateLogGroup", logs),
        [("logGroupName", "pattern")],
    )
    topic = {"Name": "alarms", "Attributes": {"DisplayName": "x"}, "Tags": [{"Key": "k"}]}
    expect(
        "SNS tag without value", _wire("sns", "CreateTopic", topic), [("Tags[0].Value", "required")]
    )

    # The wire itself: unknown keys, operations, services; unsigned requests.
    method, path, query, headers, body = _wire(
        "ec2", "CreateSecurityGroup", valid[("ec2", "CreateSecurityGroup")]
    )
    expect(
        "EC2 unknown key",
        (method, path, query, headers, body + b"&Colour=blue"),
        [("Colour", "unknown-member")],
    )
    bad_op = body.replace(b"Action=CreateSecurityGroup", b"Action=CreateSecurityGroups")
    expect(
        "EC2 unknown operation", (method, path, query, headers, bad_op), [("", "unknown-operation")]
    )
    expect(
        "unsigned",
        ("POST", "/", "", {"Content-Type": "application/x-www-form-urlencoded"}, body),
        [("", "unsigned-request")],
    )
    json_request = _wire("ecs", "CreateService", valid[("ecs", "CreateService")])
    expect("JSON not JSON", json_request[:4] + (b"{",), [("", "unparseable")])
    rest = (
        "GET",
        "/2015-03-31/functions",
        "",
        {"Authorization": headers["Authorization"].replace("/ec2/", "/lambda/")},
        b"",
    )
    expect("rest-json (no parser: no client of ours speaks it)", rest, [("", "unsupported-protocol")])
    expect("moto control API", ("POST", "/moto-api/reset", "", {}, b""), [])

    # What the models do not encode (the provisioner's own validation must):
    ec2 = service_model("ec2").operation_model("CreateSecurityGroup").input_shape
    description = ec2.members["Description"]
    model_says(
        "EC2 CreateSecurityGroup GroupDescription has no pattern or length limit",
        "pattern" not in description.metadata and "max" not in description.metadata,
    )
    sg = dict(valid[("ec2", "CreateSecurityGroup")], Description="sg-debug's")
    expect(
        "EC2 description with an apostrophe passes the model",
        _wire("ec2", "CreateSecurityGroup", sg),
        [],
    )
    tg_name = service_model("elbv2").shape_for("TargetGroupName")
    model_says("ELBv2 TargetGroupName has no max length", "max" not in tg_name.metadata)
    tg = dict(valid[("elbv2", "CreateTargetGroup")], Name=long_name)
    expect(
        "ELBv2 target group name of 33 passes the model",
        _wire("elbv2", "CreateTargetGroup", tg),
        [],
    )

    for failure in failures:
        print("FAIL", failure)
    print(f"request_check self-test: {'FAILED' if failures else 'ok'} ({len(failures)} failures)")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    print(__doc__)
    sys.exit(2)
