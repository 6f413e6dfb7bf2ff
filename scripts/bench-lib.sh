# Shared by the benchmark scripts (sourced, not run): start the release binary on the demo
# workspace, and sign someone in the way a browser does.

# start_demo URL PORT LOGFILE [ENV=VALUE…]: serves the demo workspace on URL at 127.0.0.1:PORT
# and waits until it answers (logging as configured: every request at info, as deployed); sets
# $server to its process id.
start_demo() {
  local url="$1" port="$2" log="$3"; shift 3
  env SWITCHBOARD_DATABASE_URL="$url" SWITCHBOARD_BIND="127.0.0.1:$port" "$@" \
    target/release/switchboard demo > "$log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the panel did not start: $(cat "$log")" >&2
  return 1
}

# session_cookie PORT USERNAME USER_AGENT JAR: signs USERNAME (of $COMPANY, by default DEMO) in with the form's token
# and prints the session cookie ("name=value"); fails unless /conversations then answers 200.
session_cookie() {
  local port="$1" username="$2" ua="$3" jar="$4" base="http://127.0.0.1:$1" token cookie status
  token="$(curl -fsS -c "$jar" -A "$ua" "$base/login" |
    sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)"
  curl -fsS -b "$jar" -c "$jar" -A "$ua" -o /dev/null -H "Origin: $base" \
    --data-urlencode "csrf_token=$token" --data-urlencode "company_code=${COMPANY:-DEMO}" \
    --data-urlencode "username=$username" --data-urlencode "password=Harbor-Lantern-42!" \
    "$base/login"
  cookie="$(awk '$6 ~ /^(__Host-switchboard|switchboard_session)$/ {print $6"="$7}' "$jar" | tail -1)"
  [ -n "$cookie" ] || { echo "sign-in of $username failed" >&2; return 1; }
  status="$(curl -s -o /dev/null -w '%{http_code}' -A "$ua" -H "Cookie: $cookie" \
    "$base/conversations")"
  [ "$status" = 200 ] || { echo "/conversations answered $status, not 200" >&2; return 1; }
  echo "$cookie"
}
