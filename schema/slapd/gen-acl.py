#!/usr/bin/env python3
"""Generate the olcAccess block of the main database in schema/slapd/config.ldif.

Usage: python3 schema/slapd/gen-acl.py [--write] [max_depth]   (default depth 8)
Prints the block; --write replaces the block between the '# BEGIN generated ACL' /
'# END generated ACL' markers of config.ldif in place (scripts/check-schema.sh verifies that
the committed block equals this output).

Design (see schema/README.md, "Access control"): first matching <what> wins; every rule ends
with `by * break` so later rules can still grant. Secrets (userPassword, gwOtpSecret,
gwTokenHash) are never readable except gwOtpSecret/gwTokenHash by the gwdir service.
Unit scope is generic: one rule per nesting depth d (1..max_depth) captures the depth-d
ancestor unit of the target and grants write to members of cn=admins,<that unit>.
"""
import os
import sys

args = sys.argv[1:]
WRITE = "--write" in args
args = [a for a in args if a != "--write"]
MAX = int(args[0]) if args else 8
B = "{{BASE_DN}}"
WS = "ou=workspaces," + B
GWDIR = "cn=gwdir,ou=system," + B
DOVECOT = "cn=dovecot,ou=system," + B
POSTFIX = "cn=postfix,ou=system," + B
SUPER = "cn=superadmins,ou=system," + B
ROOT = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
SEC = "userPassword,gwOtpSecret,gwTokenHash"
SEG = "[^,]+"                      # one RDN value (the service refuses ',' in unit/uid/o values)
WSRE = "o=%s,ou=workspaces,%s" % (SEG, B)

out = []
def acl(what, *bys):
    out.append("olcAccess: to %s %s" % (what, " ".join(bys)))

def unit_re(d):
    """regex for the DN of a unit at depth d, as one capture group, inner groups following"""
    # repetition written out: slapd's cn=config treats "{n}" specially in places
    return "(ou=%s,%s%s)" % (SEG, "ou=%s," % SEG * (d - 1), WSRE)

acl("*", 'by dn.exact="%s" manage' % ROOT, "by * break")
# --- secrets: nobody reads userPassword; gwdir reads gwOtpSecret (TOTP check) and gwTokenHash
acl("attrs=userPassword", 'by dn.exact="%s" =w' % GWDIR, "by anonymous auth", "by self =wx", "by * break")
acl("attrs=gwOtpSecret,gwTokenHash", 'by dn.exact="%s" write' % GWDIR, "by * break")
# --- the gwdir service manages everything else
acl("*", 'by dn.exact="%s" manage' % GWDIR, "by * break")
# --- super admins: all workspaces, write-only on secrets
acl('dn.subtree="%s" attrs=%s' % (WS, SEC), 'by group.exact="%s" =w' % SUPER, "by * break")
acl('dn.subtree="%s"' % WS, 'by group.exact="%s" write' % SUPER, "by * break")
acl('dn.subtree="ou=system,%s"' % B, 'by group.exact="%s" read' % SUPER, "by * break")
acl('dn.subtree="ou=policies,%s"' % B, 'by group.exact="%s" read' % SUPER, "by * break")
# --- mail-only credentials. Dovecot logs an address in with any gwMailCredential whose
#     gwCredentialFor is that address, so a credential counts only directly below the entry whose
#     mail it names: otherwise a unit admin could add `cn=x,ou=<own unit>` with gwCredentialFor of
#     a workspace admin (or a workspace admin one for another workspace's address) and read that
#     mailbox over IMAP. slapd checks no attribute ACLs on add, so the entry is guarded (`this` is
#     the entry being added) and, for modify, each gwCredentialFor value written. A credential
#     that does not match is invisible and untouchable for all but the service and super admins.
wsr = '"^(.*,)?(%s)$"' % WSRE
cred = '"^[^,]+,((.+,)?%s)$"' % WSRE
acl("dn.regex=%s filter=(objectClass=gwMailCredential) attrs=entry,gwCredentialFor" % cred,
    'by set.expand="this/gwCredentialFor & [$1]/mail" break', "by * none")
acl('dn.regex=%s filter=(objectClass=gwMailCredential) attrs=gwCredentialFor val.regex="^(.+)$"' % cred,
    'by set.expand="[${v1}] & [$1]/mail" break', "by * none")
# --- workspace admins: cn=admins,o=<ws> manage the whole workspace (incl. the o= entry itself)
acl("dn.regex=%s attrs=%s" % (wsr, SEC), 'by group.expand="cn=admins,$2" =w', "by * break")
acl("dn.regex=%s" % wsr, 'by group.expand="cn=admins,$2" write', "by * break")
# --- mail servers: read exactly what their lookups read, nothing else, never write
acl('dn.subtree="%s" attrs=entry,objectClass,mail,uid,gwAccountStatus' % WS,
    'by dn.exact="%s" read' % DOVECOT, 'by dn.exact="%s" read' % POSTFIX, "by * break")
acl('dn.subtree="%s" attrs=gwEnabledService,gwMailQuota,gwMailPasswordSet,gwOtpEnabled,gwCredentialFor' % WS,
    'by dn.exact="%s" read' % DOVECOT, "by * break")
acl('dn.subtree="%s" attrs=gwMailDomain,gwDeliverTo,gwOwnerAddress,member,gwServiceType' % WS,
    'by dn.exact="%s" read' % POSTFIX, "by * break")
acl("*", 'by dn.exact="%s" none' % DOVECOT, 'by dn.exact="%s" none' % POSTFIX, "by * break")
# --- accounts holding an admin role (and their aliases / mail credential) are out of reach of
#     unit admins: otherwise a unit admin could reset a workspace admin's password.
acct = '"^(.*,)?(uid=%s,(ou=%s,)*(%s))$"' % (SEG, SEG, WSRE)
protected = "[$2]/memberOf/cn & ([admins] | [superadmins])"
acl("dn.regex=%s attrs=%s" % (acct, SEC),
    'by set.expand="%s" none' % protected, "by * break")
acl("dn.regex=%s" % acct,
    'by dn.subtree,expand="$4" set.expand="(%s) + (user/memberOf/cn & [admins])" read' % protected,
    "by * break")
# --- a unit's own cn=admins: writable by admins of strictly enclosing units, readable by its
#     members (a unit admin can not add admins to their own unit = can not grant themselves more)
for d in range(1, MAX + 1):
    # $1 = own unit, $2 = parent unit, ..., $d = depth-1 unit
    r = WSRE
    for _ in range(d):
        r = "(ou=%s,%s)" % (SEG, r)
    bys = ['by group.expand="cn=admins,$%d" write' % i for i in range(2, d + 1)]
    bys += ['by group.expand="cn=admins,$1" read', "by * break"]
    acl('dn.regex="^cn=admins,%s$"' % r, *bys)
# --- unit admins: secrets write-only, billing id read-only, everything else write
for d in range(1, MAX + 1):
    acl('dn.regex="^(.*,)?%s$" attrs=%s' % (unit_re(d), SEC),
        'by group.expand="cn=admins,$2" =w', "by * break")
#     (a unit carrying a gwBillingId is added, moved and deleted by workspace admins only: slapd
#     checks no attribute ACLs on add, so the entry is guarded)
acl("dn.regex=%s filter=(gwBillingId=*) attrs=entry" % wsr,
    'by dn.subtree,expand="$2" read', 'by group.expand="cn=members,$2" read', "by * none")
acl("dn.regex=%s attrs=gwBillingId" % wsr, 'by dn.subtree,expand="$2" read', "by * none")
for d in range(1, MAX + 1):
    acl('dn.regex="^(.*,)?%s$"' % unit_re(d), 'by group.expand="cn=admins,$2" write', "by * break")
# --- nobody else gets anything on secrets
acl("attrs=%s" % SEC, "by * none")
# --- members of a workspace (and its guests) read its public directory data (org chart,
#     address book); a user reads their own entry and its children (aliases, mail credential)
acl("dn.regex=%s attrs=entry,objectClass,o,ou,cn,sn,givenName,displayName,mail,uid,description,gwMailDomain,member" % wsr,
    'by dn.subtree,expand="$2" read', 'by group.expand="cn=members,$2" read', "by * break")
acl("dn.regex=%s" % acct, 'by dn.exact,expand="$2" read', "by * break")
acl('dn.base="%s"' % WS, "by users search", "by * none")
acl("*", "by * none")

block = "\n".join(out) + "\n"
if WRITE:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.ldif")
    text = open(path, encoding="utf-8").read()
    begin = text.index("# BEGIN generated ACL")
    end = text.index("# END generated ACL")
    text = text[:begin] + "# BEGIN generated ACL (python3 schema/slapd/gen-acl.py)\n" + block + text[end:]
    open(path, "w", encoding="utf-8").write(text)
else:
    sys.stdout.write(block)
