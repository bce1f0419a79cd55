#!/usr/bin/env bash
# Throwaway Samba AD DC (Debian 12, samba 4.17) on loopback for frontdesk's tests and benchmark.
# Adapted from the team's measured recipe; the project must not depend on it at run time.
#   Usage: samba_ad_up.sh PREFIX        (must not exist or be empty)
#   Needs root: LDAP 389/636 (+GC 3268/3269) are hard-coded in samba (no smb.conf option), and provision
#   writes NT ACL xattrs on sysvol. Refuses to start when those ports are busy.
#   Result: PREFIX/env.sh (KEY='value' lines), foreground `samba -i` pid in PREFIX/samba.pid.fg, PREFIX/samba.log
#   Stop:   kill "$(cat PREFIX/samba.pid.fg)"   (SIGTERM)
#   Env:    SAMBA_MODEL=single (default) | prefork
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "samba AD DC needs root (fixed ports 389/636, xattrs)"; exit 1; }
PREFIX=${1:?usage: samba_ad_up.sh PREFIX}
if [[ -e $PREFIX && -n "$(ls -A "$PREFIX" 2>/dev/null)" ]]; then echo "$PREFIX not empty"; exit 1; fi
for p in 389 636 3268 3269; do
  if ss -Htln "sport = :$p" | grep -q .; then echo "port $p already in use (system slapd/samba?)"; exit 1; fi
done
REALM=EXAMPLE.TEST; DOMAIN=EXAMPLE; BASE="DC=example,DC=test"
ADMINPW='Adm1n-Passw0rd!'; BOTPW='B0t-Passw0rd!x'; USERPW='Init-Passw0rd!1'
STAFF="OU=Staff,$BASE"; GROUPS_DN="OU=Groups,$BASE"
CONF=$PREFIX/etc/smb.conf
mkdir -p "$PREFIX/run"
# A failed step would otherwise exit silently: say what provision (the usual culprit) printed last.
trap 'rc=$?; if [[ $rc -ne 0 && -f $PREFIX/provision.log ]]; then tail -n 3 "$PREFIX/provision.log" >&2; fi' EXIT

# 1. Provision. --configfile=/dev/null: do NOT inherit /etc/samba/smb.conf. Runtime dirs live under PREFIX.
#    old password allowed period = 0: otherwise the PREVIOUS password keeps working for LDAP simple binds
#    for 60 minutes after a reset (Samba's default), and "the old password fails" could not be tested.
samba-tool domain provision --configfile=/dev/null --targetdir="$PREFIX" \
  --realm=$REALM --domain=$DOMAIN --server-role=dc --dns-backend=NONE --use-rfc2307 \
  --adminpass="$ADMINPW" --host-name=dc1 \
  --option="netbios name = DC1" \
  --option="interfaces = lo" --option="bind interfaces only = yes" \
  --option="server services = ldap, cldap, kdc" \
  --option="cldap port = 38389" --option="krb5 port = 38088" --option="kpasswd port = 38464" \
  --option="pid directory = $PREFIX/run" --option="ncalrpc dir = $PREFIX/run/ncalrpc" \
  --option="winbindd socket directory = $PREFIX/run/winbindd" \
  --option="ntp signd socket directory = $PREFIX/run/ntp_signd" \
  --option="log file = $PREFIX/log.%m" > "$PREFIX/provision.log" 2>&1
# provision silently drops --option="old password allowed period = 0" from the generated smb.conf: add it
sed -i '/^\[global\]/a \\told password allowed period = 0' "$CONF"
samba-tool testparm -s "$CONF" --parameter-name="old password allowed period" 2>/dev/null | grep -qx 0

# 2. Seed offline (samba-tool works on PREFIX/private/sam.ldb directly; no server needed).
st() { samba-tool "$@" -s "$CONF" >/dev/null; }
st domain passwordsettings set --account-lockout-threshold=3 --min-pwd-age=0 \
   --account-lockout-duration=30 --reset-account-lockout-after=30
st ou create "$STAFF"
st ou create "$GROUPS_DN"
st user create helpdesk-bot "$BOTPW" --given-name=Helpdesk --surname=Bot --description="helpdesk bot service account"
st user create asmith "$USERPW" --userou=OU=Staff --given-name=Alice --surname=Smith \
   --mail-address='a.smith(it)*@example.test' --job-title=Manager --department=IT --physical-delivery-office="Berlin HQ"
st user create jdoe "$USERPW" --userou=OU=Staff --given-name=John --surname=Doe \
   --mail-address=john.doe@example.test --job-title=Engineer --department=IT
st user create itadmin "$USERPW" --userou=OU=Staff --given-name=Ivan --surname=Admin \
   --mail-address=itadmin@example.test --job-title=Sysadmin --department=IT
st group add vpn-users --groupou=OU=Groups
st group addmembers vpn-users asmith,jdoe
# A Domain Admin INSIDE the delegated OU: Samba sets no adminCount and has no AdminSDHolder, so the bot
# could reset it; frontdesk must refuse it by itself.
st group addmembers "Domain Admins" itadmin
# Delegate to helpdesk-bot on OU=Staff / OU=Groups only (inherit-only ACEs for user/group objects):
# Reset Password, write pwdLastSet, write lockoutTime; write member on groups. Anything else: rc 50.
BOTSID=$(samba-tool user show helpdesk-bot -s "$CONF" --attributes=objectSid | awk '/^objectSid:/{print $2}')
U=bf967aba-0de6-11d0-a285-00aa003049e2            # class user
G=bf967a9c-0de6-11d0-a285-00aa003049e2            # class group
RESETPW=00299570-246d-11d0-a768-00aa006e0529      # CAR User-Force-Change-Password (Reset Password)
PWDLASTSET=bf967a0a-0de6-11d0-a285-00aa003049e2; LOCKOUTTIME=28630ebf-41d5-11d1-a9c1-0000f80367c1
MEMBER=bf9679c0-0de6-11d0-a285-00aa003049e2
st dsacl set -H "$PREFIX/private/sam.ldb" --objectdn="$STAFF" \
   --sddl="(OA;CIIO;CR;$RESETPW;$U;$BOTSID)(OA;CIIO;RPWP;$PWDLASTSET;$U;$BOTSID)(OA;CIIO;RPWP;$LOCKOUTTIME;$U;$BOTSID)"
st dsacl set -H "$PREFIX/private/sam.ldb" --objectdn="$GROUPS_DN" --sddl="(OA;CIIO;RPWP;$MEMBER;$G;$BOTSID)"

# 3. Start in the foreground (-i: no daemon, log to stdout; -M single: one process) as a background job.
samba -s "$CONF" -i -M "${SAMBA_MODEL:-single}" --no-process-group > "$PREFIX/samba.log" 2>&1 &
SPID=$!; echo $SPID > "$PREFIX/samba.pid.fg"
# 4. Ready = an LDAPS simple bind works (the TLS key/cert are generated on first start in private/tls/).
#    REQCERT=never only for this loopback readiness probe and the seed below; the tests validate the cert.
export LDAPTLS_REQCERT=never
ready=0
for _ in $(seq 1 300); do
  if ldapsearch -x -H ldaps://127.0.0.1 -D "Administrator@$REALM" -w "$ADMINPW" \
       -b "$BASE" -s base dn >/dev/null 2>&1; then ready=1; break; fi
  kill -0 $SPID 2>/dev/null || { echo "samba died"; tail -20 "$PREFIX/samba.log"; exit 1; }
  sleep 0.1
done
[[ $ready == 1 ]] || { echo "samba did not answer LDAPS within 30 s"; tail -20 "$PREFIX/samba.log"; exit 1; }

# 5. What samba-tool cannot set: manager, locality, recovery mailbox (otherMailbox, AD's usual choice).
ldapmodify -x -H ldaps://127.0.0.1 -D "Administrator@$REALM" -w "$ADMINPW" >/dev/null <<LDIF
dn: CN=John Doe,$STAFF
changetype: modify
replace: manager
manager: CN=Alice Smith,$STAFF
-
replace: l
l: Berlin
-
replace: otherMailbox
otherMailbox: john.private@example.net

dn: CN=Alice Smith,$STAFF
changetype: modify
replace: otherMailbox
otherMailbox: alice.home@example.net
LDIF

cat > "$PREFIX/env.sh" <<ENV
SAMBA_PREFIX='$PREFIX'
SAMBA_PID='$SPID'
SAMBA_CONF='$CONF'
AD_URI='ldap://127.0.0.1'
ADS_URI='ldaps://127.0.0.1'
AD_BASE='$BASE'
AD_STAFF='$STAFF'
AD_GROUPS='$GROUPS_DN'
AD_REALM='$REALM'
AD_DOMAIN='$DOMAIN'
AD_ADMIN_UPN='Administrator@$REALM'
AD_ADMIN_PW='$ADMINPW'
AD_BOT_UPN='helpdesk-bot@$REALM'
AD_BOT_PW='$BOTPW'
AD_USER_PW='$USERPW'
AD_CA='$PREFIX/private/tls/ca.pem'
AD_DC_FQDN='DC1.example.test'
ENV
echo "samba pid=$SPID prefix=$PREFIX"
