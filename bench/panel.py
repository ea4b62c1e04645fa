"""Time to a fully rendered Overview in Chromium, on a serving copy of 10M events.

    .venv/bin/python bench/panel.py [--serving PATH] [--runs 5]

Without --serving it first runs `bench/pipeline.py --events 10000000 --keep` (which also rewrites that
section of bench/RESULTS.md) and uses the serving copy it keeps. The API (a fresh SQLite database with one
analyst) and `streamlit run dashboard/app.py` are started as `make run` starts them; Debian's chromium is
driven headless by Playwright. A run is timed from the click on "Sign in" until the Overview shows all its
figures, charts and tables and Streamlit says it has finished running. The first run is cold (nothing in
the panel's cache); the next ones open a new browser session each and find the warehouse queries cached
(st.cache_data, 60 s), as a second analyst would.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from results import write_section  # noqa: E402

PASSWORD = "bench-analyst-pass"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_serving() -> Path:
    print("building a 10M-event serving copy with bench/pipeline.py --keep …", flush=True)
    output = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "pipeline.py"), "--events", "10000000", "--keep"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    kept = re.findall(r"^kept (.+)$", output, re.MULTILINE)
    return Path(kept[-1]) / "serving.duckdb"


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def start(data_dir: Path) -> tuple[list[subprocess.Popen], str, str]:
    env = {**os.environ, "AIADMIN_DATA_DIR": str(data_dir), "AIADMIN_ENVIRONMENT": "development",
           "AIADMIN_BACKGROUND_JOBS": "false"}  # fmt: skip
    env.pop("AIADMIN_DATABASE_URL", None)
    subprocess.run([str(BIN / "aiadmin"), "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [str(BIN / "aiadmin"), "create-admin", "--email", "analyst@bench.example.com", "--password", PASSWORD,
         "--role", "analyst"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    api_port, panel_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    env["AIADMIN_API_URL"] = api
    processes = [
        subprocess.Popen(
            [str(BIN / "uvicorn"), "api.main:app", "--port", str(api_port), "--log-level", "warning"],
            cwd=ROOT, env=env,
        ),
        subprocess.Popen(
            [str(BIN / "streamlit"), "run", str(ROOT / "dashboard" / "app.py"),
             "--server.port", str(panel_port), "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    panel = f"http://127.0.0.1:{panel_port}"
    wait_for(f"{api}/health")
    wait_for(f"{panel}/_stcore/health")
    return processes, api, panel


def time_overview(page, panel: str) -> float:
    from playwright.sync_api import expect

    page.goto(panel)
    page.get_by_role("textbox", name="Email").fill("analyst@bench.example.com")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    started = time.perf_counter()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Errors and latency")).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stMetric")).to_have_count(16, timeout=120_000)  # 4 live + 12 KPIs
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)  # "Running…" is gone
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serving", type=Path, help="a published serving copy (else one is built)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Debian's chromium is needed: apt-get install chromium")
    serving = args.serving or build_serving()
    data_dir = Path(tempfile.mkdtemp(prefix="aiadmin-bench-panel-"))
    shutil.copy(serving, data_dir / "serving.duckdb")
    with duckdb.connect(str(data_dir / "serving.duckdb"), read_only=True) as warehouse:
        calls = warehouse.execute("SELECT sum(calls) FROM marts.mart_usage_daily").fetchone()[0] or 0
    processes, _api, panel = start(data_dir)
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox"]
            )
            timings = []
            for run in range(args.runs):
                context = browser.new_context(viewport={"width": 1440, "height": 1000})
                timings.append(time_overview(context.new_page(), panel))
                print(f"run {run + 1}: {timings[-1]:.2f} s", flush=True)
                context.close()
            browser.close()
    finally:
        for process in processes:
            process.terminate()
        shutil.rmtree(data_dir, ignore_errors=True)
    warm = timings[1:] or timings
    write_section(
        "Panel",
        [
            "## Panel",
            "",
            f"`bench/panel.py --runs {args.runs}`: the Overview in headless Chromium (Debian's, through "
            f"Playwright) on the serving copy of `bench/pipeline.py`'s 10,000,000-event run ({calls:,} LLM "
            'calls in the marts), from the click on "Sign in" to every figure, chart and table drawn and '
            "Streamlit idle. "
            "The API, the panel and the browser share this machine's 2 cores.",
            "",
            "| run | seconds |",
            "| --- | --- |",
            f"| first (cold: the panel's query cache empty) | {timings[0]:.2f} |",
            f"| next {len(warm)} (new sessions, queries cached), median | {statistics.median(warm):.2f} |",
            "",
        ],
    )


if __name__ == "__main__":
    main()
