"""What every response carries and what a request must look like before Dash sees it.

- Security headers on every response (pages, assets, callbacks, exports, errors): no MIME sniffing, no
  framing, no referrer beyond this origin, and a Content-Security-Policy that lets the page run only this
  server's scripts plus the inline scripts Dash writes into the page (by hash).
- A callback request (POST /_dash-update-component) is checked against the callback it names: an unknown
  callback, a body that is not the JSON Dash sends, or a value of the wrong type is a 400 with one line,
  never a traceback from deep inside Dash or our callbacks.
- A component-suite path that Dash has not registered is a 404 (Dash raises instead).
"""
from __future__ import annotations

import json
import logging

import dash
from dash.exceptions import DependencyException
from flask import Response, request

log = logging.getLogger("balance_logs.app")

CALLBACK_PATH = "/_dash-update-component"
WILDCARDS = ('["MATCH"]', '["ALL"]', '["ALLSMALLER"]')
MAX_ROW = 2**31 - 1  # beyond any table's row count, well inside what an SQL OFFSET takes


def _text(value) -> bool:
    return isinstance(value, str)


def _whole(value, low: int = 0, high: int = MAX_ROW) -> bool:
    return type(value) is int and low <= value <= high


def _object(value) -> bool:
    return isinstance(value, dict)


def _page_request(value) -> bool:
    """AG Grid's getRowsRequest: the row range must be whole numbers (the models are checked where used)."""
    return isinstance(value, dict) and all(_whole(value.get(k, 0)) for k in ("startRow", "endRow"))


# The value each property our callbacks read may carry (None, a component without a value yet, always may).
# A property not listed here is passed on as it comes (dcc.Store data).
VALUE_CHECKS = {"search": _text, "pathname": _text, "href": _text, "value": _text, "id": _object,
                "cellClicked": _object, "n_clicks": _whole, "getRowsRequest": _page_request}


def security_headers(script_hashes: list[str]) -> dict[str, str]:
    """The headers of every response. Dash's own page needs inline styles (plotly and AG Grid add <style>
    elements) and its inline renderer and clientside-callback scripts, allowed by hash, not wholesale."""
    policy = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", *script_hashes]),
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:",  # Bootstrap draws its form controls with data: SVGs
        "font-src": "'self' data:",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return {
        "Content-Security-Policy": "; ".join(f"{k} {v}" for k, v in policy.items()),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }


def _id_text(ident) -> str | None:
    """A component id as Dash keys it: strings as they are, dicts as sorted compact JSON."""
    if isinstance(ident, str):
        return ident
    if isinstance(ident, dict):
        return json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return None


def _id_matches(declared: str, sent) -> bool:
    """Does the id sent match the declared one (a pattern: same keys, same fixed values)?"""
    if not any(w in declared for w in WILDCARDS):
        return _id_text(sent) == declared
    pattern = json.loads(declared)
    return (isinstance(sent, dict) and sent.keys() == pattern.keys()
            and all((isinstance(pattern[k], list) and isinstance(sent[k], (str, int, float)))
                    or sent[k] == pattern[k] for k in pattern))


def _sent_property(item: dict, is_output: bool):
    prop = item.get("property")
    if is_output and isinstance(prop, str):
        return prop.split("@", 1)[0]  # an output that allows duplicates is sent as prop@<hash of the callback>
    return prop


def _dependency_problem(declared_id: str, prop: str, sent, is_output: bool = False) -> str | None:
    many = any(w in declared_id for w in WILDCARDS[1:])  # ALL and ALLSMALLER send a list of matches
    if many and not isinstance(sent, list):
        return f"{declared_id}.{prop} is not a list"
    for item in sent if many else [sent]:
        if not (isinstance(item, dict) and _sent_property(item, is_output) == prop
                and _id_matches(declared_id, item.get("id"))):
            return f"{declared_id}.{prop} is not what was sent"
        value, check = item.get("value"), VALUE_CHECKS.get(prop)
        if not is_output and value is not None and check is not None and not check(value):
            return f"{declared_id}.{prop} has a value of the wrong type"
    return None


def callback_problem(callback_map: dict, body) -> str | None:
    """Why this callback request body cannot be answered, or None when it has the shape Dash sends."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    output = body.get("output")
    spec = callback_map.get(output) if isinstance(output, str) else None
    if spec is None or "callback" not in spec:  # a clientside callback runs in the browser only
        return "no callback on this server has that output"
    for key in ("inputs", "state"):
        sent = body.get(key, [])
        if not isinstance(sent, list) or len(sent) != len(spec[key]):
            return f"{key} do not match the callback"
        for dep, item in zip(spec[key], sent):
            problem = _dependency_problem(dep["id"], dep["property"], item)
            if problem:
                return problem
    if not spec.get("no_output"):
        declared = spec["output"] if isinstance(spec["output"], list) else [spec["output"]]
        sent = body.get("outputs")
        sent = sent if isinstance(spec["output"], list) else [sent]
        if not isinstance(sent, list) or len(sent) != len(declared):
            return "outputs do not match the callback"
        for out, item in zip(declared, sent):
            problem = _dependency_problem(out.component_id_str(), out.component_property, item, is_output=True)
            if problem:
                return problem
    changed = body.get("changedPropIds", [])
    sent_inputs = {f"{_id_text(item['id'])}.{item['property']}"
                   for item in _flat(body["inputs"])}
    if not isinstance(changed, list) or not all(isinstance(c, str) and c in sent_inputs for c in changed):
        return "changedPropIds names something that is not an input"
    return None


def _flat(items: list) -> list[dict]:
    return [one for item in items for one in (item if isinstance(item, list) else [item])]


def _one_line(status: int, text: str) -> Response:
    return Response(text + "\n", status, {"Content-Type": "text/plain; charset=utf-8"})


def install(app: dash.Dash) -> None:
    """Check callback requests, answer unknown component files with 404, and add the headers to every
    response. Call it after every callback is registered: the policy holds the clientside callbacks' hashes."""
    headers = security_headers(app.csp_hashes())
    server = app.server

    @server.before_request
    def check_callback_request():
        if request.path != CALLBACK_PATH or request.method != "POST":
            return None
        problem = callback_problem(app.callback_map, request.get_json(silent=True))
        if problem is None:
            return None
        log.warning("refused a malformed callback request from %s: %s", request.remote_addr, problem)
        return _one_line(400, f"malformed callback request: {problem}")

    @server.errorhandler(DependencyException)
    def unknown_component_file(_exc):
        return _one_line(404, "no such component file")

    @server.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
