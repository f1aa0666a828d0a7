#!/bin/sh
# Single-node Grid Engine 8.1.9 (Debian gridengine-master/-exec/-client) for integration
# tests and benches.
#
#   scripts/services/sge.sh start|stop|status
#
# Idempotent. Runs as root. Uses Debian's cell (SGE_ROOT=/var/lib/gridengine,
# SGE_CELL=default) so that the /usr/bin/q* wrappers work for every user without any
# environment, as on a real cluster. Follows the field notes: act_qmaster + host_aliases,
# sge_qmaster and sge_execd started by hand, exec host, @allhosts, all.q with
# load_thresholds NONE, schedule_interval 0:0:1; plus a consumable `gpu` complex with the
# host offering gpu=2 (ids 0 and 1), and a parallel environment `cbpe` in all.q's pe_list
# (slots 999, $fill_up, control_slaves TRUE, job_is_first_task FALSE: what sites set up for
# MPI-style jobs) for distributed cells (`-pe cbpe N`; the queue's slots, nproc, are the
# real limit). Facts go to .cache/services/sge.env.
#
# GPU ids: Son of Grid Engine 8.1.9 has no RSMAP complex type (qconf -Mc says: unknown complex
# attribute type "RSMAP"), so it cannot say which GPUs a job got. Univa/Altair GE's RSMAP does,
# in SGE_HGR_gpu; sites on SoGE do the same in a starter method. This cell's queue has such a
# starter (cb-gpu-starter below): it takes as many ids as the job's `-l gpu=N` from the free ones
# (a lock directory per id, freed when the job's process is gone) and exports SGE_HGR_gpu the way
# RSMAP does, so the job script's mapping to CUDA_VISIBLE_DEVICES is tested as on a real site.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR="$ROOT/.cache/services/sge"
ENV_FILE="$ROOT/.cache/services/sge.env"
export SGE_ROOT=/var/lib/gridengine
export SGE_CELL=default
COMMON="$SGE_ROOT/$SGE_CELL/common"
SPOOL=/var/spool/gridengine
HOST=$(hostname -s)
TEST_USER=${CB_TEST_USER:-cbtest}
ADMIN=sgeadmin
QMASTER_PID="$SPOOL/qmaster/qmaster.pid"
GPU_IDS="0 1"
PE=cbpe
STARTER="$SGE_ROOT/$SGE_CELL/common/cb-gpu-starter"
# The execd spool dir is named as the host resolves (often "localhost" here), not as aliased.
execd_pid() { for p in "$SPOOL"/execd/*/execd.pid; do [ -f "$p" ] && echo "$p" && return; done; echo "$SPOOL/execd/$HOST/execd.pid"; }

log() { echo "sge.sh: $*" >&2; }

# shellcheck source=lib/process.sh
. "$ROOT/scripts/services/lib/process.sh"

wait_for() {
  # wait_for TRIES COMMAND...: retries every 0.1 s.
  n=$1
  shift
  i=0
  until "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt "$n" ] || return 1
    sleep 0.1
  done
}

init_cell() {
  # Grid Engine resolves its own host name; some CI containers cannot.
  if ! getent hosts "$HOST" >/dev/null 2>&1; then
    echo "127.0.0.1 $HOST" >>/etc/hosts
  fi
  mkdir -p "$SPOOL/qmaster/job_scripts" "$SPOOL/spooldb" "$SPOOL/execd" "$COMMON"
  chown -R "$ADMIN:$ADMIN" "$SPOOL" "$SGE_ROOT/$SGE_CELL"
  if [ ! -e "$SPOOL/spooldb/sge" ]; then
    # What the gridengine-master postinst does when debconf did not (noninteractive).
    [ -f "$COMMON/bootstrap" ] || install -o "$ADMIN" -g "$ADMIN" -m 0644 \
      /usr/share/gridengine/default-bootstrap "$COMMON/bootstrap"
    su -s /bin/sh -c "/usr/share/gridengine/scripts/init_cluster $SGE_ROOT $SGE_CELL $SPOOL/spooldb $ADMIN" "$ADMIN" >&2
  fi
  echo "$HOST" >"$COMMON/act_qmaster"
  echo "$HOST localhost" >"$COMMON/host_aliases"
  chown "$ADMIN:$ADMIN" "$COMMON/act_qmaster" "$COMMON/host_aliases"
}

# qconf_apply OBJ NAME FILE: add (-A) or modify (-M) a configuration object from FILE.
qconf_apply() {
  obj=$1
  name=$2
  file=$3
  case "$obj" in
    e) list=$(qconf -sel 2>/dev/null || true) ;;
    hgrp) list=$(qconf -shgrpl 2>/dev/null || true) ;;
    q) list=$(qconf -sql 2>/dev/null || true) ;;
    p) list=$(qconf -spl 2>/dev/null || true) ;;
  esac
  if echo "$list" | grep -qx "$name"; then
    qconf -M"$obj" "$file" >/dev/null
  else
    qconf -A"$obj" "$file" >/dev/null
  fi
}

# The queue's starter method: RSMAP-style GPU ids in SGE_HGR_gpu (see the top of this file).
write_starter() {
  cat >"$STARTER" <<EOF
#!/bin/sh
# cluster-bridge test Grid Engine: assigns GPU ids ($GPU_IDS) as an RSMAP complex would.
n=\$(qstat -j "\$JOB_ID" 2>/dev/null | sed -n 's/^hard resource_list:.*gpu=\([0-9][0-9]*\).*/\1/p' | head -n 1)
if [ -n "\$n" ] && [ "\$n" -gt 0 ]; then
  pool=/tmp/cb-sge-gpus
  mkdir -p "\$pool" 2>/dev/null && chmod 1777 "\$pool" 2>/dev/null
  ids=
  got=0
  # One claimer at a time: two jobs starting together both took a stale claim's GPU.
  exec 9>>"\$pool/.claims"
  flock 9
  for id in $GPU_IDS; do
    [ "\$got" -lt "\$n" ] || break
    lock="\$pool/\$id"
    if ! mkdir "\$lock" 2>/dev/null; then
      owner=\$(cat "\$lock/job" 2>/dev/null)
      # Taken by a job Grid Engine still knows. Not a pid: a dead job's pid is soon some
      # other process, and the GPU stayed taken for good.
      if [ -n "\$owner" ] && qstat -j "\$owner" >/dev/null 2>&1; then continue; fi
      rm -rf "\$lock"
      mkdir "\$lock" 2>/dev/null || continue
    fi
    echo "\$JOB_ID" >"\$lock/job"
    ids="\$ids \$id"
    got=\$((got + 1))
  done
  flock -u 9
  exec 9>&-
  export SGE_HGR_gpu="\${ids# }"
fi
if [ -n "\${SGE_STARTER_SHELL_PATH:-}" ]; then exec "\$SGE_STARTER_SHELL_PATH" "\$@"; fi
exec "\$@"
EOF
  chmod 0755 "$STARTER"
}

configure() {
  mkdir -p "$DIR"
  qconf -ah "$HOST" >/dev/null 2>&1 || true
  qconf -as "$HOST" >/dev/null 2>&1 || true

  # Consumable gpu complex (qconf -mc style: the whole table with one more line).
  if ! qconf -sc | grep -q '^gpu '; then
    qconf -sc | grep -v '^#' >"$DIR/complex"
    echo 'gpu gpu INT <= YES YES 0 0' >>"$DIR/complex"
    qconf -Mc "$DIR/complex" >/dev/null
  fi

  # Global config: accounting flushed every second (qacct sees ended jobs quickly),
  # fast load reports, no minimum uid surprises.
  # Join "\"-continued lines first, so a value is replaced as a whole; drop stray
  # continuation fragments an older edit may have left as bogus attributes.
  qconf -sconf global | sed -e ':a' -e '/\\$/{N;s/\\\n[[:space:]]*/ /;ba' -e '}' |
    grep -v '^flush_time=' >"$DIR/global"
  sed -i \
    -e 's/^reporting_params .*/reporting_params             accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00/' \
    -e 's/^load_report_time .*/load_report_time             00:00:05/' \
    -e 's/^finished_jobs .*/finished_jobs                100/' \
    "$DIR/global"
  qconf -Mconf "$DIR/global" >/dev/null 2>&1 || true

  # Scheduler: every second, and re-run on submit/finish.
  qconf -ssconf >"$DIR/sconf"
  sed -i \
    -e 's/^schedule_interval .*/schedule_interval                 0:0:1/' \
    -e 's/^flush_submit_sec .*/flush_submit_sec                  1/' \
    -e 's/^flush_finish_sec .*/flush_finish_sec                  1/' \
    -e 's/^job_load_adjustments .*/job_load_adjustments              NONE/' \
    -e 's/^load_adjustment_decay_time .*/load_adjustment_decay_time        0:0:0/' \
    -e 's/^schedd_job_info .*/schedd_job_info                   true/' \
    "$DIR/sconf"
  qconf -Msconf "$DIR/sconf" >/dev/null

  cat >"$DIR/exechost" <<EOF
hostname              $HOST
load_scaling          NONE
complex_values        gpu=2
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
EOF
  qconf_apply e "$HOST" "$DIR/exechost"

  cat >"$DIR/hgrp" <<EOF
group_name @allhosts
hostlist $HOST
EOF
  qconf_apply hgrp @allhosts "$DIR/hgrp"

  # The parallel environment of distributed cells; the queue below lists it.
  cat >"$DIR/pe" <<EOF
pe_name            $PE
slots              999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$fill_up
control_slaves     TRUE
job_is_first_task  FALSE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
EOF
  qconf_apply p "$PE" "$DIR/pe"

  slots=$(nproc)
  cat >"$DIR/queue" <<EOF
qname                 all.q
hostlist              @allhosts
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               $PE
rerun                 FALSE
slots                 $slots
tmpdir                /tmp
shell                 /bin/sh
prolog                NONE
epilog                NONE
shell_start_mode      unix_behavior
starter_method        $STARTER
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
EOF
  qconf_apply q all.q "$DIR/queue"
  # A queue instance left in error state by an earlier run would block every job.
  qmod -c "all.q@$HOST" >/dev/null 2>&1 || true
  qmod -e "all.q@$HOST" >/dev/null 2>&1 || true
}

queue_ready() {
  # The queue instance reports a load (not "-NA-") and is in no alarm/error/disabled state.
  line=$(qstat -f -q "all.q@$HOST" 2>/dev/null | grep "^all.q@") || return 1
  load=$(echo "$line" | awk '{print $4}')
  state=$(echo "$line" | awk '{print $6}')
  [ "$load" != "-NA-" ] && [ -z "$state" ]
}

write_env() {
  cat >"$ENV_FILE" <<EOF
SGE_ROOT=$SGE_ROOT
SGE_CELL=$SGE_CELL
SGE_HOST=$HOST
SGE_QUEUE=all.q
SGE_PE=$PE
SGE_SLOTS=$(nproc)
SGE_GPUS=2
SGE_GPU_IDS=$(echo "$GPU_IDS" | tr " " ,)
SGE_ACCOUNTING=$COMMON/accounting
SGE_TEST_USER=$TEST_USER
EOF
}

stop() {
  # SIGTERM is the daemons' own clean shutdown (what qconf -ke/-km ask for), without
  # qconf's round trips and timeouts.
  for p in "$(execd_pid)" "$QMASTER_PID"; do
    if [ -f "$p" ]; then
      stop_pid "$(cat "$p")"
      rm -f "$p"
    fi
  done
}

start() {
  for cmd in sge_qmaster sge_execd qconf qsub; do
    command -v "$cmd" >/dev/null 2>&1 || {
      log "$cmd not found: apt-get install gridengine-master gridengine-exec gridengine-client"
      exit 1
    }
  done
  ensure_user
  init_cell
  write_starter
  if ! alive "$QMASTER_PID"; then
    (cd / && sge_qmaster)
    wait_for 100 qconf -sh || {
      log "sge_qmaster did not answer; see $SPOOL/qmaster/messages"
      tail -n 20 "$SPOOL/qmaster/messages" >&2 || true
      exit 1
    }
  fi
  # Reconfigure unless this very qmaster was configured by this script version already.
  stamp="$(cat "$QMASTER_PID") $(cksum <"$0")"
  if [ "$(cat "$DIR/configured" 2>/dev/null)" != "$stamp" ]; then
    configure 2>&1 | grep -v -E '^(root@|changed )' >&2 || true
    echo "$stamp" >"$DIR/configured"
  fi
  if ! alive "$(execd_pid)"; then
    (cd / && sge_execd)
  fi
  wait_for 300 queue_ready || {
    log "queue all.q@$HOST not ready: $(qstat -f 2>&1 | tail -n 3)"
    exit 1
  }
  # GPU claims the starter made for jobs gone before this start (older claims named a pid).
  if [ -z "$(qstat -u '*' 2>/dev/null)" ]; then rm -rf /tmp/cb-sge-gpus; fi
  write_env
  log "up: all.q@$HOST, $(nproc) slots, pe $PE, gpu=2 (ids $GPU_IDS in SGE_HGR_gpu)"
}

case "${1:-}" in
  start) start ;;
  stop) stop; log "stopped" ;;
  status)
    if alive "$QMASTER_PID" && alive "$(execd_pid)"; then
      qstat -f
    else
      echo "stopped"
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
