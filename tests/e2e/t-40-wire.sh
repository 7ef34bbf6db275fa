# RFC 8951 body shapes and real clients' habits: libest (TLS 1.2 only,
# 64-column base64 with CRLF plus an extra CRLF, first try without
# credentials), globalsign/est (one line, chunked body).
AUTH=(-u "$EST_USER:$EST_PASS")

shape() { # shape NAME — a fresh CSR for device NAME-$$ in $T/NAME.der
	mkcsr "$1" "/CN=$1-$$" ec
}

shape libest
base64 -w 64 < "$T/libest.der" | sed 's/$/\r/' > "$T/libest.body"
printf '\r\n' >> "$T/libest.body"
post simpleenroll "$T/libest.body" --tlsv1.2 --tls-max 1.2
check "libest shape: first try without credentials gets 401" 401 "$STATUS"
check_match "libest shape: WWW-Authenticate" '^Basic' "$(header WWW-Authenticate)"
post simpleenroll "$T/libest.body" --tlsv1.2 --tls-max 1.2 "${AUTH[@]}"
check "libest shape (TLS 1.2, CRLF, extra CRLF): 200" 200 "$STATUS"
check_true "libest shape: Content-Length present" test -n "$(header Content-Length)"

shape oneline
base64 -w 0 < "$T/oneline.der" > "$T/oneline.body"
post bootstrap "$T/oneline.body" "${AUTH[@]}"
check "one-line base64 without final newline: 200" 200 "$STATUS"

shape col76
base64 -w 76 < "$T/col76.der" > "$T/col76.body"
printf '\n' >> "$T/col76.body"
post bootstrap "$T/col76.body" "${AUTH[@]}"
check "76-column base64 with a trailing blank line: 200" 200 "$STATUS"

shape nopad
base64 -w 0 < "$T/nopad.der" | tr -d '=' > "$T/nopad.body"
post bootstrap "$T/nopad.body" "${AUTH[@]}"
check "base64 without padding: 200" 200 "$STATUS"

shape cte
post bootstrap "$T/cte.b64" "${AUTH[@]}" -H 'Content-Transfer-Encoding: binary'
check "Content-Transfer-Encoding ignored: 200" 200 "$STATUS"

shape chunked
post bootstrap "$T/chunked.b64" "${AUTH[@]}" -H 'Transfer-Encoding: chunked' -v 2> "$T/chunked.trace"
check "chunked request body: 200" 200 "$STATUS"
check_true "chunked: sent chunked" grep -qi '^> Transfer-Encoding: chunked' "$T/chunked.trace"
check_true "chunked: sent without Content-Length" sh -c "! grep -qi '^> Content-Length' '$T/chunked.trace'"

shape tls13
post bootstrap "$T/tls13.b64" "${AUTH[@]}" --tlsv1.3
check "TLS 1.3 enrollment: 200" 200 "$STATUS"
