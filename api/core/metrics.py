"""`/metrics` in Prometheus' text format: requests by method, route template and status, and their
durations as a histogram, counted in this process (each API process or replica is scraped on its own).

The route is the template (`/api/v1/admin/users/{account_id}`), never the raw path, so ids do not
multiply the series; an unmatched path counts as "(unmatched)".
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.durations: dict[tuple[str, str], list[int]] = {}
        self.duration_sums: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, str(status))] += 1
            counts = self.durations.setdefault((method, route), [0] * (len(BUCKETS) + 1))
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
            counts[-1] += 1
            self.duration_sums[(method, route)] += seconds

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP aiadmin_process_start_time_seconds When this API process started (Unix time).",
                "# TYPE aiadmin_process_start_time_seconds gauge",
                f"aiadmin_process_start_time_seconds {self.started:.3f}",
                "# HELP aiadmin_http_requests_total HTTP requests answered, by method, route and status.",
                "# TYPE aiadmin_http_requests_total counter",
            ]
            for (method, route, status), count in sorted(self.requests.items()):
                lines.append(
                    f'aiadmin_http_requests_total{{method="{method}",route="{_label(route)}",'
                    f'status="{status}"}} {count}'
                )
            lines += [
                "# HELP aiadmin_http_request_duration_seconds Time to answer, by method and route.",
                "# TYPE aiadmin_http_request_duration_seconds histogram",
            ]
            for (method, route), counts in sorted(self.durations.items()):
                labels = f'method="{method}",route="{_label(route)}"'
                for bound, count in zip((*BUCKETS, "+Inf"), counts, strict=True):
                    lines.append(
                        f'aiadmin_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count}'
                    )
                total = self.duration_sums[(method, route)]
                lines.append(f"aiadmin_http_request_duration_seconds_sum{{{labels}}} {total:.6f}")
                lines.append(f"aiadmin_http_request_duration_seconds_count{{{labels}}} {counts[-1]}")
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - began)
