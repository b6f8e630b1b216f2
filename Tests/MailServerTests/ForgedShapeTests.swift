import Foundation
import LDAPClient
import Testing

// Security issue 11, second line of defence: the Postfix and Dovecot lookups refuse entry
// shapes the service never writes, whatever slapd's ACLs let through. The forged entries are
// written as the root DN, which may write anything, so these tests do not depend on the ACLs
// (only on what slapd itself enforces: schema, one structural class chain, slapo-unique).
// Every test also checks that the sample's own account / alias / group / shared mailbox still
// resolve in the same run, so nothing passes merely because a lookup is broken.
//
// Two limits cannot be expressed by a filter or scope; slapd's ACLs cover them instead
// (cn=dovecot and cn=postfix read attributes only at the positions where the service puts
// entries, schema/slapd/gen-acl.py), and these tests prove that too:
//   - the parent of an entry (an alias not under an account, a credential not under its
//     account): Postfix and Dovecot cannot read a parent, and cn=dovecot may not search entryDN;
//   - the entries a group's `member` DNs point to: Postfix reads them with a fixed
//     "objectclass=*" base search.

/// The forged entries, planted once per test process inside the sample workspace (a unit of
/// their own and `ou=invitations`), next to four legitimate victims.
struct ForgedShapes: Sendable {
    let sample: SampleDirectory
    /// Unique per process, so the planted domain and invitation ids never collide.
    let tag: String
    var unitDN: String { "ou=forged,\(sample.workspaceDN)" }
    var invitationsDN: String { "ou=invitations,\(sample.workspaceDN)" }
    /// A domain "claimed" by a gwWorkspace entry planted inside a unit.
    var squatDomain: String { "squat-\(tag).example" }

    func address(_ local: String) -> String { sample.address(local) }
    func password(_ uid: String) -> String { sample.password(uid) }
    func mailPassword(_ uid: String) -> String { sample.mailPassword(uid) }
    static let forgedPassword = "Forged-Credential-Pw"

    private static let shared = SharedTask()

    static func get() async throws -> ForgedShapes {
        try await shared.value()
    }

    private actor SharedTask {
        var task: Task<ForgedShapes, any Error>?
        func value() async throws -> ForgedShapes {
            if let task { return try await task.value }
            let task = Task {
                let sample = try await SampleDirectory.get()
                let forged = ForgedShapes(sample: sample, tag: String(sample.domain.prefix { $0 != "." }))
                try await forged.plant()
                return forged
            }
            self.task = task
            return try await task.value
        }
    }

    private func plant() async throws {
        let root = sample.fixture.rootConnection()
        defer { root.close() }
        func add(_ dn: String, _ attributes: [LDAPAttribute]) async throws {
            _ = try await root.add(dn: dn.parsedDN, attributes: attributes)
        }
        try await add(unitDN, [
            LDAPAttribute("objectClass", ["organizationalUnit", "gwOrgUnit"]), LDAPAttribute("ou", "forged"),
        ])
        try await add(invitationsDN, [
            LDAPAttribute("objectClass", ["organizationalUnit"]), LDAPAttribute("ou", "invitations"),
        ])
        let all = ["imap", "pop3", "smtp"]
        func account(_ uid: String, classes: [String] = ["inetOrgPerson", "gwAccount"], _ extra: [LDAPAttribute] = []) async throws -> String {
            let dn = "uid=\(uid),\(unitDN)"
            try await add(dn, [
                LDAPAttribute("objectClass", classes),
                LDAPAttribute("uid", uid), LDAPAttribute("cn", uid), LDAPAttribute("sn", uid),
                LDAPAttribute("mail", address(uid)), LDAPAttribute("userPassword", password(uid)),
                LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwServiceType", "both"),
                LDAPAttribute("gwEnabledService", all),
            ] + extra)
            return dn
        }
        func credential(_ dn: String, for owner: String, password: String) async throws {
            try await add(dn, [
                LDAPAttribute("objectClass", ["gwMailCredential"]), LDAPAttribute("cn", "mail-password"),
                LDAPAttribute("userPassword", password), LDAPAttribute("gwCredentialFor", address(owner)),
            ])
        }
        func invitation(_ id: String, mail: String, classes: [String] = ["gwInvitation"], _ extra: [LDAPAttribute] = []) async throws -> String {
            let dn = "gwInvitationId=\(id)-\(tag),\(invitationsDN)"
            try await add(dn, [
                LDAPAttribute("objectClass", classes), LDAPAttribute("gwInvitationId", "\(id)-\(tag)"),
                LDAPAttribute("mail", mail),
            ] + extra)
            return dn
        }

        // Legitimate victims, written as the service writes them.
        _ = try await account("victim")                                             // account password only
        _ = try await account("otpvictim", [LDAPAttribute("gwOtpEnabled", "TRUE")]) // OTP, no mail-only password
        let mpvictim = try await account("mpvictim", [                              // OTP + mail-only password
            LDAPAttribute("gwOtpEnabled", "TRUE"), LDAPAttribute("gwMailPasswordSet", "TRUE"),
        ])
        try await credential("cn=mail-password,\(mpvictim)", for: "mpvictim", password: mailPassword("mpvictim"))
        _ = try await account("decoyvictim")

        // 1. A gwWorkspace planted inside a unit, squatting a domain.
        try await add("o=squat,\(unitDN)", [
            LDAPAttribute("objectClass", ["gwWorkspace"]), LDAPAttribute("o", "squat"),
            LDAPAttribute("gwMailDomain", squatDomain),
        ])

        // 2. extensibleObject entries carrying every mail attribute.
        //    An organizationalUnit that is also account, shared mailbox and group:
        try await add("ou=xo,\(unitDN)", [
            LDAPAttribute("objectClass", ["organizationalUnit", "extensibleObject", "gwAccount", "gwSharedMailbox", "gwMailGroup"]),
            LDAPAttribute("ou", "xo"), LDAPAttribute("uid", "xo"), LDAPAttribute("mail", address("xo")),
            LDAPAttribute("userPassword", password("xo")),
            LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwServiceType", "both"),
            LDAPAttribute("gwEnabledService", all),
            LDAPAttribute("member", ["uid=victim,\(unitDN)"]),
            LDAPAttribute("gwDeliverTo", address("victim+xo")), LDAPAttribute("gwOwnerAddress", address("victim")),
        ])
        //    An alias and a group that carry extensibleObject on their proper structural class:
        try await add("mail=\(address("xa")),\(unitDN)", [
            LDAPAttribute("objectClass", ["gwMailAlias", "extensibleObject"]), LDAPAttribute("mail", address("xa")),
            LDAPAttribute("gwDeliverTo", address("victim+xa")), LDAPAttribute("gwOwnerAddress", address("victim")),
        ])
        try await add("cn=xg,\(unitDN)", [
            LDAPAttribute("objectClass", ["groupOfNames", "gwMailGroup", "extensibleObject"]), LDAPAttribute("cn", "xg"),
            LDAPAttribute("mail", address("xg")), LDAPAttribute("member", ["uid=victim,\(unitDN)"]),
        ])
        //    An admin group turned into a mail list (gwAdminGroup + gwMailGroup, no extensibleObject):
        try await add("cn=admins,\(unitDN)", [
            LDAPAttribute("objectClass", ["groupOfNames", "gwAdminGroup", "gwMailGroup"]), LDAPAttribute("cn", "admins"),
            LDAPAttribute("mail", address("xadmins")), LDAPAttribute("member", ["uid=victim,\(unitDN)"]),
        ])
        //    gwAccount on the wrong structural class (organizationalUnit, no extensibleObject):
        try await add("ou=xou,\(unitDN)", [
            LDAPAttribute("objectClass", ["organizationalUnit", "gwAccount"]), LDAPAttribute("ou", "xou"),
            LDAPAttribute("uid", "xou"), LDAPAttribute("mail", address("xou")), LDAPAttribute("userPassword", password("xou")),
            LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwEnabledService", all),
        ])

        // 3. Invitations: the one entry kind slapo-unique lets repeat an address.
        //    A credential below an invitation that carries the address it names:
        for victim in ["victim", "otpvictim", "mpvictim"] {
            let invitation = try await invitation("cred-\(victim)", mail: address(victim))
            try await credential("cn=mail-password,\(invitation)", for: victim, password: Self.forgedPassword)
        }
        //    A decoy: an invitation that also claims to be decoyvictim's account.
        _ = try await invitation("decoy", mail: address("decoyvictim"), classes: ["gwInvitation", "gwAccount"], [
            LDAPAttribute("uid", "decoyvictim"), LDAPAttribute("gwAccountStatus", "active"),
            LDAPAttribute("gwServiceType", "both"), LDAPAttribute("gwEnabledService", all),
        ])

        // 4. A real-looking account with an extra extensibleObject class.
        _ = try await account("xp", classes: ["inetOrgPerson", "gwAccount", "extensibleObject"])
        //    An account that is also a shared mailbox.
        _ = try await account("xboth", classes: ["inetOrgPerson", "gwAccount", "gwSharedMailbox"])

        // 5. An alias directly under a unit (no owning account).
        try await add("mail=\(address("ua")),\(unitDN)", [
            LDAPAttribute("objectClass", ["gwMailAlias"]), LDAPAttribute("mail", address("ua")),
            LDAPAttribute("gwDeliverTo", address("victim+ua")), LDAPAttribute("gwOwnerAddress", address("victim")),
        ])
        // 6. A legitimate group whose member DN names a forged entry (xou: organizationalUnit +
        //    gwAccount, a leaf, so Postfix would return its mail).
        try await add("cn=xmember,\(unitDN)", [
            LDAPAttribute("objectClass", ["groupOfNames", "gwMailGroup"]), LDAPAttribute("cn", "xmember"),
            LDAPAttribute("mail", address("xmember")), LDAPAttribute("member", ["ou=xou,\(unitDN)", "uid=victim,\(unitDN)"]),
        ])
    }
}

/// The maps as main.cf wires them, by file.
private enum Map {
    static let domains = "ldap-virtual-mailbox-domains.cf"
    static let mailboxes = "ldap-virtual-mailbox-maps.cf"
    static let aliases = "ldap-virtual-alias-maps.cf"
    static let groups = "ldap-virtual-group-maps.cf"
    static let senders = "ldap-sender-login-maps.cf"
    static let addressMaps = [mailboxes, aliases, groups, senders]
}

/// The sample's own entries still resolve: a test cannot pass because a lookup is broken.
private func expectLegitimatePostfix(_ postfix: PostfixConfig, _ sample: SampleDirectory, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let d = sample.domain
    #expect(try postfix.querySet(d, Map.domains) == [d, sample.altDomain], sourceLocation: sourceLocation)
    #expect(try postfix.query(sample.address("alice"), Map.mailboxes) == "\(d)/alice/", sourceLocation: sourceLocation)
    #expect(try postfix.query(sample.address("help"), Map.mailboxes) == "\(d)/help/", sourceLocation: sourceLocation)
    #expect(try postfix.query(sample.address("al"), Map.aliases) == sample.address("alice+Sales"), sourceLocation: sourceLocation)
    #expect(try postfix.querySet(sample.address("team"), Map.groups) == Set(["alice", "bob", "minjun", "dave"].map(sample.address)), sourceLocation: sourceLocation)
    #expect(try postfix.query(sample.address("alice"), Map.senders) == sample.address("alice"), sourceLocation: sourceLocation)
    #expect(try postfix.query(sample.address("al"), Map.senders) == sample.address("alice"), sourceLocation: sourceLocation)
}

private func expectLegitimateDovecot(_ dovecot: DovecotServer, _ sample: SampleDirectory, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(try dovecot.login(sample.address("alice"), sample.password("alice")), sourceLocation: sourceLocation)
    #expect(try dovecot.login(sample.address("dave"), sample.mailPassword("dave")), sourceLocation: sourceLocation)
    #expect(try dovecot.userFields(sample.address("alice"))?["home"] != nil, sourceLocation: sourceLocation)
    #expect(try dovecot.userFields(sample.address("help"))?["home"] != nil, sourceLocation: sourceLocation)
}

@Suite struct ForgedShapeTests {
    /// slapd keeps one structural class chain per entry, even for the root DN with the Relax
    /// control. That is why the filters name the structural class of each shape and need not
    /// list the other structural classes (gwInvitation, gwMailAlias, referral, ...) as exclusions.
    @Test func slapdKeepsOneStructuralClassEvenForRootWithRelax() async throws {
        let forged = try await ForgedShapes.get()
        let root = forged.sample.fixture.rootConnection()
        defer { root.close() }
        let cases: [(uid: String, classes: [String], extra: [LDAPAttribute])] = [
            ("sx1", ["inetOrgPerson", "gwInvitation"], [LDAPAttribute("gwInvitationId", "sx1-\(forged.tag)")]),
            ("sx2", ["inetOrgPerson", "gwMailAlias"], []),
            ("sx3", ["inetOrgPerson", "referral"], [LDAPAttribute("ref", "ldap://example.net/")]),
        ]
        for (uid, classes, extra) in cases {
            let error = await #expect(throws: LDAPError.self, "\(classes)") {
                _ = try await root.add(dn: "uid=\(uid),\(forged.unitDN)".parsedDN, attributes: [
                    LDAPAttribute("objectClass", classes), LDAPAttribute("uid", uid),
                    LDAPAttribute("cn", uid), LDAPAttribute("sn", uid), LDAPAttribute("mail", forged.address(uid)),
                ] + extra, controls: [.relax])
            }
            #expect(error?.code == .objectClassViolation, "\(classes): \(String(describing: error))")
            #expect(error?.message.contains("structural object class chain") == true, "\(classes): \(String(describing: error))")
        }
    }

    @Test func workspaceSquattingADomainInsideAUnitIsIgnored() async throws {
        let forged = try await ForgedShapes.get()
        let postfix = try PostfixConfig(forged.sample)
        // search_base = ou=workspaces + scope = one: the planted o=squat,ou=forged,o=<ws> is never searched.
        #expect(try postfix.query(forged.squatDomain, Map.domains) == nil)
        #expect(try postfix.query(forged.squatDomain.uppercased(), Map.domains) == nil)
        try expectLegitimatePostfix(postfix, forged.sample)
    }

    @Test func extensibleObjectEntriesAreNeitherRoutedNorLogins() async throws {
        let forged = try await ForgedShapes.get()
        let postfix = try PostfixConfig(forged.sample)
        // xo: organizationalUnit + extensibleObject + gwAccount + gwSharedMailbox + gwMailGroup,
        // with mail, member, gwDeliverTo, gwOwnerAddress, status and services.
        // xa: gwMailAlias + extensibleObject; xg: groupOfNames + gwMailGroup + extensibleObject;
        // xadmins: an admin group with gwMailGroup; xou: organizationalUnit + gwAccount.
        for local in ["xo", "xa", "xg", "xadmins", "xou"] {
            for map in Map.addressMaps {
                #expect(try postfix.query(forged.address(local), map) == nil, "\(local) in \(map)")
            }
        }
        try expectLegitimatePostfix(postfix, forged.sample)
        try await withDovecot { dovecot, sample async throws in
            for local in ["xo", "xou"] {
                for service in ["imap", "pop3", "smtp"] {
                    #expect(try !dovecot.login(forged.address(local), forged.password(local), service: service), "\(local) \(service)")
                }
                #expect(try dovecot.userFields(forged.address(local)) == nil, "\(local)")
            }
            try expectLegitimateDovecot(dovecot, sample)
        }
    }

    @Test func forgedCredentialBelowAnInvitationNeverAuthenticates() async throws {
        let forged = try await ForgedShapes.get()
        try await withDovecot { dovecot, sample async throws in
            // Each victim has an invitation carrying their address with a cn=mail-password child
            // naming them (gwCredentialFor) and a password the forger knows.
            for victim in ["victim", "otpvictim", "mpvictim"] {
                for service in ["imap", "pop3", "smtp"] {
                    let result = try dovecot.authTest(forged.address(victim), ForgedShapes.forgedPassword, service: service)
                    #expect(result.status != 0, "\(victim) \(service): the forged credential opened the mailbox: \(result)")
                }
            }
            // otpvictim (OTP, no mail-only password) was the open door before: the forged
            // credential was passdb 2's only match. passdb 1's gate (gwdir_credential_class =
            // none) now leaves no credential for such an account; its account password stays
            // refused for mail as before.
            #expect(try !dovecot.login(forged.address("otpvictim"), forged.password("otpvictim")))
            // Not expressible by filter: Dovecot cannot tell a credential below an invitation from
            // one below the account. slapd's position rule hides it from cn=dovecot, so it is no
            // second match and the real logins do not fail closed ("multiple entries").
            #expect(try dovecot.login(forged.address("victim"), forged.password("victim")))
            #expect(try dovecot.login(forged.address("mpvictim"), forged.mailPassword("mpvictim")))
            try expectLegitimateDovecot(dovecot, sample)
        }
    }

    @Test func duplicateAddressDecoysDoNotBreakTheRealLogin() async throws {
        let forged = try await ForgedShapes.get()
        let victim = forged.address("decoyvictim")
        let postfix = try PostfixConfig(forged.sample)
        // The decoy (gwInvitation + gwAccount, decoyvictim's mail, active, all services) is not
        // inetOrgPerson, so no lookup sees a second entry: each still finds the real account.
        #expect(try postfix.query(victim, Map.mailboxes) == "\(forged.sample.domain)/decoyvictim/")
        #expect(try postfix.query(victim, Map.senders) == victim)
        try expectLegitimatePostfix(postfix, forged.sample)
        try await withDovecot { dovecot, sample async throws in
            for service in ["imap", "pop3", "smtp"] {
                let result = try dovecot.authTest(victim, forged.password("decoyvictim"), service: service)
                #expect(result.status == 0, "\(service): \(result) \(dovecot.logText)")
            }
            #expect(try dovecot.userFields(victim)?["home"] != nil)
            try expectLegitimateDovecot(dovecot, sample)
        }
    }

    @Test func accountWithAnExtraClassIsRefused() async throws {
        let forged = try await ForgedShapes.get()
        let postfix = try PostfixConfig(forged.sample)
        // xp: inetOrgPerson + gwAccount + extensibleObject; xboth: an account that is also a
        // shared mailbox. The service writes neither, so neither is a mailbox, sender or login.
        for local in ["xp", "xboth"] {
            for map in Map.addressMaps {
                #expect(try postfix.query(forged.address(local), map) == nil, "\(local) in \(map)")
            }
        }
        try expectLegitimatePostfix(postfix, forged.sample)
        try await withDovecot { dovecot, sample async throws in
            for local in ["xp", "xboth"] {
                #expect(try !dovecot.login(forged.address(local), forged.password(local)), "\(local)")
                #expect(try dovecot.userFields(forged.address(local)) == nil, "\(local)")
            }
            try expectLegitimateDovecot(dovecot, sample)
        }
    }

    /// Not expressible by filter or scope: an alias directly under a unit has the alias shape;
    /// only its position is wrong, Postfix cannot read the parent, and aliases sit at any depth
    /// (units nest). slapd lets cn=postfix read an alias's attributes only directly below an
    /// account, so it is neither routed nor a sender.
    @Test func aliasOutsideAnAccountIsHiddenByTheACLs() async throws {
        let forged = try await ForgedShapes.get()
        let postfix = try PostfixConfig(forged.sample)
        let alias = forged.address("ua")
        #expect(try postfix.query(alias, Map.aliases) == nil)
        #expect(try postfix.query(alias, Map.senders) == nil)
        // Its shape is right, so at least it is nothing else.
        #expect(try postfix.query(alias, Map.mailboxes) == nil)
        #expect(try postfix.query(alias, Map.groups) == nil)
        try expectLegitimatePostfix(postfix, forged.sample)
    }

    /// Not expressible by filter: Postfix reads each `member` DN with a base search and the
    /// fixed filter "objectclass=*", so a member naming a forged entry would add its mail.
    /// slapd lets cn=postfix read `mail` only of accounts, aliases and groups at their positions.
    @Test func groupMemberTargetsAreHiddenByTheACLs() async throws {
        let forged = try await ForgedShapes.get()
        let postfix = try PostfixConfig(forged.sample)
        let members = try postfix.querySet(forged.address("xmember"), Map.groups)
        #expect(members?.contains(forged.address("victim")) == true, "\(String(describing: members))")
        #expect(members?.contains(forged.address("xou")) == false)
        try expectLegitimatePostfix(postfix, forged.sample)
    }
}
