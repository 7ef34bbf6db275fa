# Rate limits of a label (test-only label rl of queue-labels.conf:
# per_user = 3, per_device = 2 per hour): counted in the store for all
# workers, excess answered 429 with Retry-After (seconds until the
# window frees); another user, another label and refused requests are
# not counted against anyone.
if [ -z "${EST_LABELS:-}" ]; then
	echo "# rate limits: the instance serves no CA labels; skipped"
	return 0
fi
AUTH=(-u "$EST_USER:$EST_PASS")
RL=$T/rl
mkdir -p "$RL"
add_test_labels tests/e2e/queue-labels.conf
# A second enrollment user, for this test only.
RL_USER=rluser-$$ RL_PASS=$(openssl rand -hex 12)
htpasswd -nbB -C 5 "$RL_USER" "$RL_PASS" | grep . >> "$EST_RUNDIR/users.htpasswd"
AUTH2=(-u "$RL_USER:$RL_PASS")

# rl_post LABEL OP NAME [curl args] — new key and CSR for device
# rl-NAME-PID, POSTed to LABEL's OP; certificate in $RL/NAME.pem.
rl_post() {
	local label=$1 op=$2 name=$3; shift 3
	[ -f "$RL/$name.key" ] || newkey "$RL/$name.key" ec
	openssl req -new -key "$RL/$name.key" -subj "/CN=rl-$name-$$" -outform DER |
		base64 > "$RL/$name.b64"
	est -H 'Content-Type: application/pkcs10' --data-binary "@$RL/$name.b64" "$@" \
		"$EST_URL${label:+/$label}/$op"
	[ "$STATUS" != 200 ] || base64 -d < "$T/body" |
		openssl pkcs7 -inform DER -print_certs -out "$RL/$name.pem" 2>/dev/null
}

# ---- per user ----
for n in 1 2 3; do
	rl_post rl bootstrap "u$n" "${AUTH[@]}"
	check "per user: enrollment $n of 3 is 200" 200 "$STATUS"
done
rl_post rl bootstrap u4 "${AUTH[@]}"
expect_error "per user: the 4th" 429 "rate limit: 3 enrollments per 3600 s for user"
ra=$(header Retry-After)
check_match "per user: Retry-After is the rest of the window (1..3600 s)" '^[0-9]+$' "$ra"
check_true "per user: Retry-After within the window" test "${ra:-0}" -ge 1 -a "${ra:-0}" -le 3600
rl_post rl bootstrap u5 "${AUTH[@]}"
check "per user: still 429" 429 "$STATUS"
rl_post "" bootstrap u6 "${AUTH[@]}"
check "per user: the same user on another label is not limited" 200 "$STATUS"
rl_post rl bootstrap v1 "${AUTH2[@]}"
check "per user: another user is not limited" 200 "$STATUS"

# ---- per device (certificate-authenticated reenrollment counts too) ----
rl_post rl simplereenroll v1 --cert "$RL/v1.pem" --key "$RL/v1.key"
check "per device: 2nd enrollment of the device 200" 200 "$STATUS"
rl_post rl simplereenroll v1 --cert "$RL/v1.pem" --key "$RL/v1.key"
expect_error "per device: the 3rd" 429 "rate limit: 2 enrollments per 3600 s for device 'rl-v1-$$'"
check_match "per device: Retry-After" '^[0-9]+$' "$(header Retry-After)"

# ---- refusals count nothing ----
rl_post rl bootstrap v2 "${AUTH2[@]}"
check "refusals: the second user's 2nd 200" 200 "$STATUS"
rl_post rl bootstrap v2 "${AUTH2[@]}"
check "refusals: a duplicate (409) is refused" 409 "$STATUS"
rl_post rl bootstrap v3 "${AUTH2[@]}"
check "refusals: the 409 did not count (3rd is 200)" 200 "$STATUS"
rl_post rl bootstrap v4 "${AUTH2[@]}"
check "refusals: then the limit (429)" 429 "$STATUS"
est -u "$EST_ADMIN_USER:$EST_ADMIN_PASS" "$EST_API_URL/events?device=rl-u4-$$"
check "events: the 429 is recorded" 429 "$(jq -r '.items[0].status' "$T/body")"
