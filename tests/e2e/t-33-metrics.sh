# GET /metrics: Prometheus text format 0.0.4, administrators only by
# default, counters and the latency histogram moving with requests.
AUTH=(-u "$EST_USER:$EST_PASS")
ADMIN=(-u "$EST_ADMIN_USER:$EST_ADMIN_PASS")

# metrics_value NAME-AND-LABELS — the value of one sample of the last answer.
metrics_value() { awk -v k="$1" '$1 == k { print $2 }' "$T/body"; }

est "$EST_METRICS_URL"
check "metrics: no credentials 401" 401 "$STATUS"
htpasswd -bB -C 5 "$EST_RUNDIR/admin.htpasswd" operator "op-$$" 2>/dev/null
[ "$(id -u)" = 0 ] && chgrp www-data "$EST_RUNDIR/admin.htpasswd" && chmod 640 "$EST_RUNDIR/admin.htpasswd"
est -u "operator:op-$$" "$EST_METRICS_URL"
check "metrics: a login that is not an admin 403" 403 "$STATUS"
est "${ADMIN[@]}" -X POST --data x "$EST_METRICS_URL"
check "metrics: POST 405" 405 "$STATUS"
check "metrics: 405 Allow" "GET, HEAD" "$(header Allow)"

est "${ADMIN[@]}" "$EST_METRICS_URL"
check "metrics: 200" 200 "$STATUS"
check "metrics: text format 0.0.4" "text/plain; version=0.0.4; charset=utf-8" "$(header Content-Type)"
check "metrics: Content-Length" "$(wc -c < "$T/body" | tr -d ' ')" "$(header Content-Length)"
check "metrics: every sample line is NAME{LABELS} VALUE" "" \
	"$(grep -v '^#' "$T/body" | grep -Ev '^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+(\.[0-9]+)?$' | head -n 3)"
check "metrics: every comment is HELP or TYPE" "" "$(grep '^#' "$T/body" | grep -Ev '^# (HELP|TYPE) [a-z_]+ ' | head -n 3)"
for fam in estcgi_enrollments_total:counter estcgi_refusals_total:counter \
    estcgi_http_responses_total:counter estcgi_request_duration_seconds:histogram \
    estcgi_devices:gauge estcgi_devices_expired:gauge \
    estcgi_certificates_expiring:gauge estcgi_store_events_total:counter; do
	check "metrics: TYPE ${fam%%:*}" 1 "$(grep -c "^# TYPE ${fam%%:*} ${fam##*:}\$" "$T/body")"
done
for ep in cacerts bootstrap simpleenroll simplereenroll api metrics; do
	check "metrics: histogram +Inf = count for $ep" \
		"$(metrics_value "estcgi_request_duration_seconds_bucket{endpoint=\"$ep\",le=\"+Inf\"}")" \
		"$(metrics_value "estcgi_request_duration_seconds_count{endpoint=\"$ep\"}")"
done
check_true "metrics: buckets are cumulative" sh -c "grep 'duration_seconds_bucket{endpoint=\"bootstrap\"' '$T/body' | awk '{ if (\$2 < last) exit 1; last = \$2 }'"
check_true "metrics: the API's own requests were timed" test "$(metrics_value 'estcgi_request_duration_seconds_count{endpoint="api"}')" -gt 0

issued=$(metrics_value 'estcgi_enrollments_total{endpoint="bootstrap",outcome="issued"}')
refused=$(metrics_value 'estcgi_enrollments_total{endpoint="bootstrap",outcome="refused"}')
dup=$(metrics_value 'estcgi_refusals_total{reason="duplicate"}')
count=$(metrics_value 'estcgi_request_duration_seconds_count{endpoint="bootstrap"}')
boot=$(metrics_value 'estcgi_devices{state="bootstrapped"}')
store_issued=$(metrics_value 'estcgi_store_events_total{outcome="issued"}')
mkcsr metr "/CN=metrics-$$" ec
post bootstrap "$T/metr.b64" "${AUTH[@]}"
check "metrics: bootstrap 200" 200 "$STATUS"
post bootstrap "$T/metr.b64" "${AUTH[@]}"
check "metrics: bootstrap again 409" 409 "$STATUS"
est "${ADMIN[@]}" "$EST_METRICS_URL"
check "metrics: issued +1" $((issued + 1)) "$(metrics_value 'estcgi_enrollments_total{endpoint="bootstrap",outcome="issued"}')"
check "metrics: refused +1" $((refused + 1)) "$(metrics_value 'estcgi_enrollments_total{endpoint="bootstrap",outcome="refused"}')"
check "metrics: refusals by reason: duplicate +1" $((dup + 1)) "$(metrics_value 'estcgi_refusals_total{reason="duplicate"}')"
check "metrics: bootstrap latency count +2" $((count + 2)) "$(metrics_value 'estcgi_request_duration_seconds_count{endpoint="bootstrap"}')"
check "metrics: devices bootstrapped +1" $((boot + 1)) "$(metrics_value 'estcgi_devices{state="bootstrapped"}')"
check "metrics: store issuances +1" $((store_issued + 1)) "$(metrics_value 'estcgi_store_events_total{outcome="issued"}')"
check_true "metrics: latency sum positive" awk -v v="$(metrics_value 'estcgi_request_duration_seconds_sum{endpoint="bootstrap"}')" 'BEGIN { exit !(v > 0) }'
