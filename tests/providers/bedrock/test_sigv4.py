"""The pure SigV4 signer against botocore's own ``SigV4Auth``: the same headers, byte for byte,
for model ids and ARNs, query strings, odd paths and hosts, session tokens and header values."""

from __future__ import annotations

import datetime
from urllib.parse import quote

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.bedrock import sigv4, translate

WHEN = datetime.datetime(2026, 12, 2, 5, 6, 7)
AMZ_DATE = "20261202T050607Z"
STATIC = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None)
TEMPORARY = ReadOnlyCredentials("ASIAEXAMPLE", "secret/with+chars=", "IQoJb3JpZ2luX2VjE//token+==", None)
BODY = b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[]}'
BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


def botocore_headers(
    monkeypatch: pytest.MonkeyPatch,
    credentials: ReadOnlyCredentials,
    url: str,
    body: bytes,
    headers: dict[str, str],
    region: str = "us-east-1",
) -> dict[str, str]:
    """What botocore's SigV4Auth.add_auth sends for the same request at ``WHEN`` (names lower-cased,
    plus the Host header its HTTP client would add)."""
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: WHEN)
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    signer = botocore_auth.SigV4Auth(Credentials(*credentials[:3]), "bedrock", region)
    signer.add_auth(request)
    sent = {name.lower(): str(value) for name, value in request.headers.items()}
    sent.setdefault("host", botocore_auth._host_from_url(url))
    return sent


def ours(
    credentials: ReadOnlyCredentials, url: str, body: bytes, headers: dict[str, str], region: str = "us-east-1"
) -> dict[str, str]:
    key = sigv4.signing_key(credentials.secret_key, AMZ_DATE[:8], region, "bedrock")
    return sigv4.sign(credentials, key, region, "bedrock", url, body, headers, AMZ_DATE)


def invoke(model: str, *, stream: bool = False, base: str = BASE) -> str:
    return translate.invoke_url(base, model, stream=stream)


CASES: list[tuple[str, ReadOnlyCredentials, str, bytes, dict[str, str]]] = [
    ("model id with ':'", STATIC, invoke("anthropic.claude-sonnet-4-5-20250929-v1:0"), BODY, JSON_HEADERS),
    ("inference-profile ARN (':' and '/')", TEMPORARY, invoke(ARN, stream=True), BODY, JSON_HEADERS),
    ("cross-region profile", TEMPORARY, invoke("us.anthropic.claude-opus-4-1-20250805-v1:0"), BODY, JSON_HEADERS),
    ("unicode model id", STATIC, invoke("modèle-ü/版本:1"), BODY, JSON_HEADERS),
    ("query string, unsorted and repeated", STATIC, BASE + "/model/m/invoke?b=2&a=1&a=0&c&d=%2F", BODY, {}),
    ("a loopback fake with a port", TEMPORARY, invoke("m:0", base="http://127.0.0.1:8123"), BODY, JSON_HEADERS),
    ("the default port", STATIC, invoke("m", base="https://Bedrock.Example.COM:443"), BODY, {}),
    ("an IPv6 host", STATIC, invoke("m", base="http://[::1]:9000"), BODY, {}),
    ("dot and empty segments", STATIC, BASE + "/a/./b/../model//m/invoke/", BODY, {}),
    ("empty body", TEMPORARY, invoke("m"), b"", {}),
    (
        "header values, case, skipped and forwarded headers",
        TEMPORARY,
        invoke("m"),
        BODY,
        {
            "Content-Type": "application/json",
            "X-Amz-Client-Tag": "  two   spaces\tand a tab  ",
            "x-amz-trace-id": "t-1",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "user-agent": "specgate",
            "anthropic-beta": "a,b",
            "Authorization": "Bearer client",
            "X-Amz-Date": "19990101T000000Z",
            "x-amz-security-token": "stale",
        },
    ),
    ("a Date header", STATIC, invoke("m"), BODY, {"date": "Mon, 01 Jan 1990 00:00:00 GMT", "accept": "*/*"}),
    ("a given payload hash", STATIC, invoke("m"), BODY, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
]


@pytest.mark.parametrize(("what", "credentials", "url", "body", "headers"), CASES, ids=[c[0] for c in CASES])
def test_the_same_headers_as_botocore(
    monkeypatch: pytest.MonkeyPatch,
    what: str,
    credentials: ReadOnlyCredentials,
    url: str,
    body: bytes,
    headers: dict[str, str],
) -> None:
    assert ours(credentials, url, body, headers) == botocore_headers(monkeypatch, credentials, url, body, headers)


def test_another_region_and_the_header_botocore_would_not_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    url = invoke(ARN, base="https://bedrock-runtime.eu-west-1.amazonaws.com")
    sent = ours(TEMPORARY, url, BODY, JSON_HEADERS, region="eu-west-1")
    assert sent == botocore_headers(monkeypatch, TEMPORARY, url, BODY, JSON_HEADERS, region="eu-west-1")
    assert "/eu-west-1/bedrock/aws4_request" in sent["authorization"]
    signed = sent["authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert signed == "accept;content-type;host;x-amz-date;x-amz-security-token"


def test_the_skipped_headers_are_botocores() -> None:
    assert frozenset(botocore_auth.SIGNED_HEADERS_BLACKLIST) == sigv4.SKIPPED_HEADERS


def test_target_and_timestamp() -> None:
    assert sigv4.target(invoke(ARN)) == sigv4.Target(
        "bedrock-runtime.us-east-1.amazonaws.com",
        # the SDKs' %2F, encoded again as botocore does for every service but S3
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%252Fabc123/invoke",
        "",
    )
    assert sigv4.timestamp(1_796_187_967) == "20261202T050607Z"


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
segment = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="?#"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    segments=st.lists(segment, min_size=1, max_size=4),
    query=st.lists(st.tuples(header_text, header_text), max_size=3),
    headers=st.dictionaries(st.from_regex(r"x-amz-[a-z0-9-]{1,12}", fullmatch=True), header_text, max_size=4),
    body=st.binary(max_size=64),
    token=st.one_of(st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)),
)
def test_any_request_is_signed_as_botocore_signs_it(
    segments: list[str], query: list[tuple[str, str]], headers: dict[str, str], body: bytes, token: str | None
) -> None:
    path = "/model/" + "/".join(quote(s, safe=":") for s in segments) + "/invoke"
    url = BASE + path + ("?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query) if query else "")
    headers.pop("x-amz-content-sha256", None)
    credentials = ReadOnlyCredentials("AKIDPROP", "secret+/=", token, None)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert ours(credentials, url, body, headers) == botocore_headers(monkeypatch, credentials, url, body, headers)


def test_a_signature_over_the_same_inputs_is_the_same() -> None:
    first = ours(STATIC, invoke("m"), BODY, JSON_HEADERS)
    assert ours(STATIC, invoke("m"), BODY, JSON_HEADERS) == first
    assert ours(STATIC, invoke("m"), BODY + b" ", JSON_HEADERS)["authorization"] != first["authorization"]
