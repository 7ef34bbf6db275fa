# The audit log: every issuance and refusal as one JSON line in the file
# est.conf's audit_log names (the demo: RUNDIR/audit/audit.log), with
# hostile text (quotes, backslashes, markup in the User-Agent) escaped.
AUTH=(-u "$EST_USER:$EST_PASS")
AUDIT=$EST_RUNDIR/audit/audit.log
DEV=audit-$$
UA='evil "quoted" \ back<slash> '"$(printf '\303\251')"

mkcsr audit "/CN=$DEV" ec
post bootstrap "$T/audit.b64" "${AUTH[@]}" -A "$UA"
check "audit: bootstrap 200" 200 "$STATUS"
p7_to_pem "$T/audit.pem"
post bootstrap "$T/audit.b64" "${AUTH[@]}" -A "$UA"
check "audit: second bootstrap 409" 409 "$STATUS"
post bootstrap "$T/audit.b64" -u "$EST_USER:wrong-$$"
check "audit: wrong password 401 (Apache: no program, no line)" 401 "$STATUS"

check_true "audit: the log exists" test -s "$AUDIT"
check_true "audit: every line is one JSON object" sh -c "jq -s -e 'all(type == \"object\")' '$AUDIT' > /dev/null"
check "audit: lines == objects" "$(wc -l < "$AUDIT" | tr -d ' ')" "$(jq -c . "$AUDIT" | wc -l | tr -d ' ')"
line=$(jq -c "select(.device == \"$DEV\" and .outcome == \"issued\")" "$AUDIT")
check "audit: one issuance line for the device" 1 "$(printf '%s\n' "$line" | grep -c .)"
check "audit: issuance operation and user" "bootstrap $EST_USER 200" "$(printf '%s' "$line" | jq -r '.operation + " " + .user + " " + (.status | tostring)')"
check "audit: issuance serial" "$(cert_serial "$T/audit.pem" | tr A-F a-f)" "$(printf '%s' "$line" | jq -r .serial)"
check "audit: user agent kept exactly (escaped JSON)" "$UA" "$(printf '%s' "$line" | jq -r .user_agent)"
check_match "audit: time ISO 8601 UTC" '^[0-9-]{10}T[0-9:]{8}Z$' "$(printf '%s' "$line" | jq -r .time)"
check "audit: client IP" 127.0.0.1 "$(printf '%s' "$line" | jq -r .ip)"
line=$(jq -c "select(.device == \"$DEV\" and .outcome == \"refused\")" "$AUDIT")
check "audit: one refusal line" 1 "$(printf '%s\n' "$line" | grep -c .)"
check "audit: refusal status and reason" "409 device '$DEV' already registered; delete it to re-enroll" "$(printf '%s' "$line" | jq -r '(.status | tostring) + " " + .reason')"
check "audit: refusal has no serial" null "$(printf '%s' "$line" | jq -r .serial)"
check_true "audit: deletions are logged too (t-31)" sh -c "jq -s -e 'any(.outcome == \"deleted\" and .operation == \"delete\" and .user == \"$EST_ADMIN_USER\")' '$AUDIT' > /dev/null"
