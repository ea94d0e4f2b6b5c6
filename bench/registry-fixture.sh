# Sourced by benchmarks: start_registry DIR PORT starts Debian's docker-registry on
# 127.0.0.1:PORT with storage in DIR and records its pid (in DIR/pid too, for stop_registry
# DIR); stop_registries stops every one started.
registry_pids=()

start_registry() {
  local dir=$1 port=$2
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
YAML
  /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  registry_pids+=($!)
  echo $! >"$dir/pid"
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "registry on port $port did not start; log: $dir/log" >&2
  return 1
}

stop_registry() {
  local pid
  pid=$(cat "$1/pid")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_registries() {
  local pid
  for pid in "${registry_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
