"""Database URLs (core/dburl.py): parsed exactly, printed without the password, printed in full
only on request — and what is printed parses back to the same URL."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binlog_pipeline.core.dburl import DatabaseUrl

texts = st.text(st.characters(min_codepoint=1, exclude_categories=("Cs",)), max_size=12)
hosts = st.sampled_from(["db", "db.example.com", "127.0.0.1", "::1", "2001:db8::7"])
paths = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
urls = st.builds(
    DatabaseUrl,
    host=hosts,
    port=st.integers(1, 65535),
    user=texts.filter(bool),
    password=texts,
    database=st.none() | texts.filter(bool),
    # each TLS file set or not, in the order parse() keeps them
    ssl=st.tuples(
        *(st.none() | st.tuples(st.just(key), paths) for key in ("ssl_ca", "ssl_cert", "ssl_key"))
    ).map(lambda pairs: tuple(pair for pair in pairs if pair is not None)),
)


@given(urls)
def test_the_full_url_parses_back_to_itself(url: DatabaseUrl) -> None:
    """Whatever the user, password, host, database and TLS files, unmasked() parses back equal."""
    assert DatabaseUrl.parse(url.unmasked()) == url


@given(urls)
def test_the_printed_url_hides_only_the_password(url: DatabaseUrl) -> None:
    """str() is the same URL with the password replaced by ***, which parses back too."""
    shown = DatabaseUrl.parse(str(url))
    assert shown.password == ("***" if url.password else "")
    assert (shown.host, shown.port, shown.user, shown.database, shown.ssl) == (
        url.host,
        url.port,
        url.user,
        url.database,
        url.ssl,
    )


def test_an_ipv6_host_is_printed_in_brackets() -> None:
    """An IPv6 literal is written in brackets, as URLs require (it was once printed bare)."""
    url = DatabaseUrl.parse("mysql://u:secret@[2001:db8::7]:3307/shop")
    assert url.host == "2001:db8::7"
    assert str(url) == "mysql://u:***@[2001:db8::7]:3307/shop"
    assert url.connect_kwargs()["host"] == "2001:db8::7"


def test_connect_kwargs() -> None:
    """The driver gets host, port, user, password, the database when set and TLS files as ssl={...}."""
    url = DatabaseUrl.parse("mariadb://cdc:p%40ss@db:3307/?ssl_ca=/ca.pem&ssl_key=/k.pem")
    assert url.connect_kwargs() == {
        "host": "db",
        "port": 3307,
        "user": "cdc",
        "password": "p@ss",
        "ssl": {"ca": "/ca.pem", "key": "/k.pem"},
    }
    assert url.with_database("shop").connect_kwargs()["database"] == "shop"
    assert DatabaseUrl.parse("mysql://u@h").port == 3306


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("postgres://u:pw@h/", "scheme one of mysql, mariadb), got scheme 'postgres'"),
        ("h:3306", "got scheme 'h'"),
        ("mysql://u:pw@/db", "the URL has no host"),
        ("mysql://h:3306/", "the URL has no user"),
        ("mysql://u:pw@h:port/", "the URL's port is not a number"),
        ("mysql://u:pw@h/?ssl=1&x=2", "unknown URL parameter(s) ssl, x; known: ssl_ca, ssl_cert, ssl_key"),
    ],
)
def test_parse_errors_never_show_the_password(text: str, message: str) -> None:
    """Each malformed URL is refused saying what is wrong, and never with its password."""
    with pytest.raises(ValueError) as raised:
        DatabaseUrl.parse(text)
    assert message in str(raised.value)
    assert "pw" not in str(raised.value)
