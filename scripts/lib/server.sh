# Sourced by the scripts that start a patron server of their own (scripts/test,
# scripts/ledger-drills, scripts/browser-tests): a free loopback port, and the wait for /healthz.

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_healthz URL PID LOG SECONDS: returns once GET URL/healthz answers 200. Fails, printing
# LOG, if process PID exits first or SECONDS pass. (urlopen raises on non-2xx answers and on
# connection errors, so only a 200 exits 0.)
wait_for_healthz() {
  local url=$1 pid=$2 log=$3 seconds=$4 deadline
  deadline=$((SECONDS + seconds))
  until python3 -c 'import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1], timeout=2).status != 200)' \
    "$url/healthz" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "patron exited before answering GET $url/healthz; its log:" >&2
      cat "$log" >&2
      return 1
    fi
    if ((SECONDS > deadline)); then
      echo "patron did not answer GET $url/healthz with 200 within $seconds s; its log:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.3
  done
}
