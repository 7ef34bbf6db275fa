# The README's walkthrough, run line for line (in a scratch folder, with
# this instance's demo.env and a fresh device ID).
W=$T/readme
mkdir -p "$W"
sed -n '/# --- walkthrough begin ---/,/# --- walkthrough end ---/p' README |
	sed 's/^    //' |
	sed "s|^\. run/demo.env|. $EST_RUNDIR/demo.env|; s|^DEV=sensor-1|DEV=readme-$$|" > "$W/walkthrough.sh"
check_true "README: walkthrough found" test "$(wc -l < "$W/walkthrough.sh")" -gt 20
(cd "$W" && bash -e -o pipefail walkthrough.sh) > "$W/out" 2>&1
check "README: walkthrough runs without error" 0 "$?"
check "README: every openssl verify says OK" 3 "$(grep -c ': OK$' "$W/out")"
check_match "README: operational cert is for the device" "CN ?= ?readme-$$" "$(openssl x509 -in "$W/dev2.pem" -noout -subject 2>&1)"
