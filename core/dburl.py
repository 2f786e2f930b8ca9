"""Database URLs: ``mysql://user:password@host:port/database?ssl_ca=/path``.

The password never leaves this object in printable form: ``str()`` and ``repr()`` mask it, and
only :meth:`DatabaseUrl.connect_kwargs` hands it to a driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

SCHEMES = ("mysql", "mariadb")
_SSL_PARAMS = ("ssl_ca", "ssl_cert", "ssl_key")
DEFAULT_PORT = 3306


@dataclass(frozen=True)
class DatabaseUrl:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str | None = None
    ssl: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> DatabaseUrl:
        """Parse a URL; raises ``ValueError`` with a message that never includes the password."""
        parts = urlsplit(text.strip())
        if parts.scheme not in SCHEMES:
            raise ValueError(
                f"expected a URL like mysql://user:password@host:3306/database "
                f"(scheme one of {', '.join(SCHEMES)}), got scheme {parts.scheme or 'none'!r}"
            )
        if not parts.hostname:
            raise ValueError("the URL has no host: expected mysql://user:password@host:port/")
        if not parts.username:
            raise ValueError("the URL has no user: expected mysql://user:password@host:port/")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise ValueError("the URL's port is not a number between 0 and 65535") from None
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - set(_SSL_PARAMS))
        if unknown:
            raise ValueError(
                f"unknown URL parameter(s) {', '.join(unknown)}; known: {', '.join(_SSL_PARAMS)}"
            )
        database = unquote(parts.path.lstrip("/")) or None
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            database=database,
            ssl=tuple((k, query[k][-1]) for k in _SSL_PARAMS if k in query),
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymysql.connect`` (and python-mysql-replication)."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
        }
        if self.database:
            kwargs["database"] = self.database
        if self.ssl:
            kwargs["ssl"] = {key.removeprefix("ssl_"): value for key, value in self.ssl}
        return kwargs

    def with_database(self, database: str | None) -> DatabaseUrl:
        return DatabaseUrl(self.host, self.port, self.user, self.password, database, self.ssl)

    def unmasked(self) -> str:
        """The full URL including the password — only for ``stack env`` style output."""
        return self._render(quote(self.password, safe=""))

    def _render(self, password: str) -> str:
        auth = quote(self.user, safe="") + (f":{password}" if self.password else "")
        query = "&".join(f"{k}={quote(v, safe='/')}" for k, v in self.ssl)
        path = quote(self.database or "", safe="")
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal, as parsed
        return f"mysql://{auth}@{host}:{self.port}/{path}" + (f"?{query}" if query else "")

    def __str__(self) -> str:
        return self._render("***")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """For pretty printers that would list every dataclass field, the password too (hypothesis
        printing a failing example's arguments, IPython): the masked repr."""
        printer.text(repr(self))
