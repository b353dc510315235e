"""Warning before the term dates run out (statutory review 2026-12, section 3 item 4).

Past the last day a borough's calendar covers, every school-day clock silently counts working days
(`TermCalendar.is_school_day`). That only brings deadlines earlier, so the service stays ready (`/readyz`
does not fail: refusing referrals would be worse for children than early deadlines); instead it says so:
- the gauge `cme_casework_term_dates_days_left{borough}` (days until the borough's last configured term
  day; negative once lapsed), worked out at every scrape, for an alert rule;
- a warning log line at start, and at every scrape once the days left fall within
  `CME_TERM_DATES_WARNING_DAYS`, at most once a day per borough.
"""

from collections.abc import Callable, Iterator, Mapping
from datetime import date

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.logging import get_logger

from ..domain.school_days import TermCalendar

log = get_logger(__name__)


def days_left(calendars: Mapping[str, TermCalendar], today: date) -> dict[str, int | None]:
    """Per borough, the days from `today` to the last term day its calendar covers (None: no terms at all)."""
    return {borough: (cal.terms[-1].last_day - today).days if cal.terms else None
            for borough, cal in sorted(calendars.items())}


def lapsing(calendars: Mapping[str, TermCalendar], today: date, warning_days: int) -> dict[str, int | None]:
    """The boroughs whose term dates end within `warning_days` (or have ended, or were never given)."""
    return {b: left for b, left in days_left(calendars, today).items() if left is None or left <= warning_days}


class TermDatesHealth(Collector):
    """The gauge and the warning for the calendars of the app created last (one per process)."""

    def __init__(self) -> None:
        self.calendars: Mapping[str, TermCalendar] = {}
        self.warning_days = 60
        self.today: Callable[[], date] = SYSTEM_CLOCK.today  # the app's clock once it watches
        self._warned: set[tuple[str, date]] = set()

    def watch(self, calendars: Mapping[str, TermCalendar], warning_days: int, today: Callable[[], date]) -> None:
        self.calendars, self.warning_days, self.today = calendars, warning_days, today
        self.warn()

    def warn(self) -> dict[str, int | None]:
        day = self.today()
        found = lapsing(self.calendars, day, self.warning_days)
        for borough, left in found.items():
            if (borough, day) in self._warned:
                continue
            self._warned.add((borough, day))
            log.warning("term_dates_running_out", borough=borough, days_left=left,
                        hint="set CME_TERM_DATES_FILE to the borough's published term dates, then rebuild-cases")
        return found

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("cme_casework_term_dates_days_left",
                                  "Days until the last term day a borough's term dates cover (negative: lapsed)",
                                  labels=["borough"])
        for borough, left in days_left(self.calendars, self.today()).items():
            if left is not None:
                gauge.add_metric([borough], left)
        self.warn()
        yield gauge


HEALTH = TermDatesHealth()
REGISTRY.register(HEALTH)
