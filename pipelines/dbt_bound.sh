#!/bin/sh
# dbt as the refresh runs it: the real dbt ($AIADMIN_DBT, set by pipelines/dbt_assets.py) bound to the
# process that starts it (PR_SET_PDEATHSIG through util-linux's setpriv), so that dbt is killed when that
# process dies (SIGKILL, the OOM killer, a crash). Unbound, dbt would go on writing the warehouse after the
# refresh that held the writer lock is gone, and the next refresh would collide with it. Where setpriv is
# missing (not Linux), plain dbt.
#
# dbt runs in the warehouse's directory and names the file relatively: the profile's rendered path is part
# of dbt's partial-parse state, so one relative name lets every warehouse reuse the state `make manifest`
# saved instead of parsing the whole project again (seconds of CPU per run; pipelines/dbt_assets.py).
if [ -n "$AIADMIN_WAREHOUSE_PATH" ] && [ "${AIADMIN_WAREHOUSE_PATH#/}" != "$AIADMIN_WAREHOUSE_PATH" ]; then
    DBT_PROJECT_DIR="${DBT_PROJECT_DIR:-$PWD}"
    export DBT_PROJECT_DIR
    cd "$(dirname "$AIADMIN_WAREHOUSE_PATH")" || exit 1
    AIADMIN_WAREHOUSE_PATH="$(basename "$AIADMIN_WAREHOUSE_PATH")"
    export AIADMIN_WAREHOUSE_PATH
fi
if command -v setpriv >/dev/null 2>&1; then
    exec setpriv --pdeathsig KILL -- "$AIADMIN_DBT" "$@"
fi
exec "$AIADMIN_DBT" "$@"
