"""The printable response pack: the letter (`adapters/letter.py`, one template) made into a PDF by WeasyPrint.

WeasyPrint lays out the same HTML the DPO previews, and writes PDF/UA-1: a tagged PDF with its language
(en-GB), its title, its headings, lists and tables in the structure tree, so a screen reader can follow it.
It needs Debian's Pango (libpango-1.0-0, libpangoft2-1.0-0), installed by deploy/bin/prereqs.sh.

Names are not all Latin-1: the text is laid out with fontconfig's fonts (DejaVu Sans on Debian), or with the
TrueType font `CME_PDF_FONT_PATH` names. The layout fetches nothing else: no image, stylesheet or link of the
HTML is ever loaded (`OnlyFont`), so nothing in a pack can make the printer reach a network or a file.

Bounded (SEC-25): the letter's own limits (`letter.DATA_BUDGET`, `letter.SECTIONS_BUDGET`, `letter.MAX_DEPTH`,
`letter.MAX_VALUE_CHARS`, `letter.printable`) keep the layout to a few seconds, and `Printer` prints in a
separate process, so the service's event loop never waits for WeasyPrint; a print that takes longer than
`CME_PDF_TIMEOUT_SECONDS` is given up (503 `pdf_unavailable`).
"""

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from pathlib import Path
from typing import Any

from . import letter
from .letter import CUT, MAX_VALUE_CHARS, compact, printable  # noqa: F401  (the bounds, as before)


def _font_url(font_path: str | None) -> str | None:
    return Path(font_path).resolve().as_uri() if font_path and Path(font_path).is_file() else None


def render(response: dict[str, Any], font_path: str | None, draft: bool = False, today: date | None = None) -> bytes:
    """The response as a tagged PDF (PDF/UA-1), laid out from the letter's printable HTML (a draft dated `today`)."""
    from weasyprint import HTML  # imported in the printing process only

    font_url = _font_url(font_path)
    html = letter.render_html(response, medium="print", draft=draft, font_url=font_url, today=today)
    document = HTML(string=html, url_fetcher=_only_font_class()(font_url), media_type="print")
    return document.write_pdf(pdf_variant="pdf/ua-1", uncompressed_pdf=False)


def _only_font_class() -> type:
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    class OnlyFont(URLFetcher):
        """Fetches the configured font file and nothing else (any other URL fails the print)."""

        def __init__(self, allowed: str | None) -> None:
            super().__init__(allowed_protocols={"file"})
            self._allowed = allowed

        def fetch(self, url: str, headers: Any = None) -> Any:
            if self._allowed is None or url != self._allowed:
                raise FatalURLFetchingError("the printed pack loads no resources")
            return super().fetch(url, headers)

    return OnlyFont


def _silent_worker() -> None:
    """The worker logs nothing: WeasyPrint, fontTools and Pango name the glyphs a font lacks (a family's names),
    and the service's logging guard (SEC-15) does not run in this process."""
    logging.disable(logging.CRITICAL)


class Printer:
    """Prints packs in a separate process (spawned, one at a time), so WeasyPrint never holds the service's
    event loop; a print that takes longer than `timeout` seconds is given up (503)."""

    def __init__(self, font_path: str | None, timeout: float) -> None:
        self._font_path, self._timeout = font_path, timeout
        self._pool: ProcessPoolExecutor | None = None

    async def print(self, response: dict[str, Any], draft: bool = False, today: date | None = None) -> bytes:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_silent_worker)
        pool = self._pool
        try:
            return await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(pool, render, response, self._font_path, draft, today),
                self._timeout)
        except (TimeoutError, BrokenProcessPool):
            self._pool = None  # a stuck or dead worker is not reused
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
