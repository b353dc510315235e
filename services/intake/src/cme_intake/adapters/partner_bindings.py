"""The partner bindings file: which Kafka partner principal refers for which org, with its MAC key.

`make kafka-user NAME=... ROLE=partner ORG_ID=...` writes it (development: .local/secrets/partners/
bindings.json, mode 600); production mounts it from its secret store and names it in
CME_PARTNER_BINDINGS_FILE. It is read again whenever it changes, so a new partner needs no restart of
intake. Its shape: `{"partners": {"<username>": {"org_id": "<org>", "key": "<hex>"}}}`.
"""

import json
from pathlib import Path

import structlog

from ..domain.partners import Binding, Bindings

log = structlog.get_logger(__name__)


def parse(text: str) -> Bindings:
    """The bindings a file holds, or ValueError naming what is wrong (never a key)."""
    document = json.loads(text)
    partners = document.get("partners") if isinstance(document, dict) else None
    if not isinstance(partners, dict):
        raise ValueError('the bindings file needs an object "partners"')
    out: dict[str, Binding] = {}
    for principal, entry in partners.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("org_id"), str) and entry["org_id"].strip()
                and isinstance(entry.get("key"), str)):
            raise ValueError(f"partner {principal!r} needs a non-empty org_id and a hex key")
        key = bytes.fromhex(entry["key"])
        if len(key) < 32:
            raise ValueError(f"partner {principal!r} has a key shorter than 32 bytes")
        require_mac = entry.get("require_mac", False)
        if not isinstance(require_mac, bool):
            raise ValueError(f"partner {principal!r} has a require_mac that is not true or false")
        out[principal] = Binding(principal, entry["org_id"].strip(), key, require_mac)
    return Bindings(out)


class BindingsFile:
    """The file's bindings as of its last change. A file that cannot be read stops the service at start and,
    later, keeps the bindings read before (and says so in the log). A missing file binds nobody only where
    it is optional (development's default path, before `make kafka-user ... ORG_ID=` first writes it); a
    file that was named (`required`) and is missing stops the start, and one that vanishes later keeps the
    bindings read before: a deleted file never unbinds every partner."""

    def __init__(self, path: Path | None, *, required: bool = False) -> None:
        self._path = path
        self._required = required
        self._stamp: tuple[int, int] | None = None
        self._bindings = Bindings()
        self._seen = False
        self.current(strict=True)

    def current(self, strict: bool = False) -> Bindings:
        if self._path is None:
            return self._bindings
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            if strict and self._required:
                raise ValueError(f"partner bindings file {self._path} is missing") from None
            if self._seen:
                if self._stamp is not None:
                    log.error("partner_bindings_missing", path=str(self._path))
                    self._stamp = None
                return self._bindings  # what was read before stands
            return self._bindings
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._bindings = parse(self._path.read_text())
                self._seen = True
            except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
                if strict:
                    raise ValueError(f"partner bindings file {self._path}: {exc}") from None
                log.error("partner_bindings_unreadable", path=str(self._path), error=type(exc).__name__)
            self._stamp = stamp
        return self._bindings
