#!/usr/bin/env bash
# Record real `sacct --parsable2` output from a throw-away one-node Slurm 22.05 cluster.
#
#   sudo bash scripts/slurm/record-sacct-fixtures.sh          # as root, Debian 12
#
# Installs slurm-wlm/slurmdbd/munge/mariadb-server with apt-get if missing, starts munge (or
# reuses a running one), reuses a running MariaDB (or starts one and stops it again), creates
# its own accounting database, writes slurm.conf/slurmdbd.conf/gres.conf into a temp folder,
# starts slurmdbd, slurmctld and slurmd, submits a fixed mix of jobs, waits for them, and
# writes tests/fixtures/sacct/{all_steps.txt,allocations.txt,VERSION}. Every daemon it
# started is stopped again (reverse order, by PID), also on failure.
#
# Environment:
#   OCB_SKIP_TIMEOUT=1   leave out the TIMEOUT job (saves about a minute)
#   OCB_KEEP_WORKDIR=1   keep the temp folder (configs, logs) and the database for debugging
#   OCB_FIXTURE_DIR=...  where to write the fixtures (default tests/fixtures/sacct in the repo)
set -euo pipefail

export TZ=UTC LC_ALL=C
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
FIXTURE_DIR="${OCB_FIXTURE_DIR:-$REPO_DIR/tests/fixtures/sacct}"

CLUSTER=ocbtest
DB_NAME=ocb_slurm_acct_db
DB_USER=ocb_slurm
DB_PASS=ocb-fixture-only
HOST="$(hostname -s)"
SACCT_FORMAT="JobID,JobIDRaw,JobName,Account,User,Partition,QOS,State,ExitCode,Start,End,Elapsed,ElapsedRaw,AllocCPUS,ReqMem,AllocTRES,ReqTRES,TRESUsageInTot,NodeList"

T0=$SECONDS
log() { printf '[record-sacct %3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts daemons)"

# --------------------------------------------------------------------------- packages
need_install=()
command -v slurmctld >/dev/null 2>&1 || need_install+=(slurm-wlm)
command -v slurmdbd  >/dev/null 2>&1 || need_install+=(slurmdbd)
command -v munged    >/dev/null 2>&1 || need_install+=(munge)
command -v mariadbd  >/dev/null 2>&1 || need_install+=(mariadb-server)
if [ "${#need_install[@]}" -gt 0 ]; then
    log "installing ${need_install[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_install[@]}" >/dev/null
fi
command -v sacct >/dev/null || die "sacct not found after install"

# --------------------------------------------------------------------------- bookkeeping
WORKDIR="$(mktemp -d /tmp/ocb-slurm.XXXXXX)"
STARTED_PIDS=()   # in start order
STARTED_NAMES=()

stop_pid() {  # name pid
    local name=$1 pid=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { log "stopped $name (pid $pid)"; return 0; }
        sleep 0.2
    done
    log "$name (pid $pid) ignored SIGTERM for 20 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

DB_CREATED=0
drop_db() {  # our own database and user only; kept for inspection on failure or when asked
    [ "$DB_CREATED" = 1 ] || return 0
    DB_CREATED=0
    if [ "$1" -ne 0 ] || [ "${OCB_KEEP_WORKDIR:-0}" = 1 ]; then
        log "database $DB_NAME kept (drop it with: mysql -u root -e 'DROP DATABASE $DB_NAME')"
        return 0
    fi
    mysql -u root -e "DROP DATABASE IF EXISTS \`$DB_NAME\`; DROP USER IF EXISTS '$DB_USER'@'localhost'; DROP USER IF EXISTS '$DB_USER'@'127.0.0.1';" \
        && log "dropped database $DB_NAME and user $DB_USER"
}

cleanup() {
    local rc=$? i
    set +e
    if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && command -v scancel >/dev/null; then
        # Jobs of our throw-away slurmctld, if it is still up.
        timeout 10 squeue -h -o %A 2>/dev/null | xargs -r timeout 10 scancel 2>/dev/null
    fi
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
        [ "${STARTED_NAMES[$i]}" = mariadbd ] && drop_db "$rc"   # before our own MariaDB goes
        stop_pid "${STARTED_NAMES[$i]}" "${STARTED_PIDS[$i]}"
    done
    drop_db "$rc"
    if [ "$rc" -ne 0 ]; then
        log "failed (exit $rc); last log lines:"
        tail -n 15 "$WORKDIR"/log/*.log >&2 2>/dev/null
        log "configs and logs kept in $WORKDIR"
    elif [ "${OCB_KEEP_WORKDIR:-0}" = 1 ]; then
        log "configs and logs kept in $WORKDIR"
    else
        rm -rf "$WORKDIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_bg() {  # name cmd... ; runs in the background, remembers the PID
    local name=$1; shift
    "$@" >>"$WORKDIR/log/$name.stdout" 2>&1 &
    local pid=$!
    STARTED_PIDS+=("$pid"); STARTED_NAMES+=("$name")
    log "started $name (pid $pid)"
}

wait_for() {  # description seconds cmd...
    local what=$1 secs=$2 i; shift 2
    for ((i = 0; i < secs * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "timed out after ${secs}s waiting for $what"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 6817 6818 6819; do
    ! port_open "$port" || die "port $port is in use: is another Slurm running? stop it first"
done

mkdir -p "$WORKDIR"/{state,spool,run,log,out,etc}
chmod 755 "$WORKDIR"
chmod 1777 "$WORKDIR/out"
chown slurm:slurm "$WORKDIR"/{state,run,log}

# --------------------------------------------------------------------------- munge
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munge already running: reusing it"
else
    [ -f /etc/munge/munge.key ] || die "/etc/munge/munge.key missing (reinstall munge)"
    mkdir -p /run/munge && chown munge:munge /run/munge
    # setpriv execs munged in place, so the PID we keep is munged itself (runuser would wrap it).
    start_bg munged setpriv --reuid=munge --regid=munge --init-groups munged -F
    wait_for "munge" 20 bash -c 'munge -n | unmunge'
fi

# --------------------------------------------------------------------------- MariaDB
if mysqladmin ping >/dev/null 2>&1; then
    log "MariaDB already running: reusing it"
else
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    start_bg mariadbd mariadbd --user=mysql --innodb-buffer-pool-size=256M --innodb-lock-wait-timeout=900
    wait_for "MariaDB" 60 mysqladmin ping
fi

# A database of our own, dropped and recreated on every run, so job ids start at 1 and the
# fixtures come out the same each time.
log "creating database $DB_NAME and user $DB_USER"
mysql -u root <<SQL
DROP DATABASE IF EXISTS \`$DB_NAME\`;
CREATE DATABASE \`$DB_NAME\`;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
GRANT ALL ON \`$DB_NAME\`.* TO '$DB_USER'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
DB_CREATED=1

# --------------------------------------------------------------------------- configs
render() {  # template -> output
    sed -e "s|@WORKDIR@|$WORKDIR|g" -e "s|@HOST@|$HOST|g" -e "s|@CLUSTER@|$CLUSTER|g" \
        -e "s|@DB_NAME@|$DB_NAME|g" -e "s|@DB_USER@|$DB_USER|g" -e "s|@DB_PASS@|$DB_PASS|g" \
        "$1" >"$2"
}
render "$SCRIPT_DIR/slurm.conf.in"    "$WORKDIR/etc/slurm.conf"
render "$SCRIPT_DIR/gres.conf.in"     "$WORKDIR/etc/gres.conf"
render "$SCRIPT_DIR/slurmdbd.conf.in" "$WORKDIR/etc/slurmdbd.conf"
chmod 755 "$WORKDIR/etc"
chmod 644 "$WORKDIR/etc/slurm.conf" "$WORKDIR/etc/gres.conf"
chown slurm:slurm "$WORKDIR/etc/slurmdbd.conf"
chmod 600 "$WORKDIR/etc/slurmdbd.conf"
# Every daemon and client needs this, or the clients look for DNS SRV records and give up.
export SLURM_CONF="$WORKDIR/etc/slurm.conf"

# --------------------------------------------------------------------------- slurmdbd
start_bg slurmdbd slurmdbd -D
wait_for "slurmdbd on port 6819" 60 port_open 6819
wait_for "sacctmgr to reach slurmdbd" 30 sacctmgr -n show cluster

# --------------------------------------------------------------------------- associations
# Local users for a realistic User column (created once, left in place).
for u in alice bob; do
    id "$u" >/dev/null 2>&1 || { useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$u"; log "created local user $u"; }
done

log "adding cluster, QOS, accounts and users"
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add qos high Priority=100 >/dev/null
sacctmgr -i add account genomics,climate,physics Cluster="$CLUSTER" Organization=university \
    Description="OpenChargeback fixture account" >/dev/null
sacctmgr -i modify account genomics,climate,physics set QOS=normal,high DefaultQOS=normal >/dev/null
sacctmgr -i add user root  Account=genomics,climate,physics DefaultAccount=genomics >/dev/null
sacctmgr -i add user alice Account=genomics,climate DefaultAccount=genomics >/dev/null
sacctmgr -i add user bob   Account=climate,physics  DefaultAccount=climate >/dev/null

# --------------------------------------------------------------------------- slurmctld, slurmd
start_bg slurmctld slurmctld -D
wait_for "slurmctld (scontrol ping UP)" 60 bash -c 'scontrol ping | grep -q UP'
start_bg slurmd slurmd -D
wait_for "node idle" 60 bash -c 'sinfo -h -N -o %t | grep -qx idle'
log "cluster up: $(sinfo -h -o '%P %a %D %t %G' | tr '\n' ';')"

# --------------------------------------------------------------------------- jobs
# Recording window starts here: a fixed timestamp, not a date (a run crossing midnight UTC
# would otherwise lose jobs).
sleep 1
START="$(date +%Y-%m-%dT%H:%M:%S)"
OUT="$WORKDIR/out/%x-%j.out"
sub() {  # user sbatch-args... ; prints the job id
    local user=$1; shift
    if [ "$user" = root ]; then
        sbatch --parsable --chdir=/tmp --output="$OUT" "$@"
    else
        runuser -u "$user" -- env SLURM_CONF="$SLURM_CONF" sbatch --parsable --chdir=/tmp --output="$OUT" "$@"
    fi
}
BURN='end=$((SECONDS+3)); while [ $SECONDS -lt $end ]; do :; done'
declare -A JOB

log "submitting jobs (recording from $START)"
# 1: small CPU job, default memory (DefMemPerCPU=500), user alice.
JOB[small]=$(sub alice -J align-reads -A genomics -p cpu -n1 -c1 --wrap "sleep 4")
# 2: 4 CPUs, 2G, two srun steps (one burns CPU so TRESUsageInTot has cpu time), user bob.
JOB[steps]=$(sub bob -J climate-model -A climate -p cpu -n2 -c2 --mem=2G \
    --wrap "srun -n2 -c2 bash -c '$BURN'; srun -n1 -c1 sleep 2")
# 3: GPU partition, a100, --mem-per-cpu.
JOB[a100]=$(sub root -J train-a100 -A physics -p gpu -c2 --mem-per-cpu=1000M --gres=gpu:a100:1 \
    --wrap "srun bash -c '$BURN'")
# 4: GPU partition, v100, QOS high.
JOB[v100]=$(sub alice -J infer-v100 -A climate -p gpu -c1 --mem=1G --gres=gpu:v100:1 --qos=high \
    --wrap "sleep 3")
# 5: array of 3 tasks.
JOB[array]=$(sub bob -J param-sweep -A physics -p cpu -c1 --mem=800M --array=1-3 \
    --wrap 'sleep $((2 + SLURM_ARRAY_TASK_ID))')
# 6: fails with exit 1.
JOB[failed]=$(sub root -J broken-script -A climate -p cpu -c1 --wrap "sleep 1; echo boom >&2; exit 1")
# 7: held, then cancelled: never eligible, so sacct -S/-E leaves it out (see README).
JOB[cancel_held]=$(sub root -J held-never-ran -A genomics -p cpu -c1 --hold --wrap "sleep 60")
# 8: cancelled while running.
JOB[cancel_running]=$(sub alice -J long-run -A genomics -p cpu -c2 --mem=1000M --wrap "sleep 300")
# 9: hits its 1-minute time limit.
if [ "${OCB_SKIP_TIMEOUT:-0}" != 1 ]; then
    JOB[timeout]=$(sub bob -J too-slow -A physics -p cpu -c1 --time=1 --wrap "sleep 600")
fi
for k in "${!JOB[@]}"; do log "  job $k = ${JOB[$k]}"; done

sleep 2
scancel "${JOB[cancel_held]}"
log "cancelled held job ${JOB[cancel_held]}"

wait_for "job ${JOB[cancel_running]} running" 60 bash -c "[ \"\$(squeue -h -j ${JOB[cancel_running]} -o %T)\" = RUNNING ]"
# Cancelled while pending: it wants all 8 cores while job cancel_running holds 2, so it stays
# PENDING (Resources/Priority) but is eligible, and so is recorded.
JOB[cancel_pending]=$(sub bob -J whole-node -A climate -p cpu -c8 --mem=4G --wrap "sleep 60")
log "  job cancel_pending = ${JOB[cancel_pending]}"
sleep 3
state="$(squeue -h -j "${JOB[cancel_pending]}" -o '%T %r')"
[ "${state%% *}" = PENDING ] || die "job ${JOB[cancel_pending]} should be pending, is: $state"
scancel "${JOB[cancel_pending]}"
log "cancelled pending job ${JOB[cancel_pending]} (was: $state)"
sleep 5   # let cancel_running run (and be sampled) a while longer
scancel "${JOB[cancel_running]}"
log "cancelled running job ${JOB[cancel_running]}"

# Wait until the controller has no job left, then until slurmdbd has every job in a final state.
wait_for "queue to drain" 240 bash -c '[ -z "$(squeue -h -o %A)" ]'
log "queue empty"
sacct_all() { sacct --parsable2 -a -S "$START" -E now --format="$SACCT_FORMAT" "$@"; }
db_settled() {
    local out
    out="$(sacct -n --parsable2 -a -X -S "$START" -E now --format=JobID,State)" || return 1
    # 8 jobs (the held one is not listed) + 2 extra array tasks (+1 timeout job), all final
    local want=$((10 + (${OCB_SKIP_TIMEOUT:-0} == 1 ? 0 : 1)))
    [ "$(printf '%s\n' "$out" | grep -c .)" -eq "$want" ] || return 1
    ! printf '%s\n' "$out" | grep -Eq '\|(PENDING|RUNNING|REQUEUED|SUSPENDED|COMPLETING)'
}
for i in $(seq 1 60); do db_settled && break; sleep 1; done
if ! db_settled; then
    sacct --parsable2 -a -X -S "$START" -E now --format=JobID,State >&2
    die "slurmdbd never showed all jobs finished"
fi
log "held job ${JOB[cancel_held]} without a time window: $(sacct -n -X --parsable2 -j "${JOB[cancel_held]}" --format=JobID,State,Start,End,Elapsed | tr '\n' ' ')"

# --------------------------------------------------------------------------- record
mkdir -p "$FIXTURE_DIR"
sacct_all    >"$FIXTURE_DIR/all_steps.txt"
sacct_all -X >"$FIXTURE_DIR/allocations.txt"
sacct --version >"$FIXTURE_DIR/VERSION"
log "wrote $FIXTURE_DIR/{all_steps.txt,allocations.txt,VERSION}: $(($(wc -l <"$FIXTURE_DIR/all_steps.txt") - 1)) rows, $(($(wc -l <"$FIXTURE_DIR/allocations.txt") - 1)) allocations"
cut -d'|' -f1,4,6,8,9 "$FIXTURE_DIR/allocations.txt" | column -t -s'|' >&2
log "done in $((SECONDS - T0)) s"
