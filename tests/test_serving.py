"""The web tier as it is served: metric labels, the proxy headers it trusts, scratch space it sweeps."""
from __future__ import annotations


def _method_labels(body: str) -> set[str]:
    return {line.split('method="', 1)[1].split('"', 1)[0]
            for line in body.splitlines() if line.startswith("talesrunner_http_requests_total{")}


METRICS_TOKEN = "scraper-" + "0123456789abcdef"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def _scraped_app(service_env, **settings):
    from web import create_app

    return create_app({**service_env, "TALES_METRICS_TOKEN": METRICS_TOKEN, **settings})


def test_an_unknown_request_method_is_counted_as_other_and_adds_no_label_value(db, service_env):
    client = _scraped_app(service_env).test_client()
    assert client.get("/healthz").status_code == 200
    for method in ("XQZ0", "XQZ1", "XQZ2"):
        assert client.open("/healthz", method=method).status_code == 405
    assert client.open("/nowhere", method="XQZ3").status_code == 404
    labels = _method_labels(client.get("/metrics", headers=SCRAPER).text)
    assert "other" in labels and "GET" in labels
    assert not {label for label in labels if label.startswith("XQZ")}


def test_metrics_answer_only_the_bearer_of_the_metrics_token_and_are_404_to_everyone_else(db, service_env, api):
    from web import create_app

    # No token set: no metrics at all, on the port that serves the pages.
    assert create_app(dict(service_env)).test_client().get("/metrics").status_code == 404
    client = _scraped_app(service_env).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong-token-of-16-chars"}, {"Authorization": METRICS_TOKEN},
                    {"Authorization": f"Basic {METRICS_TOKEN}"}, api.user()):  # a parent's API token is not the scraper's
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 404 and "talesrunner_" not in refused.text, headers
    scraped = client.get("/metrics", headers=SCRAPER)
    assert scraped.status_code == 200 and "talesrunner_http_requests_total" in scraped.text
    assert scraped.headers["Content-Type"].startswith("text/plain; version=0.0.4")


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
