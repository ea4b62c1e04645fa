"""aiadmin: migrate, create-admin, demo-data, pipeline run, serve."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from api.core.db import Database
from api.core.settings import get_settings


def _progress(label: str, stream=None, unit: str = "day"):
    """A progress bar: redrawn in place on a terminal, one line per tenth of the way otherwise (logs)."""
    stream = stream or sys.stdout
    started = time.monotonic()
    shown = [-1, 0]  # the tenth last printed (logs), the longest line drawn (terminal)

    def show(done: int, total: int, counts: dict[str, int] | None = None) -> None:
        width = 30
        filled = width * done // max(1, total)
        elapsed = time.monotonic() - started
        eta = f"  eta {elapsed / done * (total - done):.0f}s" if done else ""
        where, extra = f"{unit} {done}/{total}", ""
        if counts:  # demo data: the bar is the expected work; say which day it is and what was made
            if "day" in counts:
                where = f"day {counts['day']}/{counts['days']}"
            calls = counts.get("calls", 0)
            extra = f"  {counts.get('users', 0)} users  {calls} calls ({calls / max(elapsed, 1e-9):.0f}/s)"
        line = f"{label} [{'#' * filled}{'.' * (width - filled)}] {where}{extra}{eta}"
        if stream.isatty():  # padded: a shorter line must cover the longer one before it
            shown[1] = max(shown[1], len(line))
            print(f"\r{line.ljust(shown[1])}", end="\n" if done >= total else "", file=stream, flush=True)
        elif done >= total or 10 * done // max(1, total) > shown[0]:
            shown[0] = 10 * done // max(1, total)
            print(line, file=stream, flush=True)

    return show


def cmd_migrate(_args: argparse.Namespace) -> int:
    from api.core.migrate import upgrade

    settings = get_settings()
    upgrade(settings)
    print(f"database is at the latest schema ({settings.database_url.split('@')[-1]})")
    return 0


def _run_operator_action(action) -> int:
    """Run one service call in its own session; a domain refusal is printed as an error, exit 2."""
    from api.core.errors import AppError

    async def run() -> int:
        settings = get_settings()
        db = Database(settings)
        try:
            async with db.sessionmaker() as session:
                message = await action(session, settings, datetime.now(UTC))
        except AppError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        finally:
            await db.dispose()
        print(message)
        return 0

    return asyncio.run(run())


def cmd_create_admin(args: argparse.Namespace) -> int:
    from pydantic import TypeAdapter, ValidationError

    from api.auth.passwords import PasswordTooCommon, check_new_password
    from api.auth.schemas import Email, Password
    from api.users import service

    password = args.password or getpass.getpass("Password: ")
    try:
        email = TypeAdapter(Email).validate_python(args.email)
        TypeAdapter(Password).validate_python(password)
        check_new_password(password, email=email)
    except ValidationError as exc:
        print(f"error: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    except PasswordTooCommon as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2

    async def create(session, settings, at):
        account = await service.create_staff(
            session, settings, email=email, password=password, role=args.role, at=at
        )
        note = (
            " (it must set up two-factor authentication at its first sign-in)"
            if account.must_enrol_two_factor
            else ""
        )
        return f"{account.email} is {account.role}{note}"

    return _run_operator_action(create)


def cmd_set_role(args: argparse.Namespace) -> int:
    from api.users import service

    async def set_role(session, _settings, at):
        account = await service.set_role(session, email=args.email.strip().lower(), role=args.role, at=at)
        return f"{account.email} is {account.role}"

    return _run_operator_action(set_role)


def cmd_reset_2fa(args: argparse.Namespace) -> int:
    from api.users import service

    async def reset(session, _settings, at):
        account = await service.reset_two_factor(session, email=args.email.strip().lower(), at=at)
        return f"two-factor authentication removed from {account.email}"

    return _run_operator_action(reset)


async def _demo_data(users: int, days: int, if_empty: bool, seed: int) -> int:
    from aiadmin.demo import account_count, generate
    from api.core.errors import AppError

    settings = get_settings()
    db = Database(settings)
    try:
        if if_empty and await account_count(db) > 0:
            print("database already has accounts: demo data left as it is")
            return 0
        try:
            stats = await generate(
                db, settings, users_count=users, days=days, seed=seed, progress=_progress("demo data")
            )
        except AppError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        seconds = max(stats["seconds"], 1)
        print(
            f"demo data: {stats['users']} users over {days} days: {stats['logins']} logins, "
            f"{stats['chats']} chats with {stats['messages']} messages, {stats['calls']} calls "
            f"({stats['failed_calls']} failed, not charged; {stats['quota_refusals']} refused by a quota), "
            f"{stats['top_ups']} top-ups, {stats['plan_changes']} plan changes, {stats['blocks']} blocks; "
            f"{stats['events']} usage events in {stats['seconds']} s ({stats['calls'] / seconds:.0f} calls/s)"
        )
        return 0
    finally:
        await db.dispose()


def cmd_demo_data(args: argparse.Namespace) -> int:
    return asyncio.run(_demo_data(args.users, args.days, args.if_empty, args.seed))


def cmd_pipeline_run(_args: argparse.Namespace) -> int:
    from pipelines.instance import ensure_dagster_home
    from warehouse.settings import get_warehouse_settings

    ensure_dagster_home(get_warehouse_settings().data_dir)
    from pipelines.run import PipelineFailed, run_pipeline

    try:
        result = run_pipeline()
    except PipelineFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"pipeline run {result.run_id} succeeded; serving copy at {get_warehouse_settings().serving_path}")
    return 0


def cmd_pipeline_watch(_args: argparse.Namespace) -> int:
    from pipelines.watch import main

    return main()


def cmd_export_marts(args: argparse.Namespace) -> int:
    from warehouse.exports import export_marts
    from warehouse.queries import ServingNotReady, connect_serving
    from warehouse.settings import get_warehouse_settings

    serving = get_warehouse_settings().serving_path
    try:
        connect_serving(serving).close()
    except ServingNotReady as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path, rows in export_marts(serving, Path(args.directory)):
        print(f"{path}  {rows} rows")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiadmin import serve
    from aiadmin.demo import DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, DEMO_USER_EMAIL, DEMO_USER_PASSWORD

    # `make run`: make's death or a stop signal to make alone stops us, and so everything.
    parent = serve.stop_with_parent() if args.stop_with_parent else None
    settings = get_settings()
    specs = serve.services(args.host, args.api_port, args.dagster_port, args.panel_port, args.portal_port)
    env = {
        **os.environ,
        "AIADMIN_DATA_DIR": str(settings.data_dir),
        "AIADMIN_DATABASE_URL": settings.database_url,
    }
    env.setdefault("AIADMIN_API_URL", f"http://{args.host}:{args.api_port}")
    if settings.app_url == settings.public_url:  # no end-user app configured: the mail links lead to ours
        env["AIADMIN_APP_URL"] = f"http://{args.host}:{args.portal_port}"
    lines = ["", "aiadmin is starting:"]
    lines += [f"  {s.name:<18} {s.url}" for s in specs if s.url]
    lines += [
        "",
        "Demo logins (local demo data only):",
        f"  panel (admin)      {DEMO_ADMIN_EMAIL} / {DEMO_ADMIN_PASSWORD}",
        f"  API (end user)     {DEMO_USER_EMAIL.format(n=1)} / {DEMO_USER_PASSWORD}",
        "",
        "Press Ctrl-C to stop all services.",
    ]
    return serve.run(
        settings.data_dir,
        specs,
        env,
        "\n".join(lines),
        prepare=serve.prepare_steps() if args.prepare else [],
        setup=lambda: env.update(DAGSTER_HOME=str(_dagster_instance(settings.data_dir))),
        grace=args.grace,
        parent=parent,
    )


def _dagster_instance(data_dir: Path) -> Path:
    """Make the Dagster instance's storage once, before the webserver and the daemon start together (both
    would make it at the same moment and one could fail: "table alembic_version already exists"); its home."""
    from dagster import DagsterInstance

    from pipelines.instance import ensure_dagster_home

    home = ensure_dagster_home(data_dir)
    with DagsterInstance.get():
        pass
    return home


def cmd_notify(args: argparse.Namespace) -> int:
    from aiadmin import operations
    from api.auth.permissions import Permission
    from api.notifications import service as notifications

    texts = {"en": {"subject": args.subject, "body": args.body}}
    if args.subject_ru or args.body_ru:
        texts["ru"] = {"subject": args.subject_ru or args.subject, "body": args.body_ru or args.body}

    async def notify(session, settings, at):
        segment = operations.parse_segment(args.segment)
        actor = await operations.acting_staff(session, args.actor, Permission.NOTIFICATIONS_SEND)
        _, context = operations.cli_contexts()
        sent = await notifications.broadcast(
            session, settings, actor, segment=segment, channels=list(dict.fromkeys(args.channel)),
            templates=texts, at=at, context=context,
        )  # fmt: skip
        mail = " (emails go out through the API's mail job)" if "email" in sent.channels else ""
        return f"broadcast {sent.id}: {sent.recipients} users, by {', '.join(sent.channels)}{mail}"

    return _run_operator_action(notify)


def cmd_set_plan(args: argparse.Namespace) -> int:
    from aiadmin import operations
    from api.auth.permissions import Permission

    async def set_plan(session, _settings, at):
        segment = operations.parse_segment(args.segment)
        actor = await operations.acting_staff(session, args.actor, Permission.USERS_WRITE)
        moved, already = await operations.change_plan_for_segment(
            session, actor, segment, plan=args.plan, reason=args.reason, at=at,
            progress=_progress("plan change", unit="users"),
        )  # fmt: skip
        return f"{moved} users moved to {args.plan!r}; {already} were on it already"

    return _run_operator_action(set_plan)


def cmd_export(args: argparse.Namespace) -> int:
    from aiadmin import operations
    from api.core import exports

    listed = operations.LISTS[args.list]
    output = Path(args.output or f"{args.list}.{args.format}")

    async def export(session, _settings, _at):
        await operations.acting_staff(session, args.actor, listed.permission)
        count = await exports.write_file(
            session, listed.query(), list(listed.header), output, args.format, listed.row
        )
        return f"{count} rows of {args.list} written to {output}"

    return _run_operator_action(export)


def build_parser() -> argparse.ArgumentParser:
    from aiadmin.operations import LISTS
    from aiadmin.serve import GRACE

    parser = argparse.ArgumentParser(prog="aiadmin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=cmd_migrate)

    admin = sub.add_parser("create-admin", help="create a staff account (email counts as confirmed)")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="asked for when left out (keeps it out of the shell history)")
    admin.add_argument("--role", default="admin", choices=["admin", "moderator", "analyst", "viewer"])
    admin.set_defaults(func=cmd_create_admin)

    role = sub.add_parser("set-role", help="change an account's role (effective at its next request)")
    role.add_argument("email")
    role.add_argument("role", choices=["admin", "moderator", "analyst", "viewer", "user"])
    role.set_defaults(func=cmd_set_role)

    reset = sub.add_parser("reset-2fa", help="remove an account's second factor (it can enrol again)")
    reset.add_argument("email")
    reset.set_defaults(func=cmd_reset_2fa)

    demo = sub.add_parser("demo-data", help="generate demo users and activity through the domain code")
    demo.add_argument("--users", type=int, default=200, help="users registering over the period")
    demo.add_argument("--days", type=int, default=60, help="days of history, up to now")
    demo.add_argument("--seed", type=int, default=7, help="the same seed makes the same data")
    demo.add_argument("--if-empty", action="store_true", help="do nothing when the database has accounts")
    demo.set_defaults(func=cmd_demo_data)

    pipeline = sub.add_parser("pipeline", help="the data pipeline")
    pipeline_sub = pipeline.add_subparsers(dest="pipeline_command", required=True)
    pipeline_sub.add_parser("run", help="materialise every asset once, in-process, and publish").set_defaults(
        func=cmd_pipeline_run
    )
    pipeline_sub.add_parser(
        "watch", help="publish new events to the serving copy within seconds (the fresh lane), until Ctrl-C"
    ).set_defaults(func=cmd_pipeline_watch)

    export = sub.add_parser("export-marts", help="write every mart of the serving copy as Parquet files")
    export.add_argument("directory", help="where to write <mart>.parquet (created if missing)")
    export.set_defaults(func=cmd_export_marts)

    notify = sub.add_parser("notify", help="send a notification to a segment of users (audited)")
    notify.add_argument("--actor", required=True, help="the staff account acting (needs notifications:send)")
    notify.add_argument("--segment", default="all", help="all, plan:CODE, country:CC or inactive:DAYS")
    notify.add_argument("--channel", action="append", choices=["email", "in_app"], required=True)
    notify.add_argument("--subject", required=True, help="English; {email}, {plan}, {app_url} are filled in")
    notify.add_argument("--body", required=True)
    notify.add_argument("--subject-ru", help="Russian (users with locale ru); else they get the English")
    notify.add_argument("--body-ru")
    notify.set_defaults(func=cmd_notify)

    set_plan = sub.add_parser("set-plan", help="move every user of a segment to a plan (each change audited)")
    set_plan.add_argument("--actor", required=True, help="the staff account acting (needs users:write)")
    set_plan.add_argument("--segment", required=True, help="all, plan:CODE, country:CC or inactive:DAYS")
    set_plan.add_argument("--plan", required=True)
    set_plan.add_argument("--reason", required=True, help="kept in the audit log")
    set_plan.set_defaults(func=cmd_set_plan)

    export_list = sub.add_parser("export", help="write an admin list as CSV or XLSX (a page at a time)")
    export_list.add_argument("list", choices=sorted(LISTS))
    export_list.add_argument("--actor", required=True, help="the staff account reading (its permission)")
    export_list.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    export_list.add_argument("--output", "-o", help="the file (default: <list>.<format>)")
    export_list.set_defaults(func=cmd_export)

    serve = sub.add_parser(
        "serve", help="run the API, Dagster, the panel and the portal until stopped (one per data directory)"
    )
    serve.add_argument(
        "--prepare", action="store_true", help="first migrate, add demo data if empty and run the pipeline"
    )
    serve.add_argument("--grace", type=float, default=GRACE, help="seconds from SIGTERM to SIGKILL on a stop")
    serve.add_argument("--stop-with-parent", action="store_true", help="stop when the parent (make) dies")
    serve.add_argument("--host", default=os.environ.get("AIADMIN_HOST", "127.0.0.1"))
    serve.add_argument("--api-port", type=int, default=8000)
    serve.add_argument("--dagster-port", type=int, default=3000)
    serve.add_argument("--panel-port", type=int, default=8501)
    serve.add_argument("--portal-port", type=int, default=8600)
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
