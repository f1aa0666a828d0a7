# Shared by the service scripts (sourced, not run: scripts/test.sh starts only scripts/services/*.sh).

# A process that runs (a zombie waiting for init to reap it counts as gone).
pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# A pid file whose process runs.
alive() {
  [ -f "$1" ] && pid_alive "$(cat "$1")"
}

# stop_pid PID: SIGTERM (the daemons' own clean shutdown), up to 5 s, then SIGKILL.
stop_pid() {
  kill "$1" 2>/dev/null || true
  i=0
  while pid_alive "$1" && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  kill -9 "$1" 2>/dev/null || true
}

# The unprivileged user the tests submit jobs as (TEST_USER), created once.
ensure_user() {
  if ! id "$TEST_USER" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$TEST_USER" 2>/dev/null || id "$TEST_USER" >/dev/null
  fi
}
