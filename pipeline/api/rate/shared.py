"""One pace for the clients of a run and of a sweep: pacer, adaptive rate, token
(docs/design/sending.md, docs/rates.md).

A run makes one client for its key lookups and another for sending, and a
sweep runs its inbox files one after another, each under its own event loop.
The server sees one sender, so all of them share one `Pace`:

- the pacer's grid of send times and its log of recent sends (kept on
  loop.time(), which is time.monotonic, so they outlive an event loop): the
  first request of the next client waits its turn behind the last of the
  previous one, and no window of the rate's period holds more than its count;
- the adaptive rate (`--rate auto`): the next file starts at the rate the
  previous one found, not at the start rate;
- the session token of the current run: its sending client goes on with the
  token its lookups' client logged in for, so a run logs in once (and renews as
  any client does); each run of a sweep starts with a login of its own.

A client whose settings name another rate (a resumed file whose run kept its
own) reconfigures the shared pacer, which keeps its record of earlier sends.

    pace = Pace.for_settings(options.api)          # one per run, or one per sweep
    async with QuivoClient(options.api, credentials, observer=o, pace=pace) as client: ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.api.auth import SessionToken
from pipeline.api.rate.adaptive import AdaptiveRate, adaptive_rate_for
from pipeline.api.rate.pacer import Clock, Pacer
from pipeline.api.settings import ApiSettings

RateKey = tuple[float | None, float, bool]


def rate_key(settings: ApiSettings) -> RateKey:
    """What a pace is built from: the rate, its period, auto or fixed."""
    return (settings.rate_per_s, settings.rate_period_s, settings.rate_auto)


@dataclass
class Pace:
    pacer: Pacer
    adaptive: AdaptiveRate | None
    key: RateKey
    session: SessionToken = field(default_factory=SessionToken)

    @classmethod
    def for_settings(cls, settings: ApiSettings, *, clock: Clock | None = None) -> Pace:
        """A fresh pace: the configured rate, or auto's start rate (`clock`: the pacer's,
        by default the event loop's)."""
        pacer = Pacer(settings.rate_per_s, period_s=settings.rate_period_s, clock=clock)
        adaptive = adaptive_rate_for(settings)
        if adaptive is not None and adaptive.start_per_s is not None:
            pacer.set_rate(adaptive.current_per_s)  # auto: start low, then search
        return cls(pacer, adaptive, rate_key(settings))

    def new_run(self) -> Pace:
        """This pace for the next run: the same rate, no token yet (the run logs in)."""
        self.session = SessionToken()
        return self

    def follow(self, settings: ApiSettings) -> Pace:
        """This pace, set to `settings`' rate.

        The same rate: unchanged, so the adaptive rate goes on where it is (unless it
        has seen no answer yet: then `settings`' start, e.g. a resume's known limit,
        wins). Another rate: the pacer takes it (keeping its record of earlier
        sends) and a new adaptive rate starts.
        """
        key = rate_key(settings)
        fresh = self.adaptive is not None and not self.adaptive.answered
        if key != self.key:
            self.pacer.configure(settings.rate_per_s, period_s=settings.rate_period_s)
        if key != self.key or fresh:
            self.adaptive = adaptive_rate_for(settings)
            if self.adaptive is not None and self.adaptive.start_per_s is not None:
                self.pacer.set_rate(self.adaptive.current_per_s)
            self.key = key
        return self
