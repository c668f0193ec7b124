#!/bin/bash
# Stop the test bed started by up.sh in directory $1.
D=${1:?usage: down.sh DIR}
[ -d "$D/pf/conf" ] && postfix -c "$D/pf/conf" stop >/dev/null 2>&1
for p in "$D/unbound.pid" "$D/unbound-noede.pid" "$D/knot/knot.pid"; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
true
