"""The served app's defences, through Flask's test client (no network): without users it answers only this
machine, whatever serves it; every response carries the security headers; malformed callback requests and
component-suite path tricks are 400/404 with one line and no traceback; a database URL never shows its
password, not even when an '@' in it is left unescaped."""
from __future__ import annotations

import base64
import gzip
import hashlib
import importlib
import json
import logging
import os
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import settings as settings_mod
from app import create_app, grid
from app.factory import PLOTLY_URL
from app.guard import CALLBACK_PATH

OTHER_MACHINE = {"REMOTE_ADDR": "192.0.2.7"}  # TEST-NET-1: never this machine
HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}
GRID = {"type": "grid", "tab": "reconciliation", "name": "discrepancies"}
GRID_STATE = {**GRID, "type": "grid-state"}
GRID_EMPTY = {**GRID, "type": "grid-empty"}


def _app(url: str, **values):
    return create_app(settings_mod.load(env_file=os.devnull, DATABASE_URL=url, **values), warm=False)


@pytest.fixture(scope="module")
def dash_app(realistic_db):
    return _app(realistic_db)


@pytest.fixture(scope="module")
def client(dash_app):
    return dash_app.server.test_client()


def grid_body(request=None, search="?cur=BHD", pathname="/reconciliation", **changes) -> dict:
    """A page request of the reconciliation grid, as the browser sends it."""
    body = {"output": '..{"name":["MATCH"],"tab":["MATCH"],"type":"grid"}.getRowsResponse'
                      '...{"name":["MATCH"],"tab":["MATCH"],"type":"grid-state"}.data'
                      '...{"name":["MATCH"],"tab":["MATCH"],"type":"grid-empty"}.children..',
            "outputs": [{"id": GRID, "property": "getRowsResponse"}, {"id": GRID_STATE, "property": "data"},
                        {"id": GRID_EMPTY, "property": "children"}],
            "inputs": [{"id": GRID, "property": "getRowsRequest",
                        "value": {"startRow": 0, "endRow": 20} if request is None else request}],
            "state": [{"id": "url", "property": "search", "value": search},
                      {"id": "url", "property": "pathname", "value": pathname}],
            "changedPropIds": []}
    body.update(changes)
    return body


# --- who may connect -------------------------------------------------------------------------------

PATHS = ("/", "/reconciliation", "/_dash-layout", "/_dash-dependencies", "/assets/app.css", PLOTLY_URL,
         "/export/discrepancies.csv")


def test_without_users_only_this_machine_is_answered(client):
    for path in PATHS:
        refused = client.get(path, environ_base=OTHER_MACHINE)
        assert refused.status_code == 403, path
        assert "DASH_AUTH_USERS" in refused.get_data(as_text=True)
        assert client.get(path).status_code == 200, path  # the test client's own address is 127.0.0.1
    assert client.post(CALLBACK_PATH, json=grid_body(), environ_base=OTHER_MACHINE).status_code == 403
    assert client.post(CALLBACK_PATH, json=grid_body()).status_code == 200
    for loopback in ("::1", "127.0.0.2", "::ffff:127.0.0.1"):
        assert client.get("/_dash-layout", environ_base={"REMOTE_ADDR": loopback}).status_code == 200, loopback
    for elsewhere in ("", "10.0.0.1", "::ffff:192.0.2.7", "fe80::1"):
        assert client.get("/_dash-layout", environ_base={"REMOTE_ADDR": elsewhere}).status_code == 403, elsewhere


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_a_request_a_local_proxy_forwarded_is_not_local(client, header):
    assert client.get("/_dash-layout", headers={header: "192.0.2.7"}).status_code == 403


def test_with_users_other_machines_may_sign_in(realistic_db):
    client = _app(realistic_db, DASH_AUTH_USERS="ana:s3cret").server.test_client()
    assert client.get("/", environ_base=OTHER_MACHINE).status_code == 401
    assert client.get("/", environ_base=OTHER_MACHINE, auth=("ana", "s3cret")).status_code == 200


def test_the_wsgi_entry_without_the_gunicorn_config_answers_only_this_machine(realistic_db, monkeypatch):
    """`gunicorn -b 0.0.0.0:8050 app.wsgi:server` (no -c app/gunicorn_conf.py) serves this very object."""
    monkeypatch.setenv("DATABASE_URL", realistic_db)
    monkeypatch.setenv("DASH_AUTH_USERS", "")  # the environment wins over a .env in the checkout
    sys.modules.pop("app.wsgi", None)
    server = importlib.import_module("app.wsgi").server
    assert server.test_client().get("/", environ_base=OTHER_MACHINE).status_code == 403
    assert server.test_client().get("/").status_code == 200


def test_gunicorn_config_counts_a_unix_socket_as_exposed(monkeypatch):
    monkeypatch.delenv("DASH_AUTH_USERS", raising=False)
    conf = importlib.import_module("app.gunicorn_conf")

    class Server:
        class cfg:
            bind = ["unix:/run/balance-logs.sock"]
    with pytest.raises(SystemExit) as exc:
        conf.on_starting(Server)
    assert exc.value.code == 2


# --- headers on every response ---------------------------------------------------------------------

def _assert_headers(response, what):
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (what, name)
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'", what
    assert policy["default-src"] == "'self'" and policy["connect-src"] == "'self'", what
    scripts = policy["script-src"].split()
    assert scripts[0] == "'self'" and all(s.startswith("'sha256-") for s in scripts[1:]), what
    return scripts[1:]


def test_every_response_carries_the_security_headers(realistic_db, client):
    page = client.get("/reconciliation?cur=BHD")
    allowed = _assert_headers(page, "page")
    html = page.get_data(as_text=True)
    refs = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert len(refs) > 5
    for ref in {*refs, *PATHS, "/ledger/anyone", "/no-such-page", "/_favicon.ico"}:
        response = client.get(ref)
        assert response.status_code == 200, ref
        _assert_headers(response, ref)
    answers = {
        "callback": client.post(CALLBACK_PATH, json=grid_body()),
        "malformed callback": client.post(CALLBACK_PATH, json={"output": "nope"}),
        "unknown component file": client.get("/_dash-component-suites/dash/nope.js"),
        "missing route": client.get("/assets/nope.css"),
        "other machine": client.get("/", environ_base=OTHER_MACHINE),
        "wrong method": client.delete("/"),
        "sign in": _app(realistic_db, DASH_AUTH_USERS="ana:pw").server.test_client().get("/"),
    }
    assert [r.status_code for r in answers.values()] == [200, 400, 404, 404, 403, 405, 401]
    for what, response in answers.items():
        _assert_headers(response, what)
    # every inline script of the page is allowed by its hash, and nothing else is
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", html, re.S)
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in inline}
    assert inline and hashes <= set(allowed)


# --- malformed requests ----------------------------------------------------------------------------

MALFORMED = {
    "not JSON": "{not json",
    "a JSON list": [1, 2],
    "no output": {},
    "an unknown output": {"output": "nope.children", "inputs": [], "outputs": {"id": "nope", "property": "children"}},
    "a browser-only callback": {"output": "grid-refresh.data", "outputs": {"id": "grid-refresh", "property": "data"},
                                "inputs": [{"id": "url", "property": "search", "value": ""}], "state": [[]]},
    "inputs not a list": grid_body(inputs="x"),
    "outputs not a list": grid_body(outputs="x"),
    "an output id of the wrong kind": grid_body(outputs=[{"id": "grid", "property": "getRowsResponse"},
                                                         {"id": GRID_STATE, "property": "data"},
                                                         {"id": GRID_EMPTY, "property": "children"}]),
    "a missing state": grid_body(state=[]),
    "a page request that is text": grid_body("abc"),
    "a row number that is text": grid_body({"startRow": "a", "endRow": []}),
    "a row number past any table": grid_body({"startRow": 10**30, "endRow": 10**30 + 20}),
    "a search that is a number": grid_body(search=5),
    "another property": grid_body(inputs=[{"id": GRID, "property": "rowData", "value": {}}]),
    "a trigger that is no input": grid_body(changedPropIds=['{"name":["ALL"],"tab":["ALL"],"type":"grid"}.x']),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_callback_requests_are_one_line_400s(client, name, caplog):
    body = MALFORMED[name]
    with caplog.at_level(logging.INFO):
        if isinstance(body, str):
            response = client.post(CALLBACK_PATH, data=body, content_type="application/json")
        else:
            response = client.post(CALLBACK_PATH, json=body)
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and text.startswith("malformed callback request: ") and text.count("\n") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert [r.getMessage() for r in caplog.records if r.name == "balance_logs.app"] == [
        "refused a malformed callback request from 127.0.0.1: " + text.split(": ", 1)[1].strip()]


def test_a_well_formed_page_request_is_still_answered(client):
    response = client.post(CALLBACK_PATH, json=grid_body({"startRow": 0, "endRow": 20, "sortModel": "junk",
                                                          "filterModel": [1]}))
    assert response.status_code == 200
    rows = response.get_json()["response"][id_key(GRID)]["getRowsResponse"]
    assert len(rows["rowData"]) == min(20, rows["rowCount"]) > 0  # the sample export has 19 BHD issues


@pytest.mark.parametrize("path", ["/_dash-component-suites/dash/dcc/dash_core_components.js", "/assets/app.css",
                                  PLOTLY_URL])
def test_scripts_and_stylesheets_are_served_gzipped_to_browsers_that_take_it(client, path):
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    again = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200 and "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data and again.data == packed.data
    assert len(packed.data) < len(plain.data) / 2
    assert "Content-Encoding" not in client.get("/reconciliation", headers={"Accept-Encoding": "gzip"}).headers


@pytest.mark.parametrize("path", [
    "/_dash-component-suites/dash/../../etc/passwd", "/_dash-component-suites/dash/..%2f..%2fsettings.py",
    "/_dash-component-suites/dash/dcc/../../../settings.py", "/_dash-component-suites/nope/x.js",
    "/_dash-component-suites/dash/nope.js", "/_dash-component-suites/plotly/package_data/../../../../settings.py",
    "/_dash-component-suites/os/os.py", "/assets/../settings.py", "/static/../settings.py",
])
def test_component_suite_path_tricks_are_404s(client, path, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get(path)
    assert response.status_code == 404 and "Traceback" not in response.get_data(as_text=True)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                    | st.text(max_size=20) | st.sampled_from(["?cur=BHD&from=2024-03-01", "/ledger/%ff", "/trends"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=3), max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_callback_body_is_a_server_error(dash_app, client, data, caplog):
    """Any value in any input of any server callback, and page requests with any bounds: never a 500, and no
    section fails quietly either (ui.guarded logs those as errors)."""
    output = data.draw(st.sampled_from(sorted(k for k, v in dash_app.callback_map.items() if "callback" in v)))
    spec = dash_app.callback_map[output]

    def item(dep, with_value=True):
        ident = dep["id"]
        if ident.startswith("{"):
            pattern = json.loads(ident)
            ident = {k: data.draw(st.sampled_from(["discrepancies", "trends", "7d", "x"])) if isinstance(v, list)
                     else v for k, v in pattern.items()}
            if pattern.get("type") == "grid":
                ident = dict(data.draw(st.sampled_from([v.id for v in grid.GRIDS.values()])))
        one = {"id": ident, "property": dep["property"]}
        if with_value:
            one["value"] = data.draw(JSON | st.fixed_dictionaries(
                {"startRow": st.integers(-5, 2**40), "endRow": st.integers(-5, 2**40)}))
        return [one] if '["ALL"]' in dep["id"] else one

    outputs = spec["output"] if isinstance(spec["output"], list) else [spec["output"]]
    sent_outputs = [item({"id": o.component_id_str(), "property": o.component_property}, False) for o in outputs]
    inputs = [item(d) for d in spec["inputs"]]
    first = inputs[0][0] if isinstance(inputs[0], list) else inputs[0]
    body = {"output": output, "outputs": sent_outputs if isinstance(spec["output"], list) else sent_outputs[0],
            "inputs": inputs, "state": [item(d) for d in spec["state"]],
            "changedPropIds": data.draw(st.sampled_from([[], [f"{id_key(first['id'])}.{first['property']}"]]))}
    with caplog.at_level(logging.WARNING):
        response = client.post(CALLBACK_PATH, json=body)
    assert response.status_code in (200, 204, 400), (response.status_code, body)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], body


def id_key(ident) -> str:
    """A component id as Dash writes it in changedPropIds."""
    return ident if isinstance(ident, str) else json.dumps(ident, sort_keys=True, separators=(",", ":"))
