#!/usr/bin/env python3
"""Generate the olcAccess block of the main database in schema/slapd/config.ldif.

Usage: python3 schema/slapd/gen-acl.py [--write] [max_depth]   (default depth 8)
Prints the block; --write replaces the block between the '# BEGIN generated ACL' /
'# END generated ACL' markers of config.ldif in place (scripts/check-schema.sh verifies that
the committed block equals this output).

Design (README "Security model", schema/README.md "Access control"): default deny, and
**only the gwdir service writes** below ou=workspaces. slapd 2.5's ACLs guard places, not
shapes: an add checks no attribute values unless olcAddContentAcl is on, a rename checks
nothing on the new DN or RDN (SLAPD-ACL-FACTS), and "not on an account that holds an admin
role" needs a negated set, which the set language has not. So admins (super, workspace, unit)
get read access in their scope and no raw write at all; the service authenticates them
(`--as`), checks their scope in Swift (Directory/Security/WriteGate) and writes as itself.
Users keep the one write an ACL guards exactly: their own password (=wx). The mail servers
read only the attributes their lookups read, and only at the positions where the service puts
the entries (a planted entry elsewhere is invisible to Postfix and Dovecot).

First matching <what> wins; rules that grant end with `by * break` so later rules can still
grant. Secrets (userPassword, gwOtpSecret, gwTokenHash) are never readable except
gwOtpSecret/gwTokenHash by the gwdir service. Unit scope: one rule per nesting depth d
(1..max_depth) captures the depth-d ancestor unit of the target and grants read to members of
cn=admins,<that unit>.
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
UNITS = "(ou=%s,)+%s" % (SEG, WSRE)           # a unit at any depth
ACCT = "uid=%s,%s" % (SEG, UNITS)            # accounts and shared mailboxes: directly under a unit

out = []
def acl(what, *bys):
    out.append("olcAccess: to %s %s" % (what, " ".join(bys)))

def unit_re(d):
    """regex for the DN of a unit at depth d, as one capture group, inner groups following"""
    # repetition written out: slapd's cn=config treats "{n}" specially in places
    return "(ou=%s,%s%s)" % (SEG, "ou=%s," % SEG * (d - 1), WSRE)

acl("*", 'by dn.exact="%s" manage' % ROOT, "by * break")
# --- identities below an account (the mail-only credential cn=mail-password) bind for IMAP,
#     POP3 and SMTP only: through LDAP they see nothing, not even the address book
#     The service accounts, which never match, skip the pattern by name first: they send most
#     operations, and an exact DN is a compare where the pattern costs slapd a regexec each time.
acl("*", 'by dn.exact="%s" break' % GWDIR, 'by dn.exact="%s" break' % DOVECOT, 'by dn.exact="%s" break' % POSTFIX,
    'by dn.regex="^%s,%s$" none' % (SEG, ACCT), "by * break")
# --- secrets: nobody reads userPassword; a user changes their own; gwdir reads gwOtpSecret
#     (TOTP check) and gwTokenHash (token lookup) and writes all three
acl("attrs=userPassword", 'by dn.exact="%s" =w' % GWDIR, "by anonymous auth", "by self =wx", "by * none")
acl("attrs=gwOtpSecret,gwTokenHash", 'by dn.exact="%s" write' % GWDIR, "by * none")
# --- the gwdir service manages everything else (it alone writes below ou=workspaces)
acl("*", 'by dn.exact="%s" manage' % GWDIR, "by * break")
# --- mail-only credentials. Dovecot logs an address in with any gwMailCredential whose
#     gwCredentialFor is that address, so a credential counts only directly below the entry whose
#     mail it names. Only the service writes them; this is the second line: one that does not
#     match is invisible and untouchable for everyone but the service and root.
cred = '"^[^,]+,((.+,)?%s)$"' % WSRE
acl("dn.regex=%s filter=(objectClass=gwMailCredential) attrs=entry,gwCredentialFor" % cred,
    'by set.expand="this/gwCredentialFor & [$1]/mail" break', "by * none")
acl('dn.regex=%s filter=(objectClass=gwMailCredential) attrs=gwCredentialFor val.regex="^(.+)$"' % cred,
    'by set.expand="[${v1}] & [$1]/mail" break', "by * none")
# --- mail servers: read exactly what their lookups read, at the positions where the service
#     writes those entries, nothing else, never write
MS = ('by dn.exact="%s" read' % DOVECOT, 'by dn.exact="%s" read' % POSTFIX)
acl('dn.regex="^%s$" attrs=objectClass,mail,uid,gwAccountStatus' % ACCT, *MS, "by * break")
acl('dn.regex="^%s$" attrs=gwEnabledService,gwMailQuota,gwMailPasswordSet,gwOtpEnabled' % ACCT,
    MS[0], "by * break")
acl('dn.regex="^%s$" attrs=gwServiceType' % ACCT, MS[1], "by * break")
acl('dn.regex="^cn=mail-password,%s$" attrs=objectClass,gwCredentialFor' % ACCT, MS[0], "by * break")
acl('dn.regex="^mail=%s,%s$" attrs=objectClass,mail,gwDeliverTo,gwOwnerAddress' % (SEG, ACCT), MS[1], "by * break")
# Dovecot's LMTP userdb 1 (docker/dovecot/dovecot-ldap-userdb-alias.conf.ext) maps an alias to its
# owner and folder: the Sieve step files alias mail by gwAliasFolder (README, "Alias folders").
acl('dn.regex="^mail=%s,%s$" attrs=objectClass,mail,gwAliasFolder,gwOwnerAddress' % (SEG, ACCT), MS[0], "by * break")
acl('dn.regex="^cn=%s,%s$" attrs=objectClass,mail,member' % (SEG, UNITS), MS[1], "by * break")
acl('dn.regex="^%s$" attrs=objectClass,gwMailDomain' % WSRE, MS[1], "by * break")
acl('dn.subtree="%s" attrs=entry' % WS, *MS, "by * break")
acl("*", 'by dn.exact="%s" none' % DOVECOT, 'by dn.exact="%s" none' % POSTFIX, "by * break")
# --- super admins: read all workspaces, ou=system and ou=policies (they write through the service)
acl('dn.subtree="%s"' % WS, 'by group.exact="%s" read' % SUPER, "by * break")
acl('dn.subtree="ou=system,%s"' % B, 'by group.exact="%s" read' % SUPER, "by * break")
acl('dn.subtree="ou=policies,%s"' % B, 'by group.exact="%s" read' % SUPER, "by * break")
# --- workspace admins: cn=admins,o=<ws> read the whole workspace (incl. the o= entry)
wsr = '"^(.*,)?(%s)$"' % WSRE
acl("dn.regex=%s" % wsr, 'by group.expand="cn=admins,$2" read', "by * break")
# --- unit admins: read their unit's subtree (the unit entry, sub-units, accounts, groups)
for d in range(1, MAX + 1):
    acl('dn.regex="^(.*,)?%s$"' % unit_re(d), 'by group.expand="cn=admins,$2" read', "by * break")
# --- members of a workspace (accounts below o=<ws>) and its guests (cn=members,o=<ws>) read
#     its public directory data (org chart, address book): names and addresses, no status,
#     quota, last login or settings
acl("dn.regex=%s attrs=entry,objectClass,o,ou,cn,sn,givenName,displayName,mail,uid,description,gwMailDomain,member" % wsr,
    'by dn.subtree,expand="$2" read', 'by group.expand="cn=members,$2" read', "by * break")
# --- a user reads their own entry and its children (aliases, mail credential) except secrets
acct = '"^(.*,)?(%s)$"' % ACCT
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
