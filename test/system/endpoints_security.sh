#!/usr/bin/env bash
# The endpoints with server.tls and server.basic_auth_users (docs/security.md, "TLS and basic
# auth"), checked with the real curl against a CA and certificates made here with openssl:
#
#   1. HTTPS verified against the test CA (SAN IP:127.0.0.1): /livez and /readyz answer without
#      credentials; /metrics and /status without credentials or with a wrong password are 401 with
#      `WWW-Authenticate: Basic realm="k8sinpodd"`, with the right password 200 (/metrics is the
#      Prometheus text: content type and promtool)
#   2. plain http:// to the same port gets no HTTP answer
#   3. the rejections are counted in k8sinpod_http_rejected_total{reason}: `unauthorized` (the
#      401s, exactly) and `tls_handshake_failed`
#   4. mutual TLS by a live reload (ConfigMap-style swap adding server.tls.client_ca_file): no
#      client certificate, or one from another CA, fails the handshake; one signed by the client
#      CA gets /livez 200 (and basic auth is still required on /metrics)
#   5. the daemon's log (at debug level) holds neither password, nor the bcrypt hash, nor the
#      Authorization header value, nor the server key
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
setup_case endpoints-security

P="$T/pki"
CM="$T/cm"
mkdir -p "$P"

# mark: the number of log lines so far; since MARK: the lines after it; logged MARK REGEX.
mark() { wc -l <"$T/daemon.log"; }
since() { tail -n "+$(($1 + 1))" "$T/daemon.log"; }
logged() { since "$1" | grep -qE "$2"; }

# --- key material ---------------------------------------------------------------------------

# openssl_ok DESC CMD...: runs an openssl command, failing with its output.
openssl_ok() {
  local desc=$1
  shift
  "$@" >"$T/openssl.log" 2>&1 || fail "openssl ($desc): $(cat "$T/openssl.log")"
}
# ca NAME: a self-signed P-256 CA, valid one day.
ca() {
  openssl_ok "CA $1" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=k8sinpod test $1" -days 1 -keyout "$P/$1.key" -out "$P/$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
# issue NAME CA EXTENSIONS: a P-256 key and a certificate for NAME signed by CA, valid one day.
issue() {
  openssl_ok "key $1" openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=$1" -keyout "$P/$1.key" -out "$P/$1.csr"
  printf '%s\n' "$3" >"$P/$1.ext"
  openssl_ok "certificate $1" openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.crt" \
    -CAkey "$P/$2.key" -CAcreateserial -days 1 -extfile "$P/$1.ext" -out "$P/$1.crt"
  openssl_ok "verify $1" openssl verify -CAfile "$P/$2.crt" "$P/$1.crt"
}

note "a server CA and certificate (SAN IP:127.0.0.1), a client CA and certificate"
ca server-ca
issue server server-ca $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
ca client-ca
issue client client-ca 'extendedKeyUsage=clientAuth'
# A client certificate from a CA the daemon does not trust for clients.
issue rogue server-ca 'extendedKeyUsage=clientAuth'

USER_NAME=prometheus
PASSWORD="right-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
WRONG="wrong-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# bcrypt, cost 5 (a 401 costs a bcrypt run; a low cost keeps the sanitizer build quick).
HASH=$(printf '%s\n' "$PASSWORD" | /usr/bin/python3 -W ignore::DeprecationWarning -c '
import crypt, sys
salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5)
print(crypt.crypt(sys.stdin.readline().rstrip("\n"), salt))')
[[ "$HASH" =~ ^\$2b\$05\$[./A-Za-z0-9]{53}$ ]] ||
  fail "python3 crypt made no bcrypt hash: \"$HASH\""

# --- config ---------------------------------------------------------------------------------

LOG_LEVEL=debug write_config
cat >"$T/server.yaml" <<YAML
  tls:
    cert_file: $P/server.crt
    key_file: $P/server.key
  basic_auth_users:
    $USER_NAME: '$HASH'
YAML
sed -i "/^  listen: 127\\.0\\.0\\.1:0\$/r $T/server.yaml" "$T/config.yaml"
grep -qF "$HASH" "$T/config.yaml" || fail "the server settings are not in the config"
"$K8SINPODD" --check-config --config "$T/config.yaml" >/dev/null ||
  fail "k8sinpodd --check-config rejects the TLS config"
# The mutual-TLS variant, pushed later.
sed "s|^    key_file: $P/server\\.key\$|&\\n    client_ca_file: $P/client-ca.crt|" \
  "$T/config.yaml" >"$T/mtls.yaml"
grep -qx "    client_ca_file: $P/client-ca.crt" "$T/mtls.yaml" ||
  fail "no client_ca_file in mtls.yaml"
"$K8SINPODD" --check-config --config "$T/mtls.yaml" >/dev/null ||
  fail "k8sinpodd --check-config rejects the mTLS config"
cm_init "$T/config.yaml"

# --- clients --------------------------------------------------------------------------------

AUTH=(-u "$USER_NAME:$PASSWORD")
CLIENT=()  # --cert/--key once mutual TLS is on

# get PATH [CURL-ARGS...]: GET https://127.0.0.1:$PORT/PATH verifying the server against the
# server CA; prints the status (000: no HTTP answer); body to $T/body, headers to $T/headers.
get() {
  local path=$1
  shift
  rm -f "$T/body" "$T/headers"
  curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 5 --cacert "$P/server-ca.crt" \
    "$@" "https://127.0.0.1:$PORT$path" || true
}
get_is() { [[ "$(get "$2" "${@:3}")" == "$1" ]]; }
# expect STATUS DESC PATH [CURL-ARGS...]
expect() {
  local want=$1 desc=$2 path=$3 got
  shift 3
  got=$(get "$path" "$@")
  [[ "$got" == "$want" ]] ||
    fail "$desc: GET $path answered $got, expected $want; body:" \
      "$(head -c 300 "$T/body" 2>/dev/null)"
}
# header NAME: the value of the last answer's header NAME (lower case; matched in any case).
header() {
  tr -d '\r' <"$T/headers" |
    awk -v h="$1:" 'index(tolower($0), h) == 1 { sub(/^[^:]*: */, ""); print }'
}
challenge() { header www-authenticate; }
expect_401() {
  expect 401 "$@"
  assert_eq "$(challenge)" 'Basic realm="k8sinpodd"' "$1: WWW-Authenticate"
}
# metric 'name{labels}': the sample's value from an authenticated /metrics (empty if absent).
metric() {
  get /metrics "${CLIENT[@]}" "${AUTH[@]}" >/dev/null
  awk -v k="$1" '$1 == k && !found { print $2; found = 1 }' "$T/body" 2>/dev/null
}
rejected() { metric "k8sinpod_http_rejected_total{reason=\"$1\"}"; }
rejected_is() { [[ "$(rejected "$1")" == "$2" ]]; }
# refused DESC CURL-ARGS... URL: curl must fail with no HTTP answer, from a listening port (not
# refused, not timed out): the TLS listener said no.
refused() {
  local desc=$1 rc=0 code
  shift
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$@" 2>"$T/curl.err") || rc=$?
  [[ $rc -ne 0 && "$code" == 000 ]] ||
    fail "$desc: expected no HTTP answer, got status $code (curl exit $rc)"
  [[ $rc -ne 7 && $rc -ne 28 ]] ||
    fail "$desc: curl exit $rc ($(cat "$T/curl.err")): nothing listening, not a TLS refusal"
  note "$desc: curl exit $rc: $(cat "$T/curl.err")"
}

# --- 1. TLS + basic auth --------------------------------------------------------------------

note "1. HTTPS with basic auth: /livez and /readyz open, /metrics and /status need credentials"
start_daemon "$CM/config.yaml"
wait_for "/livez 200 over HTTPS" 10 get_is 200 /livez
assert_eq "$(cat "$T/body")" "ok" "/livez body"
wait_for "/readyz 200 over HTTPS without credentials" 120 get_is 200 /readyz
assert_eq "$(cat "$T/body")" "ok" "/readyz body"

expect_401 "/metrics without credentials" /metrics
expect_401 "/status without credentials" /status
expect_401 "/metrics with a wrong password" /metrics -u "$USER_NAME:$WRONG"
expect_401 "/status with a wrong password" /status -u "$USER_NAME:$WRONG"
unauthorized=4

expect 200 "/metrics with the right password" /metrics "${AUTH[@]}"
[[ -z "$(challenge)" ]] || fail "a 200 carries WWW-Authenticate: $(challenge)"
assert_eq "$(header content-type)" "text/plain; version=0.0.4; charset=utf-8" \
  "/metrics content type"
cp "$T/body" "$T/metrics.txt"
promtool check metrics <"$T/metrics.txt" || fail "promtool check metrics failed"
grep -qx '# TYPE k8sinpod_http_rejected_total counter' "$T/metrics.txt" ||
  fail "no k8sinpod_http_rejected_total in /metrics"
expect 200 "/status with the right password" /status "${AUTH[@]}"
/usr/bin/python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["phase"] == "ready"' \
  "$T/body" || fail "/status content: $(cat "$T/body")"

note "2. plain http:// on the TLS port: no HTTP answer"
handshakes=$(rejected tls_handshake_failed)
[[ -n "$handshakes" ]] || fail "no k8sinpod_http_rejected_total{reason=\"tls_handshake_failed\"}"
refused "plain http:// /livez" "http://127.0.0.1:$PORT/livez"

note "3. the rejections are counted"
assert_eq "$(rejected unauthorized)" "$unauthorized" \
  'k8sinpod_http_rejected_total{reason="unauthorized"}'
handshakes=$((handshakes + 1))
wait_for "tls_handshake_failed $handshakes after plain http" 5 \
  rejected_is tls_handshake_failed "$handshakes"

# --- 4. mutual TLS --------------------------------------------------------------------------

note "4. mutual TLS by a live reload: server.tls.client_ca_file"
m=$(mark)
cm_push "$T/mtls.yaml"
rebind_re='config reload \(file change\): listening on 127\.0\.0\.1:[0-9]+$'
wait_for "the listener to reopen with client_ca_file" 10 logged "$m" "$rebind_re"
PORT=$(since "$m" | grep -E "$rebind_re" | tail -n 1 | sed 's/.*:\([0-9]*\)$/\1/')
[[ -n "$PORT" ]] || fail "no port in the rebind line"
wait_for "the reload to be applied" 10 logged "$m" 'config reload \(file change\): applied'

refused "/livez without a client certificate" --cacert "$P/server-ca.crt" \
  "https://127.0.0.1:$PORT/livez"
refused "/livez with a client certificate of another CA" --cacert "$P/server-ca.crt" \
  --cert "$P/rogue.crt" --key "$P/rogue.key" "https://127.0.0.1:$PORT/livez"
CLIENT=(--cert "$P/client.crt" --key "$P/client.key")
expect 200 "/livez with the client certificate" /livez "${CLIENT[@]}"
assert_eq "$(cat "$T/body")" "ok" "/livez body with mutual TLS"
expect_401 "/metrics with a client certificate, without credentials" /metrics "${CLIENT[@]}"
unauthorized=$((unauthorized + 1))
assert_eq "$(metric k8sinpod_config_last_reload_successful)" "1" "last_reload_successful"
assert_eq "$(rejected unauthorized)" "$unauthorized" \
  'k8sinpod_http_rejected_total{reason="unauthorized"} with mutual TLS'
handshakes=$((handshakes + 2))
wait_for "tls_handshake_failed $handshakes after two refused clients" 5 \
  rejected_is tls_handshake_failed "$handshakes"

stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"

# --- 5. no secret in the log ----------------------------------------------------------------

note "5. the log holds no password, hash, Authorization value or key"
grep -q "config reload (file change): applied" "$T/daemon.log" || fail "the log is not the daemon's"
authz=$(printf '%s' "$USER_NAME:$PASSWORD" | base64 -w0)
wrong_authz=$(printf '%s' "$USER_NAME:$WRONG" | base64 -w0)
key_line=$(sed -n 2p "$P/server.key")
for secret in "$PASSWORD" "$WRONG" "$HASH" "${HASH:7}" "$authz" "$wrong_authz" "$key_line"; do
  [[ ${#secret} -ge 16 ]] || fail "a secret to look for is too short: ${#secret} characters"
  if grep -qF -- "$secret" "$T/daemon.log"; then
    fail "the daemon log holds a secret (${secret:0:6}...)"
  fi
done
echo "PASS endpoints_security"
