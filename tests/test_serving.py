"""The web tier as it is served: metric labels, the proxy headers it trusts, scratch space it sweeps."""
from __future__ import annotations


def _method_labels(body: str) -> set[str]:
    return {line.split('method="', 1)[1].split('"', 1)[0]
            for line in body.splitlines() if line.startswith("talesrunner_http_requests_total{")}


def test_an_unknown_request_method_is_counted_as_other_and_adds_no_label_value(client):
    assert client.get("/healthz").status_code == 200
    for method in ("XQZ0", "XQZ1", "XQZ2"):
        assert client.open("/healthz", method=method).status_code == 405
    assert client.open("/nowhere", method="XQZ3").status_code == 404
    labels = _method_labels(client.get("/metrics").text)
    assert "other" in labels and "GET" in labels
    assert not {label for label in labels if label.startswith("XQZ")}


def test_behind_a_trusted_proxy_the_address_and_scheme_count_but_a_forged_host_does_not(db, service_env):
    from flask import request

    from web import create_app

    app = create_app({**service_env, "TALES_TRUSTED_PROXIES": 1})

    @app.get("/probe")
    def probe():
        return {"url_root": request.url_root, "remote_addr": request.remote_addr}

    answer = app.test_client().get("/probe", headers={
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "attacker.example"})
    assert answer.json == {"url_root": "https://localhost/", "remote_addr": "203.0.113.9"}
