#!/bin/sh
# dbt as the refresh runs it: the real dbt ($AIADMIN_DBT, set by pipelines/dbt_assets.py) bound to the
# process that starts it (PR_SET_PDEATHSIG through util-linux's setpriv), so that dbt is killed when that
# process dies (SIGKILL, the OOM killer, a crash). Unbound, dbt would go on writing the warehouse after the
# refresh that held the writer lock is gone, and the next refresh would collide with it. Where setpriv is
# missing (not Linux), plain dbt.
if command -v setpriv >/dev/null 2>&1; then
    exec setpriv --pdeathsig KILL -- "$AIADMIN_DBT" "$@"
fi
exec "$AIADMIN_DBT" "$@"
