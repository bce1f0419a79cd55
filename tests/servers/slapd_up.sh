#!/usr/bin/env bash
# Throwaway OpenLDAP (slapd 2.5 + ppolicy + memberof) for frontdesk's tests and benchmark.
# Adapted from the team's measured recipe; the project must not depend on it at run time.
#   Usage:  slapd_up.sh WORKDIR            (created if missing)
#   Env:    LDAP_PORT, LDAPS_PORT (free ports chosen by the caller), SLAPD_DEBUG (stats; 0 = quiet)
#   Result: WORKDIR/env.sh (KEY='value' lines), WORKDIR/slapd.pid.fg, WORKDIR/slapd.log
#   Stop:   kill "$(cat WORKDIR/slapd.pid.fg)"   (SIGTERM = clean mdb shutdown)
# Runs as root or as any user: ports > 1024 and everything lives under WORKDIR.
set -euo pipefail
: "${LDAP_PORT:?set LDAP_PORT}" "${LDAPS_PORT:?set LDAPS_PORT}"
WD=${1:?usage: slapd_up.sh WORKDIR}
mkdir -p "$WD"; WD=$(cd "$WD" && pwd)
SUFFIX="dc=example,dc=org"; ROOTDN="cn=admin,$SUFFIX"; ROOTPW="admin-secret"
BOTDN="cn=helpdesk-bot,ou=services,$SUFFIX"; BOTPW="bot-secret"
PEOPLE="ou=people,$SUFFIX"; GROUPS_DN="ou=groups,$SUFFIX"
mkdir -p "$WD/db" "$WD/tls"

# 1. Self-signed cert. The SAN lists IP 127.0.0.1, localhost AND $(hostname): libldap tools replace
#    "localhost" with the machine hostname when they check the server name.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,DNS:$(hostname),IP:127.0.0.1" \
  -keyout "$WD/tls/key.pem" -out "$WD/tls/cert.pem" 2>/dev/null
chmod 600 "$WD/tls/key.pem"

# 2. A recovery (private) mailbox for people. inetOrgPerson has no attribute for it; cosine's otherMailbox
#    (the attribute AD uses for the same purpose) is only allowed by the structural pilotPerson class, so we
#    allow it through a one-line auxiliary class. A real deployment either does the same or points
#    FRONTDESK_RECOVERY_EMAIL_ATTRIBUTE at whatever attribute it already has. OID: UUID arc 2.25 (RFC 4122).
cat > "$WD/frontdesk.schema" <<'SCHEMA'
objectclass ( 2.25.183730302513164738711094380346946522401 NAME 'frontdeskPerson'
	DESC 'frontdesk: allows a recovery mailbox on a person'
	SUP top AUXILIARY
	MAY ( otherMailbox ) )
SCHEMA

# 3. Static config (slapd.conf style).
cat > "$WD/slapd.conf" <<CONF
include  /etc/ldap/schema/core.schema
include  /etc/ldap/schema/cosine.schema
include  /etc/ldap/schema/nis.schema
include  /etc/ldap/schema/inetorgperson.schema
include  $WD/frontdesk.schema
# 2.5+: the ppolicy schema is built into the overlay module
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
moduleload memberof
pidfile  $WD/slapd.pid
argsfile $WD/slapd.args
TLSCertificateFile    $WD/tls/cert.pem
TLSCertificateKeyFile $WD/tls/key.pem
password-hash {SSHA}

database mdb
maxsize  67108864
suffix   "$SUFFIX"
rootdn   "$ROOTDN"
rootpw   $(slappasswd -s "$ROOTPW")
directory $WD/db
index objectClass eq
index uid,mail,cn eq
index member,memberOf eq

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

overlay ppolicy
ppolicy_default "cn=default,ou=policies,$SUFFIX"
ppolicy_use_lockout
ppolicy_hash_cleartext

# The helpdesk bot may reset passwords, clear lockout/reset state and edit group members; nothing else.
# ppolicy treats whoever has *manage* on userPassword as a "password admin" (quality/history checks skipped,
# pwdReset set automatically). With =w the bot is a normal writer: the policy is enforced and the bot sets
# pwdReset itself. Never give it manage.
access to attrs=userPassword
  by dn.exact="$BOTDN" =w
  by self write
  by anonymous auth
  by * none
# unlock = delete pwdAccountLockedTime (ppolicy then drops pwdFailureTime itself); pwdReset = must change
access to attrs=pwdAccountLockedTime,pwdReset
  by dn.exact="$BOTDN" write
  by users read
  by * none
access to dn.subtree="$GROUPS_DN" attrs=member
  by dn.exact="$BOTDN" write
  by users read
  by * none
access to *
  by users read
  by * none
CONF
slaptest -Q -u -f "$WD/slapd.conf"

# 4. Start in the foreground (-d keeps it from forking) as a background job, so the caller owns the pid.
slapd -f "$WD/slapd.conf" -h "ldap://127.0.0.1:$LDAP_PORT/ ldaps://127.0.0.1:$LDAPS_PORT/" \
      -d "${SLAPD_DEBUG:-stats}" > "$WD/slapd.log" 2>&1 &
SLAPD_PID=$!
echo "$SLAPD_PID" > "$WD/slapd.pid.fg"

# 5. Wait until the rootdn can bind.
for _ in $(seq 1 200); do
  if ldapwhoami -x -H "ldap://127.0.0.1:$LDAP_PORT" -D "$ROOTDN" -w "$ROOTPW" >/dev/null 2>&1; then break; fi
  kill -0 $SLAPD_PID 2>/dev/null || { echo "slapd died:"; tail -20 "$WD/slapd.log"; exit 1; }
  sleep 0.05
done

# 6. Seed online, so the memberof/ppolicy overlays process it and cleartext passwords get hashed.
ldapadd -x -H "ldap://127.0.0.1:$LDAP_PORT" -D "$ROOTDN" -w "$ROOTPW" >/dev/null <<LDIF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
o: Example Org
dc: example

dn: $PEOPLE
objectClass: organizationalUnit
ou: people

dn: $GROUPS_DN
objectClass: organizationalUnit
ou: groups

dn: ou=services,$SUFFIX
objectClass: organizationalUnit
ou: services

dn: ou=policies,$SUFFIX
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,$SUFFIX
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMaxFailure: 3
pwdLockout: TRUE
pwdLockoutDuration: 0
pwdFailureCountInterval: 0
pwdMustChange: TRUE
pwdAllowUserChange: TRUE
pwdInHistory: 3
pwdMinLength: 8
pwdCheckQuality: 1

dn: $BOTDN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: helpdesk-bot
userPassword: $BOTPW

dn: uid=alice,$PEOPLE
objectClass: inetOrgPerson
objectClass: frontdeskPerson
uid: alice
cn: Alice Anders
sn: Anders
givenName: Alice
displayName: Alice Anders
mail: alice@example.org
otherMailbox: alice.private@example.net
title: CTO
departmentNumber: 100
l: Berlin
userPassword: Alice-pass-1

dn: uid=bob,$PEOPLE
objectClass: inetOrgPerson
objectClass: frontdeskPerson
uid: bob
cn: Bob Brown
sn: Brown
mail: bob@example.org
otherMailbox: bob.home@example.net
title: Engineer
departmentNumber: 110
l: Berlin
manager: uid=alice,$PEOPLE
userPassword: Bob-pass-1

dn: uid=carol,$PEOPLE
objectClass: inetOrgPerson
uid: carol
cn: Carol Chen
sn: Chen
mail: carol@example.org
title: Accountant
departmentNumber: 200
physicalDeliveryOfficeName: Hamburg HQ
manager: uid=alice,$PEOPLE
userPassword: Carol-pass-1

dn: uid=dave,$PEOPLE
objectClass: inetOrgPerson
uid: dave
cn: Dave (Ops) O*Neil
sn: O*Neil
mail: dave.o*neil(ops)@example.org
title: Operator
departmentNumber: 110
manager: uid=bob,$PEOPLE
userPassword: Dave-pass-1

dn: cn=vpn-users,$GROUPS_DN
objectClass: groupOfNames
cn: vpn-users
member: uid=alice,$PEOPLE
member: uid=bob,$PEOPLE

dn: cn=finance,$GROUPS_DN
objectClass: groupOfNames
cn: finance
member: uid=carol,$PEOPLE

dn: cn=ldap-admins,$GROUPS_DN
objectClass: groupOfNames
cn: ldap-admins
description: people who administer the directory (a protected group in the tests)
member: uid=alice,$PEOPLE
LDIF

cat > "$WD/env.sh" <<ENV
SLAPD_WORKDIR='$WD'
SLAPD_PID='$SLAPD_PID'
LDAP_URI='ldap://127.0.0.1:$LDAP_PORT'
LDAPS_URI='ldaps://127.0.0.1:$LDAPS_PORT'
LDAP_CA='$WD/tls/cert.pem'
LDAP_BASE='$SUFFIX'
LDAP_PEOPLE='$PEOPLE'
LDAP_GROUPS='$GROUPS_DN'
LDAP_POLICY='cn=default,ou=policies,$SUFFIX'
LDAP_ADMIN_DN='$ROOTDN'
LDAP_ADMIN_PW='$ROOTPW'
LDAP_BOT_DN='$BOTDN'
LDAP_BOT_PW='$BOTPW'
ENV
echo "slapd pid=$SLAPD_PID workdir=$WD"
