"""One capture cycle (pull until caught up, media, directory when due) and ``--follow``.

``--follow`` polls every ``pull.poll_interval`` when caught up, at once when the
``msgaudit_notify`` receiver heard from WeCom, and backs off (doubling to
``pull.max_backoff``) on transient errors. A permanent error (trusted IP, expired
licence, missing private key) stops it with the cursor where it was, after queueing a
capture-stalled notice; so does a stall of ``health.stall_after`` while errors persist.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..archive import Archive
from ..delivery.config import ConfigError, load_alerting
from ..delivery.outbox import deliver
from ..policy.spec import seconds
from ..seal import Sealer
from .api import ApiError
from .config import Connector
from .directory import DirectoryReport, DirectorySync
from .health import alert_if_stalled
from .media import MediaFetcher, MediaReport
from .pull import CaptureError, Puller, PullReport
from .sdk import FinanceSdk, load_library


def open_sdk(c: Connector) -> FinanceSdk:
    net = c.cfg.network
    return FinanceSdk(
        load_library(c.library), c.cfg.corp_id, c.secret, proxy=net.proxy,
        proxy_password=c.proxy_password, timeout=net.timeout,
    )  # fmt: skip


@dataclass
class CycleReport:
    pull: PullReport
    media: MediaReport
    directory: DirectoryReport | None = None
    directory_error: str = ""


class Capture:
    """A puller, a media fetcher and a directory sync over one archive and one SDK handle."""

    def __init__(
        self,
        archive: Archive,
        conn: Connector,
        sdk: FinanceSdk,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        workers: int | None = None,
    ) -> None:
        self.a = archive
        self.c = conn
        self.clock = clock
        self.sealer = Sealer(archive)
        self.puller = Puller(archive, conn, sdk, sealer=self.sealer, clock=clock, sleep=sleep,
                             workers=workers)  # fmt: skip
        self.media = MediaFetcher(archive, conn, sdk, self.sealer, clock=clock)
        self.sleep = sleep

    def close(self) -> None:
        self.puller.close()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def directory_due(self) -> bool:
        if not self.c.cfg.directory.enabled:
            return False
        row = self.a.conn.execute(
            "SELECT directory_at FROM capture_state WHERE stream = ?", (self.c.stream,)
        ).fetchone()
        last = row[0] if row else None
        return last is None or self.now_ms() - last >= seconds(self.c.cfg.directory.refresh) * 1000

    def cycle(
        self,
        *,
        max_pages: int | None = None,
        media: bool = True,
        directory: bool | None = None,
        progress: Callable[[PullReport], None] | None = None,
    ) -> CycleReport:
        try:
            pull = self.puller.pull(max_pages, progress)
        finally:
            self.a.seal_checkpoint()  # sign what this cycle appended, even when it stopped
        rep = CycleReport(pull, MediaReport())
        if media and self.c.cfg.media.enabled:
            rep.media = self.media.run()
            if rep.media.done:
                self.a.seal_checkpoint()
        if directory if directory is not None else self.directory_due():
            try:
                rep.directory = DirectorySync(
                    self.a, self.c, clock=self.clock, sleep=self.sleep, sealer=self.sealer
                ).run()
            except ApiError as e:
                rep.directory_error = str(e)
        return rep

    def notify_stall(self) -> bool:
        """Queue (and try to deliver) a capture-stalled notice when due."""
        if not alert_if_stalled(self.a, self.c, self.now_ms()):
            return False
        # On a configuration problem the notice stays queued; `wxguard alerts deliver` says why.
        with contextlib.suppress(ConfigError):
            deliver(self.a, load_alerting(self.a.data_dir), self.a.data_dir)
        return True

    def follow(
        self,
        stop: threading.Event,
        wake: threading.Event | None = None,
        on_cycle: Callable[[CycleReport | CaptureError], None] | None = None,
    ) -> None:
        poll = seconds(self.c.cfg.pull.poll_interval)
        max_backoff = seconds(self.c.cfg.pull.max_backoff)
        backoff = 1.0
        while not stop.is_set():
            try:
                rep = self.cycle()
                backoff = 1.0
                wait = 0.0 if not rep.pull.caught_up else float(poll)
                if on_cycle:
                    on_cycle(rep)
            except CaptureError as e:
                if on_cycle:
                    on_cycle(e)
                self.notify_stall()
                if not e.transient:
                    raise
                wait = min(backoff, float(max_backoff))
                backoff = min(backoff * 2, float(max_backoff))
            if wait <= 0:
                continue
            if wake is not None:
                deadline = time.monotonic() + wait
                while not stop.is_set() and time.monotonic() < deadline:
                    if wake.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                        wake.clear()
                        break
            else:
                stop.wait(wait)
