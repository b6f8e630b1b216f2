import Directory
import Foundation
import LDAPClient
import Testing
import TestSupport

// Security issue 11, the adversarial suite: every principal that can bind (unit admin, sub-unit
// admin, workspace admin, user, a user's mail-only credential, the two mail servers, anonymous)
// tries raw LDAP writes against entries the gwdir service wrote, and none of them may land except
// a user changing their own password. Afterwards the directory, Debian's Postfix and Dovecot must
// see exactly what they saw before. The world is provisioned through the services bound as the
// gwdir service account, as the CLI does; each test makes its own (unique workspace names).

// MARK: World

/// Two workspaces provisioned through the services: acme (units sales, sales/east, dev) and beta
/// (unit ops), with unit, workspace and sub-unit admins, a plain user with an alias and a
/// mail-only password, a group mail and a shared mailbox.
struct AdversaryWorld: Sendable {
    let fixture: DirectoryFixture
    let tag: String
    var acme: String { "acme-\(tag)" }
    var beta: String { "beta-\(tag)" }
    var acmeDomain: String { "\(acme).adv.test" }
    var betaDomain: String { "\(beta).adv.test" }
    /// Every name an attack invents contains this, so nothing legitimate matches it.
    var attackTag: String { "zq\(tag)" }
    /// A domain nobody owns, claimed by the attacks.
    var squatDomain: String { "squat-\(tag).adv.test" }
    /// An address in acme's domain that no entry has: the attacks route mail to it.
    var attackerAddress: String { "\(attackTag)-attacker@\(acmeDomain)" }
    static let attackPassword = "Attack-Pw-9!"
    /// An audit entry of alice as the spool's drainer writes it: `gwSpoolId` and `gwSpoolSeq`
    /// are the mark a replay after a crash trusts to skip what slapd already counted.
    var spooledEventDN = ""
    var spoolID: String { "adv-spool-\(tag)" }

    func acmeAddress(_ local: String) -> String { "\(local)@\(acmeDomain)" }
    func betaAddress(_ local: String) -> String { "\(local)@\(betaDomain)" }
    func password(_ login: String) -> String { "\(login)-Adv-Pw-1" }
    var aliceMailPassword: String { "alice-mail-only-Pw-1" }
    /// What a principal sets when it changes its own password (the allow-listed write).
    static func selfPassword(_ login: String) -> String { "\(login)-Self-Pw-2" }

    var base: String { fixture.baseDN }
    var workspacesDN: String { fixture.workspacesDN }
    var acmeDN: String { "o=\(acme),\(workspacesDN)" }
    var betaDN: String { "o=\(beta),\(workspacesDN)" }
    var salesDN: String { "ou=sales,\(acmeDN)" }
    var eastDN: String { "ou=east,\(salesDN)" }
    var devDN: String { "ou=dev,\(acmeDN)" }
    var opsDN: String { "ou=ops,\(betaDN)" }
    var samDN: String { "uid=sam,\(salesDN)" }
    var bossDN: String { "uid=boss,\(salesDN)" }
    var carlDN: String { "uid=carl,\(eastDN)" }
    var aliceDN: String { "uid=alice,\(salesDN)" }
    var daveDN: String { "uid=dave,\(devDN)" }
    var gusDN: String { "uid=gus,\(opsDN)" }
    var beaDN: String { "uid=bea,\(opsDN)" }
    var aliasDN: String { "mail=\(acmeAddress("al")),\(aliceDN)" }
    var credentialDN: String { "cn=mail-password,\(aliceDN)" }
    var teamDN: String { "cn=team,\(salesDN)" }
    var helpDN: String { "uid=help,\(salesDN)" }
    var acmeAdminsDN: String { "cn=admins,\(acmeDN)" }
    var salesAdminsDN: String { "cn=admins,\(salesDN)" }
    var eastAdminsDN: String { "cn=admins,\(eastDN)" }
    var betaAdminsDN: String { "cn=admins,\(betaDN)" }
    var superAdminsDN: String { "cn=superadmins,ou=system,\(base)" }
    var servicePolicyDN: String { "cn=service,ou=policies,\(base)" }

    /// The accounts whose logins Dovecot must keep exactly as they were.
    var victims: [(login: String, address: String, dn: String)] {
        [("alice", acmeAddress("alice"), aliceDN), ("sam", acmeAddress("sam"), samDN), ("boss", acmeAddress("boss"), bossDN),
         ("carl", acmeAddress("carl"), carlDN), ("dave", acmeAddress("dave"), daveDN), ("gus", betaAddress("gus"), gusDN),
         ("bea", betaAddress("bea"), beaDN)]
    }

    static func make() async throws -> AdversaryWorld {
        var world = AdversaryWorld(fixture: try DirectoryFixture.shared(), tag: String(UUID().uuidString.prefix(8)).lowercased())
        world.spooledEventDN = try await world.provision()
        return world
    }

    /// Returns the spooled audit entry's DN.
    private func provision() async throws -> String {
        let connection = fixture.gwdirConnection()
        defer { connection.close() }
        let context = DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: fixture.baseDN))
        _ = try await WorkspaceService(context).add(id: acme, displayName: "Acme", domains: [acmeDomain])
        _ = try await WorkspaceService(context).add(id: beta, displayName: "Beta", domains: [betaDomain])
        let units = UnitService(context)
        _ = try await units.add("sales", workspace: acme)
        _ = try await units.add("east", workspace: acme, parent: try UnitPath("sales"))
        _ = try await units.add("dev", workspace: acme)
        _ = try await units.add("ops", workspace: beta)
        let accounts = AccountService(context)
        for (login, workspace, unit, domain) in [
            ("sam", acme, "sales", acmeDomain), ("boss", acme, "sales", acmeDomain), ("carl", acme, "sales/east", acmeDomain),
            ("alice", acme, "sales", acmeDomain), ("dave", acme, "dev", acmeDomain), ("gus", beta, "ops", betaDomain),
            ("bea", beta, "ops", betaDomain),
        ] {
            _ = try await accounts.add(NewAccount(loginId: login, workspace: workspace, unit: try UnitPath(unit), firstName: login.capitalized,
                                                  lastName: "Adv", mail: "\(login)@\(domain)", password: password(login)))
        }
        let admins = AdminService(context)
        _ = try await admins.grant(acmeAddress("sam"), workspace: acme, unit: try UnitPath("sales"))
        _ = try await admins.grant(acmeAddress("boss"), workspace: acme)
        _ = try await admins.grant(acmeAddress("carl"), workspace: acme, unit: try UnitPath("sales/east"))
        _ = try await admins.grant(betaAddress("bea"), workspace: beta)
        _ = try await AliasService(context).add(owner: acmeAddress("alice"), alias: acmeAddress("al"), folder: "Sales")
        try await MailPasswordService(context: context).set(try MailAddress(acmeAddress("alice")), password: aliceMailPassword)
        let groups = GroupService(context)
        _ = try await groups.add(.group, address: acmeAddress("team"), workspace: acme, unit: try UnitPath("sales"),
                                 members: [acmeAddress("alice"), acmeAddress("dave")])
        _ = try await groups.add(.shared, address: acmeAddress("help"), workspace: acme, unit: try UnitPath("sales"),
                                 members: [acmeAddress("alice")])
        let event = LoginEvent(time: Date(), accountDN: aliceDN.parsedDN, loginName: acmeAddress("alice"), type: .imap, client: "imap",
                               ip: IPAddress("10.9.0.1"), country: nil, outcome: .success)
        _ = try await AuditLog(context: context, purgeInterval: nil).write(event, mark: AuditSpoolMark(spool: spoolID, sequence: 7))
        let spooled = try await connection.search(base: context.layout.auditEvents, scope: .oneLevel, filter: .equal("gwSpoolId", spoolID), attributes: ["1.1"])
        return try #require(spooled.entries.first).dn
    }

    /// The spooled audit entry's mark and count, as the root DN reads them.
    func spooledEventMark() async throws -> [String] {
        let root = fixture.rootConnection()
        defer { root.close() }
        let entry = try await root.search(base: spooledEventDN.parsedDN, scope: .base, attributes: ["gwSpoolId", "gwSpoolSeq", "gwEventCount"]).entries.first
        return ["gwSpoolId", "gwSpoolSeq", "gwEventCount"].map { "\($0): \(entry?.strings($0) ?? [])" }
    }

    // MARK: Principals

    enum Role: String, CaseIterable, Sendable, Comparable {
        case unitAdmin = "sam(unit admin)", subUnitAdmin = "carl(sub-unit admin)", workspaceAdmin = "boss(workspace admin)"
        case user = "alice(user)", mailCredential = "alice's cn=mail-password", dovecot = "cn=dovecot", postfix = "cn=postfix"
        case anonymous
        static func < (a: Role, b: Role) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
    }

    func bindDN(_ role: Role) -> String? {
        switch role {
        case .unitAdmin: samDN
        case .subUnitAdmin: carlDN
        case .workspaceAdmin: bossDN
        case .user: aliceDN
        case .mailCredential: credentialDN
        case .dovecot: fixture.dovecotDN
        case .postfix: fixture.postfixDN
        case .anonymous: nil
        }
    }

    func credentials(_ role: Role) -> LDAPCredentials {
        switch role {
        case .unitAdmin: .simple(dn: samDN, password: password("sam"))
        case .subUnitAdmin: .simple(dn: carlDN, password: password("carl"))
        case .workspaceAdmin: .simple(dn: bossDN, password: password("boss"))
        case .user: .simple(dn: aliceDN, password: password("alice"))
        case .mailCredential: .simple(dn: credentialDN, password: aliceMailPassword)
        case .dovecot: .simple(dn: fixture.dovecotDN, password: fixture.dovecotPassword)
        case .postfix: .simple(dn: fixture.postfixDN, password: fixture.postfixPassword)
        case .anonymous: .anonymous
        }
    }

    /// A connection bound as the role; the bind is checked (whoami) so a refused attempt is
    /// never merely a failed bind.
    func connect(_ role: Role) async throws -> LDAPConnection {
        let connection = fixture.connection(credentials(role))
        let identity = try await connection.whoAmI()
        if let dn = bindDN(role) {
            #expect(identity.lowercased() == "dn:\(dn.lowercased())", "\(role) bound as \(identity)")
        } else {
            #expect(identity.isEmpty, "anonymous bound as \(identity)")
        }
        return connection
    }

    // MARK: Observations

    /// Every entry of both workspaces as the root DN reads it: user attributes and objectClass,
    /// values sorted; `userPassword` left out for `skipPasswordOf` (allow-listed self-changes).
    func snapshot(skipPasswordOf: Set<String> = []) async throws -> [String: [String]] {
        let root = fixture.rootConnection()
        defer { root.close() }
        var result: [String: [String]] = [:]
        let skip = Set(skipPasswordOf.map { $0.lowercased() })
        for base in [acmeDN, betaDN] {
            for entry in try await root.search(base: base.parsedDN, scope: .subtree, attributes: ["*"]).entries {
                let dn = entry.dn.lowercased()
                var lines: [String] = []
                for attribute in entry.attributes {
                    let name = attribute.name.lowercased()
                    if name == "userpassword", skip.contains(dn) { continue }
                    lines += attribute.values.map { "\(name): \(String(decoding: $0, as: UTF8.self))" }
                }
                result[dn] = lines.sorted()
            }
        }
        return result
    }

    /// Entries anywhere below the base (all databases) whose names or addresses an attack
    /// invented, and members of cn=superadmins that are principals of this world.
    func plantedOutsideTheWorkspaces() async throws -> [String] {
        let root = fixture.rootConnection()
        defer { root.close() }
        let t = attackTag
        let filter: LDAPFilter = .or(["o", "ou", "cn", "uid", "mail", "gwInvitationId", "gwEventId"].map { .contains($0, t) } + [.equal("gwMailDomain", squatDomain)])
        var found = try await root.search(base: base.parsedDN, scope: .subtree, filter: filter, attributes: ["1.1"]).entries.map(\.dn)
        let members = try await root.search(base: superAdminsDN.parsedDN, scope: .base, attributes: ["member"]).entries.first?.strings("member") ?? []
        let ours = Set(Role.allCases.compactMap(bindDN).map { $0.lowercased() })
        found += members.filter { ours.contains($0.lowercased()) }.map { "\(superAdminsDN) member \($0)" }
        return found
    }

    /// What Debian's Postfix resolves for every address and domain of the world, and for the
    /// attack addresses and domains.
    func postfixView(_ postfix: PostfixConfig) throws -> [String: String] {
        var view: [String: String] = [:]
        func record(_ key: String, _ map: String) throws {
            view["\(map) \(key)"] = try postfix.query(key, map).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.sorted().joined(separator: ",") } ?? "-"
        }
        for domain in [acmeDomain, betaDomain, squatDomain] { try record(domain, "ldap-virtual-mailbox-domains.cf") }
        let addresses = victims.map(\.address) + [acmeAddress("al"), acmeAddress("team"), acmeAddress("help"), attackerAddress,
                                                   acmeAddress("\(attackTag)-1"), betaAddress("\(attackTag)-1")]
        for address in addresses {
            for map in ["ldap-virtual-mailbox-maps.cf", "ldap-virtual-alias-maps.cf", "ldap-virtual-group-maps.cf", "ldap-sender-login-maps.cf"] {
                try record(address, map)
            }
        }
        return view
    }

    /// The Postfix view the world must have (before and after any attack).
    func expectedPostfixView() -> [String: String] {
        var view: [String: String] = [:]
        let maps = ["ldap-virtual-mailbox-maps.cf", "ldap-virtual-alias-maps.cf", "ldap-virtual-group-maps.cf", "ldap-sender-login-maps.cf"]
        view["ldap-virtual-mailbox-domains.cf \(acmeDomain)"] = acmeDomain
        view["ldap-virtual-mailbox-domains.cf \(betaDomain)"] = betaDomain
        view["ldap-virtual-mailbox-domains.cf \(squatDomain)"] = "-"
        for victim in victims {
            let domain = victim.address.split(separator: "@")[1]
            view["\(maps[0]) \(victim.address)"] = "\(domain)/\(victim.login)/"
            view["\(maps[1]) \(victim.address)"] = "-"
            view["\(maps[2]) \(victim.address)"] = "-"
            view["\(maps[3]) \(victim.address)"] = victim.address
        }
        for (address, values) in [
            (acmeAddress("al"), ["-", acmeAddress("al"), "-", acmeAddress("alice")]),   // the alias stays the LMTP recipient (issue 12)
            (acmeAddress("team"), ["-", "-", [acmeAddress("alice"), acmeAddress("dave")].sorted().joined(separator: ","), "-"]),
            (acmeAddress("help"), ["\(acmeDomain)/help/", "-", "-", "-"]),
            (attackerAddress, ["-", "-", "-", "-"]),
            (acmeAddress("\(attackTag)-1"), ["-", "-", "-", "-"]),
            (betaAddress("\(attackTag)-1"), ["-", "-", "-", "-"]),
        ] {
            for (map, value) in zip(maps, values) { view["\(map) \(address)"] = value }
        }
        return view
    }
}

// MARK: Attempts

struct Attempt: Sendable {
    enum Operation: String, Sendable, CaseIterable { case add, modify, modrdn, delete, passwordModify }
    let role: AdversaryWorld.Role
    let operation: Operation
    /// A short name of the target or position ("alice", "below boss", ...).
    let target: String
    let dn: String
    /// What was tried: class set and RDN, attribute and modification, new RDN / superior.
    let detail: String
    let controls: String
    let perform: @Sendable (LDAPConnection) async throws -> Void

    var summary: String { "\(role.rawValue) \(operation.rawValue) \(target) [\(dn)] \(detail) controls=\(controls)" }
}

struct Outcome: Sendable {
    let attempt: Attempt
    /// 0 for success, the LDAP result code otherwise (-1000 for a non-LDAP error).
    let code: Int32
    let message: String
}

/// The one kind of raw write that may succeed: a user (every admin is also a user) replacing
/// their own `userPassword` (ACL `by self =wx`).
func isAllowListed(_ attempt: Attempt, _ world: AdversaryWorld) -> Bool {
    let selfChanges: Set<String> = ["sam(unit admin)/sam", "carl(sub-unit admin)/carl", "boss(workspace admin)/boss", "alice(user)/alice"]
    return (attempt.operation == .modify && attempt.detail.hasPrefix("replace userPassword") || attempt.operation == .passwordModify)
        && selfChanges.contains("\(attempt.role.rawValue)/\(attempt.target)")
}

/// Runs attempts with at most `width` in flight, one connection per role (libldap multiplexes).
func runAttempts(_ attempts: [Attempt], world: AdversaryWorld, width: Int = 16) async throws -> [Outcome] {
    var connections: [AdversaryWorld.Role: LDAPConnection] = [:]
    for role in Set(attempts.map(\.role)) { connections[role] = try await world.connect(role) }
    defer { for connection in connections.values { connection.close() } }
    let pool = connections
    return await withTaskGroup(of: Outcome.self) { group in
        var outcomes: [Outcome] = []
        var iterator = attempts.makeIterator()
        func submit(_ attempt: Attempt) {
            let connection = pool[attempt.role]!
            group.addTask {
                do {
                    try await attempt.perform(connection)
                    return Outcome(attempt: attempt, code: 0, message: "")
                } catch let error as LDAPError {
                    return Outcome(attempt: attempt, code: error.code.rawValue, message: error.message)
                } catch {
                    return Outcome(attempt: attempt, code: -1000, message: String(describing: error))
                }
            }
        }
        for _ in 0..<width { if let next = iterator.next() { submit(next) } }
        while let outcome = await group.next() {
            outcomes.append(outcome)
            if let next = iterator.next() { submit(next) }
        }
        return outcomes
    }
}

/// Fails the test for every accepted attempt that is not allow-listed; returns the accepted ones.
@discardableResult
func expectAllRefused(_ outcomes: [Outcome], _ world: AdversaryWorld, sourceLocation: SourceLocation = #_sourceLocation) -> [Outcome] {
    let accepted = outcomes.filter { $0.code == 0 }
    let forbidden = accepted.filter { !isAllowListed($0.attempt, world) }
    #expect(forbidden.isEmpty, "\(forbidden.count) raw writes were accepted:\n\(forbidden.map(\.attempt.summary).sorted().joined(separator: "\n"))",
            sourceLocation: sourceLocation)
    return accepted
}

/// The generated attack batch of issue 11.
struct AttackGenerator {
    let world: AdversaryWorld
    typealias Role = AdversaryWorld.Role

    private static let counter = Counter()
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
    }
    func fresh() -> String { "\(world.attackTag)-\(Self.counter.next())" }

    /// The DN a role would name as "itself" in a member value (the attacker).
    func attackerDN(_ role: Role) -> String { world.bindDN(role) ?? world.samDN }

    // Positions for ADD: (name, parent DN, the other workspace's victim address, its domain)
    var positions: [(name: String, dn: String, victim: String, otherDomain: String)] {
        let w = world
        let fromAcme = (w.betaAddress("gus"), w.betaDomain)
        let fromBeta = (w.acmeAddress("alice"), w.acmeDomain)
        return [
            ("ou=workspaces", w.workspacesDN, fromAcme.0, fromAcme.1),
            ("o=acme", w.acmeDN, fromAcme.0, fromAcme.1),
            ("own unit sales", w.salesDN, fromAcme.0, fromAcme.1),
            ("sub-unit east", w.eastDN, fromAcme.0, fromAcme.1),
            ("sibling unit dev", w.devDN, fromAcme.0, fromAcme.1),
            ("o=beta", w.betaDN, fromBeta.0, fromBeta.1),
            ("beta unit ops", w.opsDN, fromBeta.0, fromBeta.1),
            ("below alice", w.aliceDN, fromAcme.0, fromAcme.1),
            ("below boss", w.bossDN, fromAcme.0, fromAcme.1),
            ("ou=system", "ou=system,\(w.base)", fromAcme.0, fromAcme.1),
            ("ou=events,ou=audit", "ou=events,ou=audit,\(w.base)", fromAcme.0, fromAcme.1),
            ("ou=ipblocks,ou=audit", "ou=ipblocks,ou=audit,\(w.base)", fromAcme.0, fromAcme.1),
        ]
    }

    struct ClassSet {
        let name: String
        let classes: [String]
        let naturalRDN: String
        /// A fixed value for the natural RDN (cn=mail-password, cn=admins); nil: invented.
        let fixedValue: String?
        let carriesMail: Bool
        let attributes: (_ mail: String?, _ attacker: String) -> [LDAPAttribute]
    }

    var classSets: [ClassSet] {
        let w = world
        let all = ["imap", "pop3", "smtp", "web"]
        return [
            ClassSet(name: "gwWorkspace", classes: ["gwWorkspace"], naturalRDN: "o", fixedValue: nil, carriesMail: false) { _, _ in
                [LDAPAttribute("gwMailDomain", [w.squatDomain])] },
            ClassSet(name: "organizationalUnit+gwOrgUnit", classes: ["organizationalUnit", "gwOrgUnit"], naturalRDN: "ou", fixedValue: nil, carriesMail: false) { _, _ in
                [LDAPAttribute("gwBillingId", "attack")] },
            ClassSet(name: "inetOrgPerson+gwAccount", classes: ["inetOrgPerson", "gwAccount"], naturalRDN: "uid", fixedValue: nil, carriesMail: true) { mail, _ in
                [LDAPAttribute("sn", "x"), LDAPAttribute("mail", mail!), LDAPAttribute("userPassword", AdversaryWorld.attackPassword),
                 LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwServiceType", "both"), LDAPAttribute("gwEnabledService", all),
                 LDAPAttribute("gwHomeWorkspace", w.betaDN), LDAPAttribute("gwLoginKey", "\(w.acme)/alice")] },
            ClassSet(name: "inetOrgPerson+gwSharedMailbox", classes: ["inetOrgPerson", "gwSharedMailbox"], naturalRDN: "uid", fixedValue: nil, carriesMail: true) { mail, attacker in
                [LDAPAttribute("sn", "x"), LDAPAttribute("mail", mail!), LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("member", attacker)] },
            ClassSet(name: "gwMailAlias", classes: ["gwMailAlias"], naturalRDN: "mail", fixedValue: nil, carriesMail: true) { mail, _ in
                [LDAPAttribute("mail", mail!), LDAPAttribute("gwDeliverTo", w.attackerAddress), LDAPAttribute("gwOwnerAddress", w.attackerAddress),
                 LDAPAttribute("gwAliasFolder", "x")] },
            ClassSet(name: "gwMailCredential", classes: ["gwMailCredential"], naturalRDN: "cn", fixedValue: "mail-password", carriesMail: true) { mail, _ in
                [LDAPAttribute("userPassword", AdversaryWorld.attackPassword), LDAPAttribute("gwCredentialFor", mail!)] },
            ClassSet(name: "groupOfNames+gwMailGroup", classes: ["groupOfNames", "gwMailGroup"], naturalRDN: "cn", fixedValue: nil, carriesMail: true) { mail, attacker in
                [LDAPAttribute("mail", mail!), LDAPAttribute("member", attacker)] },
            ClassSet(name: "groupOfNames+gwAdminGroup", classes: ["groupOfNames", "gwAdminGroup"], naturalRDN: "cn", fixedValue: "admins", carriesMail: false) { _, attacker in
                [LDAPAttribute("member", attacker)] },
            ClassSet(name: "gwInvitation", classes: ["gwInvitation"], naturalRDN: "gwInvitationId", fixedValue: nil, carriesMail: true) { mail, _ in
                [LDAPAttribute("mail", mail!), LDAPAttribute("gwInvitationState", "pending")] },
            ClassSet(name: "gwLoginEvent", classes: ["gwLoginEvent"], naturalRDN: "gwEventId", fixedValue: nil, carriesMail: false) { _, attacker in
                [LDAPAttribute("gwAccountRef", attacker), LDAPAttribute("gwLoginResult", "success"),
                 LDAPAttribute("gwSpoolId", w.spoolID), LDAPAttribute("gwSpoolSeq", "999999999")] },
            ClassSet(name: "gwIPBlock", classes: ["gwIPBlock"], naturalRDN: "gwClientIP", fixedValue: nil, carriesMail: false) { _, _ in
                [LDAPAttribute("gwBlockedUntil", "20990101000000Z")] },
            ClassSet(name: "organizationalUnit+extensibleObject", classes: ["organizationalUnit", "extensibleObject"], naturalRDN: "ou", fixedValue: nil, carriesMail: true) { mail, attacker in
                [LDAPAttribute("mail", mail!), LDAPAttribute("uid", "alice"), LDAPAttribute("gwMailDomain", w.squatDomain),
                 LDAPAttribute("member", attacker), LDAPAttribute("userPassword", AdversaryWorld.attackPassword),
                 LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwEnabledService", all),
                 LDAPAttribute("gwDeliverTo", w.attackerAddress), LDAPAttribute("gwCredentialFor", mail!)] },
            ClassSet(name: "inetOrgPerson+gwAccount+extensibleObject", classes: ["inetOrgPerson", "gwAccount", "extensibleObject"], naturalRDN: "uid", fixedValue: nil, carriesMail: true) { mail, _ in
                [LDAPAttribute("sn", "x"), LDAPAttribute("mail", mail!), LDAPAttribute("userPassword", AdversaryWorld.attackPassword),
                 LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwEnabledService", all), LDAPAttribute("gwMailDomain", w.squatDomain)] },
            ClassSet(name: "referral+extensibleObject", classes: ["referral", "extensibleObject"], naturalRDN: "ou", fixedValue: nil, carriesMail: false) { _, _ in
                [LDAPAttribute("ref", "ldap://evil.example/ou=workspaces,\(w.base)")] },
            ClassSet(name: "alias+extensibleObject", classes: ["alias", "extensibleObject"], naturalRDN: "uid", fixedValue: nil, carriesMail: false) { _, _ in
                [LDAPAttribute("aliasedObjectName", w.bossDN)] },
            ClassSet(name: "inetOrgPerson+gwAccount+pwdPolicy", classes: ["inetOrgPerson", "gwAccount", "pwdPolicy"], naturalRDN: "uid", fixedValue: nil, carriesMail: true) { mail, _ in
                [LDAPAttribute("sn", "x"), LDAPAttribute("mail", mail!), LDAPAttribute("userPassword", AdversaryWorld.attackPassword),
                 LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwEnabledService", all),
                 LDAPAttribute("pwdAttribute", "userPassword"), LDAPAttribute("pwdLockout", "FALSE")] },
        ]
    }

    static let controlSets: [(String, [LDAPRequestControl])] = [("none", []), ("relax", [.relax]), ("manageDsaIT", [.manageDsaIT])]

    func adds(_ role: Role) -> [Attempt] {
        var attempts: [Attempt] = []
        for position in positions {
            for set in classSets {
                for rdnType in Set([set.naturalRDN, "cn"]).sorted() {
                    // The victim's address (other workspace) and, for the natural RDN, an
                    // invented one in the same domain (so slapo-unique cannot mask an ACL hole).
                    var mails: [String?] = set.carriesMail ? [position.victim] : [nil]
                    if set.carriesMail, rdnType == set.naturalRDN { mails.append("\(fresh())@\(position.otherDomain)") }
                    for mail in mails {
                        let value: String
                        if rdnType == set.naturalRDN, let fixed = set.fixedValue { value = fixed }
                        else if rdnType == "mail" { value = mail! }
                        else if rdnType == "gwClientIP" { value = "198.51.100.\(Self.counter.next() % 250)" }
                        else { value = fresh() }
                        // A cn= RDN on a class without cn comes with extensibleObject (the
                        // issue's "extensibleObject + cn"); otherwise slapd's schema alone refuses it.
                        let allowsCN = set.classes.contains { ["inetOrgPerson", "groupOfNames", "gwMailCredential", "extensibleObject"].contains($0) }
                        let classes = rdnType == "cn" && !allowsCN ? set.classes + ["extensibleObject"] : set.classes
                        var attributes = [LDAPAttribute("objectClass", classes)] + set.attributes(mail, attackerDN(role))
                        if !attributes.contains(where: { $0.name.lowercased() == rdnType.lowercased() }) {
                            attributes.append(LDAPAttribute(rdnType, value))
                        }
                        if !attributes.contains(where: { $0.name.lowercased() == set.naturalRDN.lowercased() }) {
                            attributes.append(LDAPAttribute(set.naturalRDN, set.naturalRDN == "gwClientIP" ? "198.51.100.1" : set.fixedValue ?? fresh()))
                        }
                        if rdnType != "cn", set.classes.contains(where: { ["inetOrgPerson", "groupOfNames", "gwMailCredential"].contains($0) }) {
                            attributes.append(LDAPAttribute("cn", fresh()))
                        }
                        let dn = "\(rdnType)=\(value),\(position.dn)"
                        for (controlName, controls) in Self.controlSets.prefix(2) {
                            let attrs = attributes
                            attempts.append(Attempt(role: role, operation: .add, target: position.name, dn: dn,
                                                    detail: "\(set.name)\(classes.count > set.classes.count ? "+extensibleObject" : "") \(rdnType)= mail=\(mail ?? "-")", controls: controlName) { connection in
                                _ = try await connection.add(dn: dn.parsedDN, attributes: attrs, controls: controls)
                            })
                        }
                    }
                }
            }
        }
        return attempts
    }

    var targets: [(name: String, dn: String)] {
        let w = world
        return [
            ("sales", w.salesDN), ("east", w.eastDN), ("dev", w.devDN), ("ops", w.opsDN),
            ("alice", w.aliceDN), ("sam", w.samDN), ("boss", w.bossDN), ("carl", w.carlDN), ("dave", w.daveDN), ("gus", w.gusDN), ("bea", w.beaDN),
            ("o=acme", w.acmeDN), ("o=beta", w.betaDN),
            ("cn=admins,o=acme", w.acmeAdminsDN), ("cn=admins,sales", w.salesAdminsDN), ("cn=admins,east", w.eastAdminsDN),
            ("cn=admins,o=beta", w.betaAdminsDN),
            ("alias al", w.aliasDN), ("alice's credential", w.credentialDN), ("group team", w.teamDN), ("shared help", w.helpDN),
            ("cn=superadmins", w.superAdminsDN), ("alice's spooled audit entry", w.spooledEventDN),
        ]
    }

    func modifications(_ role: Role, target: String) -> [(String, LDAPModification)] {
        let w = world
        let selfChange = isAllowListed(Attempt(role: role, operation: .modify, target: target, dn: "", detail: "replace userPassword",
                                               controls: "", perform: { _ in }), w)
        return [
            ("add objectClass extensibleObject", .add("objectClass", ["extensibleObject"])),
            ("add objectClass pwdPolicy", .add("objectClass", ["pwdPolicy"])),
            ("add mail (other workspace's victim)", .add("mail", [w.betaAddress("gus")])),
            ("replace mail", .replace("mail", w.attackerAddress)),
            ("add uid (duplicate login id)", .add("uid", ["alice"])),
            ("replace gwHomeWorkspace", .replace("gwHomeWorkspace", w.betaDN)),
            ("replace pwdPolicySubentry", .replace("pwdPolicySubentry", w.servicePolicyDN)),
            ("replace gwAliasCount 0", .replace("gwAliasCount", "0")),
            ("increment gwAliasCount", .increment("gwAliasCount", by: -1)),
            ("replace gwCredentialFor", .replace("gwCredentialFor", w.betaAddress("gus"))),
            ("replace gwOwnerAddress", .replace("gwOwnerAddress", w.attackerAddress)),
            ("replace gwDeliverTo", .replace("gwDeliverTo", w.attackerAddress)),
            ("add member (attacker)", .add("member", [attackerDN(role)])),
            ("add member (beta's gus)", .add("member", [w.gusDN])),
            ("add gwMailDomain (squat)", .add("gwMailDomain", [w.squatDomain])),
            ("add gwMailDomain (other workspace's)", .add("gwMailDomain", [w.betaDomain])),
            ("replace userPassword", .replace("userPassword", selfChange ? AdversaryWorld.selfPassword(target) : AdversaryWorld.attackPassword)),
            ("replace gwAccountStatus", .replace("gwAccountStatus", "disabled")),
            ("replace gwEnabledService", .replace("gwEnabledService", ["imap", "pop3", "smtp", "web"])),
            ("replace gwBillingId", .replace("gwBillingId", "attack")),
            ("replace displayName (benign)", .replace("displayName", "Pwned")),
            // Attributes added this stop: the login-id key (unique per workspace), the folder an
            // alias files into (Dovecot reads it), and the allowed networks a login is judged by.
            ("replace gwLoginKey (another login's key)", .replace("gwLoginKey", "\(w.acme)/sam")),
            ("delete gwLoginKey", .delete("gwLoginKey")),
            ("replace gwAliasFolder", .replace("gwAliasFolder", "INBOX")),
            ("delete gwAllowedNetwork", .delete("gwAllowedNetwork")),
            ("add gwAllowedNetwork (anywhere)", .add("gwAllowedNetwork", ["0.0.0.0/0"])),
            ("delete pwdAccountLockedTime (unlock)", .delete("pwdAccountLockedTime")),
            // The spool's exactly-once mark: a forged high-water sequence would make a replay skip
            // real events; another spool's id would make it count them twice.
            ("replace gwSpoolSeq (forged high water)", .replace("gwSpoolSeq", "999999999")),
            ("replace gwSpoolId (another spool's)", .replace("gwSpoolId", "forged-\(w.tag)")),
            ("increment gwEventCount", .increment("gwEventCount", by: 1000)),
        ]
    }

    func modifies(_ role: Role) -> [Attempt] {
        var attempts: [Attempt] = []
        for target in targets {
            for (detail, modification) in modifications(role, target: target.name) {
                for (controlName, controls) in Self.controlSets {
                    let dn = target.dn
                    attempts.append(Attempt(role: role, operation: .modify, target: target.name, dn: dn, detail: detail, controls: controlName) { connection in
                        _ = try await connection.modify(dn: dn.parsedDN, [modification], controls: controls)
                    })
                }
            }
        }
        return attempts
    }

    func renames(_ role: Role) -> [Attempt] {
        let w = world
        var attempts: [Attempt] = []
        for target in targets {
            let rdnType = String(target.dn.prefix { $0 != "=" })
            let parent = String(target.dn.drop { $0 != "," }.dropFirst())
            let otherUnit = parent.lowercased() == w.devDN.lowercased() ? w.salesDN : w.devDN
            let otherWorkspace = target.dn.lowercased().hasSuffix(w.betaDN.lowercased()) ? w.salesDN : w.opsDN
            let value = fresh()
            let rdnValue = target.dn.dropFirst(rdnType.count + 1).prefix { $0 != "," }
            for (detail, newRDN, newSuperior) in [
                ("same RDN type, new value", "\(rdnType)=\(value)", nil),
                ("to cn=", "cn=\(rdnValue)", nil),
                ("to objectClass=extensibleObject", "objectClass=extensibleObject", nil),
                ("move to another unit", String(target.dn.prefix { $0 != "," }), otherUnit),
                ("move to the other workspace", String(target.dn.prefix { $0 != "," }), otherWorkspace),
            ] as [(String, String, String?)] {
                for (controlName, controls) in Self.controlSets {
                    let dn = target.dn
                    attempts.append(Attempt(role: role, operation: .modrdn, target: target.name, dn: dn,
                                            detail: "\(detail): \(newRDN)\(newSuperior.map { " under \($0)" } ?? "")", controls: controlName) { connection in
                        _ = try await connection.rename(dn: dn.parsedDN, newRDN: newRDN.parsedRDN, deleteOldRDN: true, newSuperior: newSuperior.map(\.parsedDN), controls: controls)
                    })
                }
            }
        }
        return attempts
    }

    func deletes(_ role: Role) -> [Attempt] {
        targets.flatMap { target in
            Self.controlSets.map { controlName, controls in
                let dn = target.dn
                return Attempt(role: role, operation: .delete, target: target.name, dn: dn, detail: "", controls: controlName) { connection in
                    _ = try await connection.delete(dn: dn.parsedDN, controls: controls)
                }
            }
        }
    }

    /// RFC 3062 Password Modify, the other way to write userPassword.
    func passwordModifies(_ role: Role) -> [Attempt] {
        targets.filter { ["alice", "sam", "boss", "carl", "dave", "gus", "bea", "alice's credential"].contains($0.name) }.map { target in
            let dn = target.dn
            let selfChange = isAllowListed(Attempt(role: role, operation: .passwordModify, target: target.name, dn: "", detail: "",
                                                   controls: "", perform: { _ in }), world)
            let password = selfChange ? AdversaryWorld.selfPassword(target.name) : AdversaryWorld.attackPassword
            return Attempt(role: role, operation: .passwordModify, target: target.name, dn: dn, detail: "new password", controls: "none") { connection in
                _ = try await connection.passwordModify(userDN: dn.parsedDN, newPassword: password)
            }
        }
    }

    func all() -> [Attempt] {
        Role.allCases.flatMap { adds($0) + modifies($0) + renames($0) + deletes($0) + passwordModifies($0) }
    }
}

// MARK: Mail-server checks

/// Dovecot logs every victim in with the real password (alice with her mail-only password, or a
/// password the account set itself) and none with the attacker's password.
func expectDovecotUnchanged(_ dovecot: DovecotServer, _ world: AdversaryWorld, selfChanged: Set<String> = [],
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
    for victim in world.victims {
        let real = victim.login == "alice" ? world.aliceMailPassword
            : selfChanged.contains(victim.login) ? AdversaryWorld.selfPassword(victim.login) : world.password(victim.login)
        let result = try dovecot.authTest(victim.address, real)
        #expect(result.status == 0, "\(victim.login) no longer logs in: \(result)", sourceLocation: sourceLocation)
        let forged = try dovecot.authTest(victim.address, AdversaryWorld.attackPassword)
        #expect(forged.status != 0, "\(victim.login) logs in with the attacker's password: \(forged)", sourceLocation: sourceLocation)
    }
}

// MARK: Tests

@Suite struct AdversarialTests {
    /// The generated batch: every role × ADD at every position × every object-class set ×
    /// RDN type, MODIFY of every target × security attribute × control, MODRDN and DELETE.
    @Test func everyRawWriteByEveryRoleIsRefused() async throws {
        let world = try await AdversaryWorld.make()
        let sample = try await SampleDirectory.get()
        let postfix = try PostfixConfig(sample)
        let before = try await world.snapshot()
        let markBefore = try await world.spooledEventMark()
        #expect(markBefore.contains("gwSpoolSeq: [\"7\"]"), "baseline: \(markBefore)")
        let postfixBefore = try world.postfixView(postfix)
        #expect(postfixBefore == world.expectedPostfixView(), "baseline: \(postfixBefore)")

        let attempts = AttackGenerator(world: world).all()
        let clock = ContinuousClock()
        let started = clock.now
        let outcomes = try await runAttempts(attempts, world: world)
        let elapsed = clock.now - started
        #expect(outcomes.count == attempts.count)

        // Report: attempts by role and operation, result code distribution.
        var byRoleAndOperation: [String: Int] = [:]
        var codes: [Int32: Int] = [:]
        var codesByRole: [String: [Int32: Int]] = [:]
        for outcome in outcomes {
            byRoleAndOperation["\(outcome.attempt.role.rawValue) \(outcome.attempt.operation.rawValue)", default: 0] += 1
            codes[outcome.code, default: 0] += 1
            codesByRole[outcome.attempt.role.rawValue, default: [:]][outcome.code, default: 0] += 1
        }
        var report = "adversarial batch: \(outcomes.count) attempts in \(elapsed)\n"
        for role in AdversaryWorld.Role.allCases {
            let counts = Attempt.Operation.allCases.map { "\($0.rawValue)=\(byRoleAndOperation["\(role.rawValue) \($0.rawValue)"] ?? 0)" }
            let roleCodes = (codesByRole[role.rawValue] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }
            report += "  \(role.rawValue): \(counts.joined(separator: " ")) codes \(roleCodes.joined(separator: " "))\n"
        }
        report += "  result codes: \(codes.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))\n"
        // Refusals that came before any ACL check (schema, syntax, uniqueness, existing DN),
        // by code and kind of attempt, for the sam role: the batch's sharpness at a glance.
        var early: [String: Int] = [:]
        for outcome in outcomes where outcome.attempt.role == .unitAdmin && ![0, 8, 50].contains(outcome.code) {
            let kind = outcome.attempt.operation == .add ? String(outcome.attempt.detail.prefix { $0 != " " }) + " at \(outcome.attempt.target)"
                : "\(outcome.attempt.target): \(outcome.attempt.detail)"
            early["\(outcome.code) \(outcome.attempt.operation.rawValue) \(kind) (\(outcome.message.prefix(70)))", default: 0] += 1
        }
        report += "  early refusals (sam): \(early.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: "\n                        "))\n"
        let accepted = expectAllRefused(outcomes, world)
        report += "  accepted: \(accepted.map(\.attempt.summary).sorted().joined(separator: "\n            "))\n"
        let unexpected = outcomes.filter { $0.code < 0 }
        #expect(unexpected.isEmpty, "client-side errors: \(unexpected.prefix(5).map { "\($0.attempt.summary): \($0.message)" })")
        print(report)
        try? report.write(toFile: FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-adversarial-report.txt").path,
                          atomically: true, encoding: .utf8)

        // (a) The directory is exactly as before, but for the allow-listed own-password changes.
        let selfChanged = Set(accepted.filter { isAllowListed($0.attempt, world) }.map(\.attempt.target))
        let changedDNs = Set(world.victims.filter { selfChanged.contains($0.login) }.map(\.dn))
        var expected = before
        for dn in changedDNs { expected[dn.lowercased()] = expected[dn.lowercased()]?.filter { !$0.hasPrefix("userpassword:") } }
        let after = try await world.snapshot(skipPasswordOf: changedDNs)
        for dn in Set(expected.keys).union(after.keys).sorted() where expected[dn] != after[dn] {
            let old = Set(expected[dn] ?? []), new = Set(after[dn] ?? [])
            Issue.record("\(dn) changed: removed \(old.subtracting(new).sorted()) added \(new.subtracting(old).sorted())")
        }
        #expect(try await world.plantedOutsideTheWorkspaces() == [])
        #expect(try await world.spooledEventMark() == markBefore, "the spool's exactly-once mark or count changed")

        // (b) Postfix resolves the victims exactly as before and none of the attack addresses.
        let postfixAfter = try world.postfixView(postfix)
        for key in Set(postfixBefore.keys).union(postfixAfter.keys).sorted() where postfixBefore[key] != postfixAfter[key] {
            Issue.record("postfix \(key): \(postfixBefore[key] ?? "?") -> \(postfixAfter[key] ?? "?")")
        }

        // (c) Dovecot logs the victims in with their real passwords, never with the attacker's.
        try await withDovecot { dovecot, _ in
            try expectDovecotUnchanged(dovecot, world, selfChanged: selfChanged)
        }
    }
}

// MARK: Named regression cases of issue 11

extension AdversaryWorld {
    func add(_ role: Role, _ dn: String, _ attributes: [LDAPAttribute], controls: [LDAPRequestControl] = [], _ label: String = "") -> Attempt {
        Attempt(role: role, operation: .add, target: label, dn: dn, detail: attributes.map(\.name).joined(separator: ","), controls: "\(controls.count)") {
            _ = try await $0.add(dn: dn.parsedDN, attributes: attributes, controls: controls)
        }
    }

    func modify(_ role: Role, _ dn: String, _ modifications: [LDAPModification], controls: [LDAPRequestControl] = [], _ label: String = "") -> Attempt {
        Attempt(role: role, operation: .modify, target: label, dn: dn,
                detail: modifications.map { "\($0.operation) \($0.attribute.name)" }.joined(separator: ","), controls: "\(controls.count)") {
            _ = try await $0.modify(dn: dn.parsedDN, modifications, controls: controls)
        }
    }

    func rename(_ role: Role, _ dn: String, to newRDN: String, under newSuperior: String? = nil, _ label: String = "") -> Attempt {
        Attempt(role: role, operation: .modrdn, target: label, dn: dn, detail: "\(newRDN) under \(newSuperior ?? "-")", controls: "0") {
            _ = try await $0.rename(dn: dn.parsedDN, newRDN: newRDN.parsedRDN, deleteOldRDN: true, newSuperior: newSuperior.map(\.parsedDN))
        }
    }

    /// Runs the attempts one after another (a chain: each step assumes the previous one
    /// worked), expects every one refused and the directory unchanged.
    func expectChainRefused(_ attempts: [Attempt], function: String = #function, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let before = try await snapshot()
        let outcomes = try await runAttempts(attempts, world: self, width: 1)
        var codes: [Int32: Int] = [:]
        for outcome in outcomes { codes[outcome.code, default: 0] += 1 }
        print("\(function): \(outcomes.count) attempts, codes \(codes.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))")
        for outcome in outcomes where ![8, 50].contains(outcome.code) { print("    \(outcome.code) \(outcome.attempt.summary)") }
        let accepted = outcomes.filter { $0.code == 0 }
        #expect(accepted.isEmpty, "accepted: \(accepted.map(\.attempt.summary))", sourceLocation: sourceLocation)
        #expect(try await snapshot() == before, "the directory changed", sourceLocation: sourceLocation)
        #expect(try await plantedOutsideTheWorkspaces() == [], sourceLocation: sourceLocation)
    }

    func entry(_ dn: String, _ attributes: [String] = ["*", "+"]) async throws -> LDAPEntry? {
        let root = fixture.rootConnection()
        defer { root.close() }
        return try await root.search(base: dn.parsedDN, scope: .base, attributes: attributes).entries.first
    }
}

extension AdversarialTests {
    /// Issue 11, "unit admin becomes workspace admin": add `extensibleObject` and a `cn` to the
    /// own sub-unit, rename `ou=east` → `cn=east` (a rename checks nothing on the new RDN), then
    /// reset the workspace admin's password and add oneself to `cn=admins,o=acme`. SPEC §3: "who
    /// administers what changes only by the rules of `admin grant`".
    @Test func unitAdminCannotBecomeWorkspaceAdmin() async throws {
        let w = try await AdversaryWorld.make()
        var attempts: [Attempt] = []
        for role in [AdversaryWorld.Role.unitAdmin, .subUnitAdmin] {
            let attacker = w.bindDN(role)!
            attempts += [
                w.modify(role, w.eastDN, [.add("objectClass", ["extensibleObject"]), .add("cn", ["east"])]),
                w.modify(role, w.eastDN, [.add("objectClass", ["extensibleObject"]), .add("cn", ["east"])], controls: [.relax]),
                w.rename(role, w.eastDN, to: "objectClass=extensibleObject"),
                w.rename(role, w.eastDN, to: "cn=east"),
                w.rename(role, "cn=east,\(w.salesDN)", to: "cn=admins"),
                w.modify(role, w.bossDN, [.replace("userPassword", AdversaryWorld.attackPassword)]),
                w.modify(role, w.acmeAdminsDN, [.add("member", [attacker])]),
                w.modify(role, w.acmeAdminsDN, [.add("member", [attacker])], controls: [.relax]),
                w.add(role, "cn=admins,\(w.devDN)", [LDAPAttribute("objectClass", ["groupOfNames", "gwAdminGroup"]), LDAPAttribute("cn", "admins"),
                                                     LDAPAttribute("member", [attacker])]),
                w.add(role, "cn=admins,\(w.eastDN)", [LDAPAttribute("objectClass", ["groupOfNames", "gwAdminGroup"]), LDAPAttribute("cn", "admins"),
                                                      LDAPAttribute("member", [attacker])]),
            ]
        }
        try await w.expectChainRefused(attempts)
        let admins = try await w.entry(w.acmeAdminsDN)?.strings("member").map { $0.lowercased() } ?? []
        #expect(admins == [w.bossDN.lowercased()])
        #expect(try await w.entry(w.eastDN) != nil)
        try await withDovecot { dovecot, _ in
            try expectDovecotUnchanged(dovecot, w)
        }
    }

    /// The ACL's credential rule lets `cn=gwdir`, `cn=dovecot` and `cn=postfix` pass by their
    /// exact DN before its pattern. A unit admin (or the user, or the mail-only credential) who
    /// plants an identity named like them — at any position, with any class — or renames an entry
    /// to that name gets nothing from it: every write is refused, and the mail-only credential
    /// still reads nothing, not even its own account.
    @Test func serviceAccountNamesGrantNothingElsewhere() async throws {
        let w = try await AdversaryWorld.make()
        var attempts: [Attempt] = []
        for role in [AdversaryWorld.Role.unitAdmin, .user, .mailCredential] {
            for name in ["gwdir", "dovecot", "postfix"] {
                for parent in [w.salesDN, w.aliceDN, w.eastDN] {
                    attempts.append(w.add(role, "cn=\(name),\(parent)", [
                        LDAPAttribute("objectClass", ["inetOrgPerson"]), LDAPAttribute("cn", name), LDAPAttribute("sn", name),
                        LDAPAttribute("userPassword", AdversaryWorld.attackPassword),
                    ]))
                    attempts.append(w.add(role, "cn=\(name),\(parent)", [
                        LDAPAttribute("objectClass", ["gwMailCredential"]), LDAPAttribute("cn", name),
                        LDAPAttribute("gwCredentialFor", w.acmeAddress("alice")), LDAPAttribute("userPassword", AdversaryWorld.attackPassword),
                    ]))
                }
                attempts.append(w.rename(role, w.credentialDN, to: "cn=\(name)"))
                attempts.append(w.rename(role, w.eastDN, to: "cn=\(name)", under: "ou=system,\(w.fixture.baseDN)"))
            }
        }
        try await w.expectChainRefused(attempts)
        let credential = try await w.connect(.mailCredential)
        defer { credential.close() }
        for base in [w.aliceDN, w.salesDN, "ou=system,\(w.fixture.baseDN)"] {
            // slapd answers noSuchObject for a base it may not disclose, or no entries: both are "nothing".
            var seen: [LDAPEntry] = []
            do {
                seen = try await credential.search(base: base.parsedDN, scope: .subtree, attributes: ["*"]).entries
            } catch let error as LDAPError where error.code == .noSuchObject || error.code == .insufficientAccessRights {}
            #expect(seen.isEmpty, "the mail-only credential read \(seen.map(\.dn))")
        }
    }

    /// Issue 11, "cross-tenant mail takeover": a `gwInvitation` carrying `mail: victim@other`
    /// (invitations are the one entry kind slapo-unique lets repeat an address) with a
    /// `cn=mail-password` child whose `gwCredentialFor` names the victim. Dovecot must neither
    /// accept the forged password nor fail the victim's login.
    @Test func crossTenantMailTakeover() async throws {
        let w = try await AdversaryWorld.make()
        // A pending invitation as the service writes it (as root: no invitation service yet), so
        // the forged credential child has an existing parent and only the ACLs can refuse it.
        let root = w.fixture.rootConnection()
        let pending = "gwInvitationId=\(w.attackTag)-pending,ou=invitations,\(w.acmeDN)"
        _ = try await root.add(dn: "ou=invitations,\(w.acmeDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["organizationalUnit"]), LDAPAttribute("ou", "invitations")])
        _ = try await root.add(dn: pending.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwInvitation"]), LDAPAttribute("gwInvitationId", "\(w.attackTag)-pending"),
            LDAPAttribute("mail", w.acmeAddress("newcomer"))])
        root.close()
        var attempts: [Attempt] = []
        for role in [AdversaryWorld.Role.unitAdmin, .workspaceAdmin, .user, .mailCredential] {
            attempts.append(w.add(role, "cn=mail-password,\(pending)", [
                LDAPAttribute("objectClass", ["gwMailCredential"]), LDAPAttribute("cn", "mail-password"),
                LDAPAttribute("userPassword", AdversaryWorld.attackPassword), LDAPAttribute("gwCredentialFor", w.betaAddress("gus")),
            ]))
            attempts.append(w.modify(role, pending, [.replace("mail", w.betaAddress("gus"))]))
            for parent in [w.salesDN, w.acmeDN, w.aliceDN, "ou=invitations,\(w.acmeDN)"] {
                let id = "\(w.attackTag)-inv-\(AdversaryWorld.Role.allCases.firstIndex(of: role)!)"
                let invitation = "gwInvitationId=\(id),\(parent)"
                attempts += [
                    w.add(role, "ou=invitations,\(w.acmeDN)", [LDAPAttribute("objectClass", ["organizationalUnit"]), LDAPAttribute("ou", "invitations")]),
                    w.add(role, invitation, [LDAPAttribute("objectClass", ["gwInvitation"]), LDAPAttribute("gwInvitationId", id),
                                             LDAPAttribute("mail", w.betaAddress("gus"))]),
                    w.add(role, "cn=mail-password,\(invitation)", [
                        LDAPAttribute("objectClass", ["gwMailCredential"]), LDAPAttribute("cn", "mail-password"),
                        LDAPAttribute("userPassword", AdversaryWorld.attackPassword), LDAPAttribute("gwCredentialFor", w.betaAddress("gus")),
                    ]),
                    // The same credential directly where a real one sits, below someone else's account.
                    w.add(role, "cn=mail-password,\(w.daveDN)", [
                        LDAPAttribute("objectClass", ["gwMailCredential"]), LDAPAttribute("cn", "mail-password"),
                        LDAPAttribute("userPassword", AdversaryWorld.attackPassword), LDAPAttribute("gwCredentialFor", w.acmeAddress("dave")),
                    ]),
                ]
            }
            // Rewriting alice's real credential to name the victim.
            attempts.append(w.modify(role, w.credentialDN, [.replace("gwCredentialFor", w.betaAddress("gus"))]))
            attempts.append(w.modify(role, w.credentialDN, [.replace("userPassword", AdversaryWorld.attackPassword)]))
        }
        try await w.expectChainRefused(attempts)
        try await withDovecot { dovecot, _ in
            for service in ["imap", "pop3", "smtp"] {
                #expect(try dovecot.authTest(w.betaAddress("gus"), w.password("gus"), service: service).status == 0, "gus \(service)")
            }
            #expect(try !dovecot.login(w.betaAddress("gus"), AdversaryWorld.attackPassword))
            #expect(try !dovecot.login(w.acmeAddress("dave"), AdversaryWorld.attackPassword))
            try expectDovecotUnchanged(dovecot, w)
        }
    }

    /// Issue 11, "accounts/aliases with addresses in another workspace's domain". SPEC §3: "every
    /// address Postfix or Dovecot can see is unique directory-wide and in a domain of its own
    /// workspace". Postfix routing and sender login maps stay unchanged.
    @Test func addressesInAnotherWorkspacesDomain() async throws {
        let w = try await AdversaryWorld.make()
        let foreign = w.betaAddress("\(w.attackTag)-1")
        var attempts: [Attempt] = []
        for role in [AdversaryWorld.Role.unitAdmin, .workspaceAdmin, .subUnitAdmin, .user] {
            for mail in [foreign, w.betaAddress("gus")] {
                let uid = "\(w.attackTag)-\(AdversaryWorld.Role.allCases.firstIndex(of: role)!)"
                attempts += [
                    w.add(role, "uid=\(uid),\(w.salesDN)", [
                        LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]), LDAPAttribute("uid", uid), LDAPAttribute("cn", uid),
                        LDAPAttribute("sn", uid), LDAPAttribute("mail", mail), LDAPAttribute("userPassword", AdversaryWorld.attackPassword),
                        LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwEnabledService", ["imap", "smtp"]),
                    ]),
                    w.add(role, "mail=\(mail),\(w.aliceDN)", [
                        LDAPAttribute("objectClass", ["gwMailAlias"]), LDAPAttribute("mail", mail),
                        LDAPAttribute("gwDeliverTo", w.acmeAddress("alice+x")), LDAPAttribute("gwOwnerAddress", w.acmeAddress("alice")),
                    ]),
                    w.modify(role, w.aliceDN, [.add("mail", [mail])]),
                    w.modify(role, w.aliasDN, [.replace("mail", mail)]),
                    w.modify(role, w.teamDN, [.replace("mail", mail)]),
                    w.rename(role, w.aliasDN, to: "mail=\(mail)"),
                ]
            }
        }
        let postfix = try PostfixConfig(try await SampleDirectory.get())
        #expect(try w.postfixView(postfix) == w.expectedPostfixView())
        try await w.expectChainRefused(attempts)
        #expect(try w.postfixView(postfix) == w.expectedPostfixView())
    }

    /// Issue 11, "a `gwWorkspace` inside a unit squatting a domain", and workspace admins adding
    /// domains (domain ownership changes only through the service).
    @Test func workspaceInsideAUnitSquatsNoDomain() async throws {
        let w = try await AdversaryWorld.make()
        var attempts: [Attempt] = []
        for role in [AdversaryWorld.Role.unitAdmin, .workspaceAdmin, .subUnitAdmin] {
            for parent in [w.salesDN, w.eastDN, w.acmeDN, w.workspacesDN] {
                attempts.append(w.add(role, "o=\(w.attackTag)-squat,\(parent)", [
                    LDAPAttribute("objectClass", ["gwWorkspace"]), LDAPAttribute("o", "\(w.attackTag)-squat"),
                    LDAPAttribute("gwMailDomain", [w.squatDomain]),
                ]))
            }
            attempts.append(w.modify(role, w.acmeDN, [.add("gwMailDomain", [w.squatDomain])]))
            attempts.append(w.modify(role, w.acmeDN, [.add("gwMailDomain", [w.betaDomain])]))
            attempts.append(w.modify(role, w.salesDN, [.add("objectClass", ["gwWorkspace"])]))
            attempts.append(w.rename(role, w.eastDN, to: "o=east", under: w.workspacesDN))
        }
        try await w.expectChainRefused(attempts)
        let postfix = try PostfixConfig(try await SampleDirectory.get())
        #expect(try postfix.query(w.squatDomain, "ldap-virtual-mailbox-domains.cf") == nil)
        #expect(try w.postfixView(postfix) == w.expectedPostfixView())
    }

    /// Issue 11, "`gwHomeWorkspace` rewritten" and "`pwdPolicySubentry` rewritten to the service
    /// policy" (no lockout). SPEC §3: "security attributes (object classes, RDN types, home
    /// workspace, password policy, alias counter, credential links) change only through the service".
    @Test func homeWorkspaceAndPasswordPolicyCannotBeRewritten() async throws {
        let w = try await AdversaryWorld.make()
        var attempts: [Attempt] = []
        for role in AdversaryWorld.Role.allCases {
            for target in [w.aliceDN, w.samDN, w.bossDN, w.carlDN, w.daveDN, w.gusDN] {
                for controls in [[], [LDAPRequestControl.relax]] {
                    attempts.append(w.modify(role, target, [.replace("gwHomeWorkspace", w.betaDN)], controls: controls))
                    attempts.append(w.modify(role, target, [.replace("pwdPolicySubentry", w.servicePolicyDN)], controls: controls))
                    attempts.append(w.modify(role, target, [.add("gwMemberWorkspace", [w.betaDN])], controls: controls))
                }
            }
        }
        let policies = try await w.victims.asyncMap { try await w.entry($0.dn, ["pwdPolicySubentry", "gwHomeWorkspace"]) }
        try await w.expectChainRefused(attempts)
        let after = try await w.victims.asyncMap { try await w.entry($0.dn, ["pwdPolicySubentry", "gwHomeWorkspace"]) }
        #expect(after == policies)
        #expect(after.allSatisfy { $0?.string("pwdPolicySubentry")?.lowercased() != w.servicePolicyDN.lowercased() })
    }

    /// Issue 11, "members from other workspaces/units added to an admin group".
    @Test func adminGroupsTakeNoForeignMembers() async throws {
        let w = try await AdversaryWorld.make()
        typealias Role = AdversaryWorld.Role
        let cases: [(Role, String, String)] = [
            (.workspaceAdmin, w.acmeAdminsDN, w.gusDN), (.workspaceAdmin, w.acmeAdminsDN, w.beaDN),
            (.workspaceAdmin, w.salesAdminsDN, w.daveDN), (.workspaceAdmin, w.betaAdminsDN, w.bossDN),
            (.unitAdmin, w.salesAdminsDN, w.daveDN), (.unitAdmin, w.salesAdminsDN, w.gusDN), (.unitAdmin, w.eastAdminsDN, w.aliceDN),
            (.unitAdmin, w.acmeAdminsDN, w.samDN), (.subUnitAdmin, w.salesAdminsDN, w.carlDN), (.subUnitAdmin, w.eastAdminsDN, w.daveDN),
            (.user, w.salesAdminsDN, w.aliceDN), (.user, w.acmeAdminsDN, w.aliceDN), (.mailCredential, w.salesAdminsDN, w.aliceDN),
            (.dovecot, w.acmeAdminsDN, w.aliceDN), (.postfix, w.acmeAdminsDN, w.aliceDN), (.anonymous, w.acmeAdminsDN, w.aliceDN),
        ]
        var attempts: [Attempt] = []
        for (role, group, member) in cases {
            attempts.append(w.modify(role, group, [.add("member", [member])]))
            attempts.append(w.modify(role, group, [.add("member", [member])], controls: [.relax]))
            attempts.append(w.modify(role, group, [.replace("member", [member])]))
            attempts.append(w.modify(role, w.superAdminsDN, [.add("member", [member])]))
        }
        let groups = [w.acmeAdminsDN, w.salesAdminsDN, w.eastAdminsDN, w.betaAdminsDN, w.superAdminsDN]
        let before = try await groups.asyncMap { try await w.entry($0, ["member"])?.strings("member").sorted() }
        try await w.expectChainRefused(attempts)
        #expect(try await groups.asyncMap { try await w.entry($0, ["member"])?.strings("member").sorted() } == before)
    }

    /// Issue 11, "the 5-alias cap bypassed (alias entry without the counter; `gwAliasCount`
    /// reset)". SPEC §3: "at most 5 per account".
    @Test func aliasCapCannotBeBypassed() async throws {
        let w = try await AdversaryWorld.make()
        var attempts: [Attempt] = []
        for role in [AdversaryWorld.Role.unitAdmin, .workspaceAdmin, .user, .mailCredential] {
            for n in 1...6 {
                let mail = w.acmeAddress("\(w.attackTag)-\(n)")
                attempts.append(w.add(role, "mail=\(mail),\(w.aliceDN)", [
                    LDAPAttribute("objectClass", ["gwMailAlias"]), LDAPAttribute("mail", mail),
                    LDAPAttribute("gwDeliverTo", w.acmeAddress("alice+x\(n)")), LDAPAttribute("gwOwnerAddress", w.acmeAddress("alice")),
                ]))
            }
            for controls in [[], [LDAPRequestControl.relax]] {
                attempts.append(w.modify(role, w.aliceDN, [.replace("gwAliasCount", "0")], controls: controls))
                attempts.append(w.modify(role, w.aliceDN, [.increment("gwAliasCount", by: -1)], controls: controls))
                attempts.append(w.modify(role, w.aliceDN, [.delete("gwAliasCount")], controls: controls))
            }
        }
        try await w.expectChainRefused(attempts)
        #expect(try await w.entry(w.aliceDN, ["gwAliasCount"])?.string("gwAliasCount") == "1")
        let postfix = try PostfixConfig(try await SampleDirectory.get())
        #expect(try postfix.query(w.acmeAddress("\(w.attackTag)-1"), "ldap-virtual-alias-maps.cf") == nil)
        // The service's cap still holds: four more aliases, not five.
        let connection = w.fixture.gwdirConnection()
        defer { connection.close() }
        let aliases = AliasService(DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: w.base)))
        for n in 2...5 { _ = try await aliases.add(owner: w.acmeAddress("alice"), alias: w.acmeAddress("al\(n)")) }
        await #expect(throws: (any Error).self) {
            _ = try await aliases.add(owner: w.acmeAddress("alice"), alias: w.acmeAddress("al6"))
        }
    }

    /// Issue 11, "duplicate login ids and duplicate-address decoys": SPEC §3 "login id unique per
    /// workspace" and "every address ... unique directory-wide". A second `uid=alice` in another
    /// unit, an entry with alice's `gwLoginKey`, and a `gwInvitation` decoy carrying alice's
    /// address (slapo-unique exempts invitations) must not land, and neither Postfix nor Dovecot
    /// may lose or change alice.
    @Test func duplicateLoginIdsAndAddressDecoys() async throws {
        let w = try await AdversaryWorld.make()
        var attempts: [Attempt] = []
        for role in [AdversaryWorld.Role.unitAdmin, .subUnitAdmin, .workspaceAdmin, .user] {
            let fresh = w.acmeAddress("\(w.attackTag)-\(AdversaryWorld.Role.allCases.firstIndex(of: role)!)")
            for unit in [w.eastDN, w.devDN, w.salesDN] {
                attempts.append(w.add(role, "uid=alice,\(unit)", [
                    LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]), LDAPAttribute("uid", "alice"), LDAPAttribute("cn", "alice"),
                    LDAPAttribute("sn", "alice"), LDAPAttribute("mail", fresh), LDAPAttribute("userPassword", AdversaryWorld.attackPassword),
                    LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwEnabledService", ["imap"]),
                ]))
                attempts.append(w.add(role, "uid=\(w.attackTag)-dup,\(unit)", [
                    LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]), LDAPAttribute("uid", "\(w.attackTag)-dup"), LDAPAttribute("cn", "x"),
                    LDAPAttribute("sn", "x"), LDAPAttribute("mail", fresh), LDAPAttribute("gwLoginKey", "\(w.acme)/alice"),
                ]))
                attempts.append(w.add(role, "gwInvitationId=\(w.attackTag)-decoy,\(unit)", [
                    LDAPAttribute("objectClass", ["gwInvitation"]), LDAPAttribute("gwInvitationId", "\(w.attackTag)-decoy"),
                    LDAPAttribute("mail", w.acmeAddress("alice")),
                ]))
            }
            attempts.append(w.modify(role, w.daveDN, [.add("uid", ["alice"])]))
            attempts.append(w.modify(role, w.daveDN, [.replace("gwLoginKey", "\(w.acme)/alice")]))
            attempts.append(w.rename(role, w.daveDN, to: "uid=alice"))
            attempts.append(w.rename(role, w.daveDN, to: "uid=dave", under: w.eastDN))
        }
        try await w.expectChainRefused(attempts)
        let postfix = try PostfixConfig(try await SampleDirectory.get())
        #expect(try w.postfixView(postfix) == w.expectedPostfixView())
        try await withDovecot { dovecot, _ in
            try expectDovecotUnchanged(dovecot, w)
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
