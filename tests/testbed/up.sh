#!/bin/bash
# Start the loopback DANE test bed in directory $1 (created afresh):
#   knotd   authoritative for the fake TLD "test." (pre-signed with ldns-signzone) on 127.0.53.1:53
#   unbound validating resolver (trust anchor = test. KSK) on 127.0.60.1:5301
#   postfix one throw-away instance, STARTTLS listeners on 127.0.61.1-3:2525
# Writes $1/env with the addresses and the trust anchor files. Needs root (port 53) and the
# Debian packages knot, unbound, ldnsutils, bind9-dnsutils, postfix, openssl.
set -euo pipefail
D=${1:?usage: up.sh DIR}
AUTH=127.0.53.1
RES=127.0.60.1
RES_PORT=5301
for t in knotd unbound ldns-keygen ldns-signzone dig postfix openssl; do
  command -v $t >/dev/null || { echo "test bed: $t not installed (see .ci/packages)" >&2; exit 3; }
done
"$(dirname "$0")/down.sh" "$D" 2>/dev/null || true
rm -rf "$D"; mkdir -p "$D"/{zones,knot,keys,pki,pf}
D=$(cd "$D" && pwd)

# --- PKI: a CA and a leaf for the MX names -------------------------------------------------
cd "$D/pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 3650 \
  -subj "/CN=danemine test CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr -subj "/CN=mx-ta.dane.test" 2>/dev/null
openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out leaf.crt -days 825 \
  -extfile <(printf 'subjectAltName=DNS:mx-ta.dane.test,DNS:mx-ee.dane.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth') 2>/dev/null
cat leaf.crt ca.crt > chain.pem
spki() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER; }
EE311=$(spki leaf.crt | sha256sum | cut -d' ' -f1)
TA201=$(openssl x509 -in ca.crt -outform DER | sha256sum | cut -d' ' -f1)
LEAF301=$(openssl x509 -in leaf.crt -outform DER | sha256sum | cut -d' ' -f1)

# --- zones ----------------------------------------------------------------------------------
cd "$D/keys"
key() { ldns-keygen -a ECDSAP256SHA256 -k "$1"; }
head_() { printf '$ORIGIN %s.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300\n@ IN NS ns.test.\n' "$1"; }
{ head_ dane.test
  for d in ee ta mismatch usage01 notlsa nostarttls tarpit reset flip; do echo "$d IN MX 10 mx-$d.dane.test."; done
  echo "twomx IN MX 10 mx-ee.dane.test."; echo "twomx IN MX 20 mx-mismatch.dane.test."
  # an MX host that is an alias: TLSA at the CNAME target, DANE-TA name check against it
  echo "alias IN MX 10 mx-alias.dane.test."; echo "mx-alias IN CNAME mx-ta.dane.test."
  echo "mx-ee IN A 127.0.61.1";       echo "_25._tcp.mx-ee IN TLSA 3 1 1 $EE311"
  echo "mx-ta IN A 127.0.61.2";       echo "_25._tcp.mx-ta IN TLSA 2 0 1 $TA201"
  echo "mx-mismatch IN A 127.0.61.3"; echo "_25._tcp.mx-mismatch IN TLSA 3 1 1 $(printf '%064d' 0)"
  echo "mx-usage01 IN A 127.0.61.1";  echo "_25._tcp.mx-usage01 IN TLSA 0 0 1 $TA201"; echo "_25._tcp.mx-usage01 IN TLSA 1 0 1 $LEAF301"
  echo "mx-notlsa IN A 127.0.61.1"
  echo "mx-nostarttls IN A 127.0.62.1"; echo "_25._tcp.mx-nostarttls IN TLSA 3 1 1 $EE311"
  echo "mx-tarpit IN A 127.0.62.2";     echo "_25._tcp.mx-tarpit IN TLSA 3 1 1 $EE311"
  echo "mx-reset IN A 127.0.62.3";      echo "_25._tcp.mx-reset IN TLSA 3 1 1 $EE311"
  echo "mx-flip IN A 127.0.62.6";       echo "_25._tcp.mx-flip IN TLSA 3 1 1 $EE311"
  # unusable TLSA (usage 0 only) and nothing listening: no connection, nothing learnt
  echo "u01dead IN MX 10 mx-u01dead.dane.test."; echo "mx-u01dead IN A 127.0.62.9"; echo "_25._tcp.mx-u01dead IN TLSA 0 0 1 $TA201"
  # the MX host lies under a DNAME (RFC 6672): its address and TLSA come through the
  # synthesized, unsigned CNAME, which the signed DNAME vouches for
  echo "dn IN MX 10 mx.dnalias.dane.test."; echo "dnalias IN DNAME hosts.dane.test."
  echo "mx.hosts IN A 127.0.61.1"; echo "_25._tcp.mx.hosts IN TLSA 3 1 1 $EE311"
  # two labels below the DNAME; and two DNAMEs that name each other (a loop: no answer)
  echo "dn2 IN MX 10 x.mx.dnalias.dane.test."
  echo "x.mx.hosts IN A 127.0.61.1"; echo "_25._tcp.x.mx.hosts IN TLSA 3 1 1 $EE311"
  echo "dnloop IN MX 10 mx.loopa.dane.test."
  echo "loopa IN DNAME loopb.dane.test."; echo "loopb IN DNAME loopa.dane.test."
  # the same with the DNAME's target changed after signing (to hostz, which would verify):
  # bogus
  echo "dnbad IN MX 10 mx.dntamper.dane.test."; echo "dntamper IN DNAME hosts.dane.test."
  echo "mx.hostz IN A 127.0.61.1"; echo "_25._tcp.mx.hostz IN TLSA 3 1 1 $EE311"
  # the MX host is an insecure alias (in unsigned.test) of a signed host: DANE does not apply
  echo "cnins IN MX 10 mxalias.unsigned.test."
  echo "nullmx IN MX 0 ."  # RFC 7505: accepts no mail
  # the prober refused at the greeting (a blocklist): nothing learnt about STARTTLS
  echo "gr554 IN MX 10 mx-gr554.dane.test."; echo "mx-gr554 IN A 127.0.62.10"; echo "_25._tcp.mx-gr554 IN TLSA 3 1 1 $EE311"
  # TLSA RRsets too large for a UDP answer (40 records): the resolver truncates, TCP is needed
  big() { for i in $(seq 1 40); do echo "_25._tcp.$1 IN TLSA 3 1 1 $(printf 'big%s' "$i" | sha256sum | cut -d' ' -f1)"; done; }
  echo "big IN MX 10 mx-big.dane.test."; echo "mx-big IN A 127.0.61.3"; big mx-big
  echo "bigok IN MX 10 mx-bigok.dane.test."; echo "mx-bigok IN A 127.0.61.1"; big mx-bigok
  echo "_25._tcp.mx-bigok IN TLSA 3 1 1 $EE311"
  # TLSRPT policies (RFC 8460): one valid; two valid records at once mean no policy
  echo '_smtp._tls.ee IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@ee.dane.test,https://127.0.63.1:8443/tlsrpt"'
  echo '_smtp._tls.ta IN TXT "v=TLSRPTv1; rua=mailto:a@ta.dane.test"'
  echo '_smtp._tls.ta IN TXT "v=TLSRPTv1; rua=mailto:b@ta.dane.test"'
} > ../zones/dane.test.zone
for z in badsig expired wrongds unsigned flaky; do
  { head_ $z.test; echo "@ IN MX 10 mx.$z.test."; echo "mx IN A 127.0.61.1"; echo "_25._tcp.mx IN TLSA 3 1 1 $EE311"; } > ../zones/$z.test.zone
done
echo "mxalias IN CNAME mx-mismatch.dane.test." >> ../zones/unsigned.test.zone
# denials by NSEC3 with 150 iterations: hickory does not judge them (RFC 9276), unbound does;
# no TLSA, so DANE does not apply either way
{ head_ iter.test; echo "@ IN MX 10 mx.iter.test."; echo "mx IN A 127.0.61.1"; } > ../zones/iter.test.zone
K_DANE=$(key dane.test); K_BAD=$(key badsig.test); K_EXP=$(key expired.test); K_WD=$(key wrongds.test); K_WD2=$(key wrongds.test)
ldns-signzone -o dane.test ../zones/dane.test.zone $K_DANE
sed -i 's/^\(dntamper\.dane\.test\.\s.*\sDNAME\s\+\)hosts\.dane\.test\./\1hostz.dane.test./' ../zones/dane.test.zone.signed
grep -q 'DNAME.*hostz.dane.test' ../zones/dane.test.zone.signed
ldns-signzone -o badsig.test ../zones/badsig.test.zone $K_BAD
sed -i 's/^\(badsig\.test\.\s.*\sMX\s\+10\s\+\)mx\.badsig\.test\./\1mx2.badsig.test./' ../zones/badsig.test.zone.signed
grep -q 'mx2.badsig.test' ../zones/badsig.test.zone.signed
ldns-signzone -o expired.test -i 20200101000000 -e 20200201000000 ../zones/expired.test.zone $K_EXP
ldns-signzone -o wrongds.test ../zones/wrongds.test.zone $K_WD
# flaky.test is signed correctly; a test puts a proxy that drops its DNSKEY queries before it
K_FLAKY=$(key flaky.test)
ldns-signzone -o flaky.test ../zones/flaky.test.zone $K_FLAKY
K_ITER=$(key iter.test)
ldns-signzone -n -t 150 -s abcd -o iter.test ../zones/iter.test.zone $K_ITER
# optional: BENCH_NAMES=N adds bench.test with N domains on three MX hosts (scripts/bench-verify.sh)
ZONES_EXTRA=""
if [ -n "${BENCH_NAMES:-}" ]; then
  { head_ bench.test
    for m in 0 1 2; do echo "mx$m IN A 127.0.61.$((m + 1))"; echo "_25._tcp.mx$m IN TLSA 3 1 1 $EE311"; done
    for i in $(seq 1 "$BENCH_NAMES"); do echo "d$i IN MX 10 mx$((i % 3)).bench.test."; done
  } > ../zones/bench.test.zone
  K_BENCH=$(key bench.test)
  ldns-signzone -o bench.test ../zones/bench.test.zone $K_BENCH
  ZONES_EXTRA=bench
fi
K_TEST=$(key test)
{ head_ test; echo "ns IN A $AUTH"
  for z in dane badsig expired wrongds unsigned iter flaky $ZONES_EXTRA; do echo "$z IN NS ns.test."; done
  cat $K_DANE.ds $K_BAD.ds $K_EXP.ds $K_WD2.ds $K_ITER.ds $K_FLAKY.ds
  [ -n "$ZONES_EXTRA" ] && cat $K_BENCH.ds
} > ../zones/test.zone
ldns-signzone -o test ../zones/test.zone $K_TEST
cp $K_TEST.ds ../test.ds; cp $K_TEST.key ../test.dnskey

cat > ../knot/knot.conf <<K
server:
  rundir: "$D/knot"
  pidfile: "$D/knot/knot.pid"
  listen: $AUTH@53
log:
  - target: "$D/knot/knot.log"
    any: info
database:
  storage: "$D/knot"
template:
  - id: default
    storage: "$D/zones"
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
zone:
  - domain: test.
    file: test.zone.signed
  - domain: dane.test.
    file: dane.test.zone.signed
  - domain: badsig.test.
    file: badsig.test.zone.signed
  - domain: expired.test.
    file: expired.test.zone.signed
  - domain: wrongds.test.
    file: wrongds.test.zone.signed
  - domain: unsigned.test.
    file: unsigned.test.zone
  - domain: iter.test.
    file: iter.test.zone.signed
  - domain: flaky.test.
    file: flaky.test.zone.signed
K
[ -n "$ZONES_EXTRA" ] && printf '  - domain: bench.test.\n    file: bench.test.zone.signed\n' >> ../knot/knot.conf
knotd -c ../knot/knot.conf -d

cat > ../unbound.conf <<U
server:
  interface: $RES
  port: $RES_PORT
  do-daemonize: yes
  username: ""
  chroot: ""
  directory: "$D"
  pidfile: "$D/unbound.pid"
  logfile: "$D/unbound.log"
  use-syslog: no
  verbosity: 1
  ede: yes
  val-log-level: 2
  do-not-query-localhost: no
  module-config: "validator iterator"
  trust-anchor-file: "$D/test.ds"
  local-zone: "test." nodefault
  local-zone: "." refuse
  local-zone: "test." transparent
stub-zone:
  name: "test."
  stub-addr: $AUTH@53
remote-control:
  control-enable: no
U
unbound-checkconf ../unbound.conf >/dev/null
unbound -c ../unbound.conf
# a second one without RFC 8914 extended errors (unbound's default): its SERVFAILs give no reason
RES2=127.0.60.2
sed -e "s/interface: $RES/interface: $RES2/" -e 's/ede: yes/ede: no/' \
  -e 's/unbound\.pid/unbound-noede.pid/' -e 's/unbound\.log/unbound-noede.log/' \
  ../unbound.conf > ../unbound-noede.conf
unbound-checkconf ../unbound-noede.conf >/dev/null
unbound -c ../unbound-noede.conf

# --- postfix: STARTTLS on 127.0.61.1-3:2525 --------------------------------------------------
P=$D/pf
mkdir -p "$P"/{conf,queue,data}
chown postfix:postfix "$P/data"
cat > "$P/conf/main.cf" <<M
compatibility_level = 3.6
queue_directory = $P/queue
data_directory = $P/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.dane.test
mydomain = dane.test
myorigin = dane.test
mydestination =
relay_domains =
inet_interfaces = loopback-only
inet_protocols = ipv4
maillog_file = $P/maillog
maillog_file_prefixes = $P
smtpd_banner = \$myhostname ESMTP test
smtpd_relay_restrictions = reject
smtpd_tls_security_level = may
smtpd_tls_chain_files = $D/pki/leaf.key, $D/pki/chain.pem
smtpd_tls_loglevel = 1
alias_maps =
alias_database =
M
sed -e 's/^\(\S\+\s\+\S\+\s\+\S\+\s\+\S\+\s\+\)y\(\s\)/\1n\2/' -e '/^smtp\s\+inet/d' /etc/postfix/master.cf > "$P/conf/master.cf"
for a in 127.0.61.1 127.0.61.2 127.0.61.3; do
  echo "$a:2525 inet n - n - - smtpd" >> "$P/conf/master.cf"
done
script -qec "postfix -c $P/conf start" /dev/null >/dev/null || { echo "test bed: postfix did not start" >&2; exit 4; }

for i in $(seq 100); do
  ok=1
  dig +short +time=1 +tries=1 @$AUTH test. SOA >/dev/null 2>&1 || ok=0
  dig +short +time=1 +tries=1 @$RES -p $RES_PORT test. SOA >/dev/null 2>&1 || ok=0
  dig +short +time=1 +tries=1 @$RES2 -p $RES_PORT test. SOA >/dev/null 2>&1 || ok=0
  for a in 127.0.61.1 127.0.61.2 127.0.61.3; do (exec 3<>/dev/tcp/$a/2525) 2>/dev/null || ok=0; done
  [ $ok = 1 ] && break
  sleep 0.1
done
[ $ok = 1 ] || { echo "test bed: servers did not come up" >&2; exit 5; }
cat > "$D/env" <<E
AUTH=$AUTH:53
RESOLVER=$RES:$RES_PORT
RESOLVER_NO_EDE=$RES2:$RES_PORT
ANCHOR=$D/test.dnskey
EE311=$EE311
E
echo "test bed up in $D"
