import Foundation
import LDAPClient
import Testing
import TestSupport

/// Who binds. Every role binds for real with its own DN and password (or not at all).
enum Role: String, Sendable, CustomStringConvertible {
    case gwdir = "gwdir service"
    case dovecot
    case postfix
    case workspaceAdmin = "workspace admin"
    case salesAdmin = "unit admin of sales"
    case eastAdmin = "unit admin of east"
    case user = "user alice"
    case anonymous

    var description: String { rawValue }

    func connection(_ ws: SampleWorkspace) -> LDAPConnection {
        let f = ws.fixture
        switch self {
        case .gwdir: return ws.connection(as: f.gwdirDN, password: f.gwdirPassword)
        case .dovecot: return ws.connection(as: f.dovecotDN, password: f.dovecotPassword)
        case .postfix: return ws.connection(as: f.postfixDN, password: f.postfixPassword)
        case .workspaceAdmin: return ws.connection(as: ws.dn("uid=boss,ou=sales"), password: SampleWorkspace.password("boss"))
        case .salesAdmin: return ws.connection(as: ws.dn("uid=sam,ou=sales"), password: SampleWorkspace.password("sam"))
        case .eastAdmin: return ws.connection(as: ws.dn("uid=carl,ou=east,ou=sales"), password: SampleWorkspace.password("carl"))
        case .user: return ws.connection(as: ws.dn("uid=alice,ou=sales"), password: SampleWorkspace.password("alice"))
        case .anonymous: return ws.anonymous()
        }
    }
}

/// An entry of the sample tree, named as the test names show it.
struct Target: Sendable, CustomStringConvertible {
    let description: String
    let resolve: @Sendable (SampleWorkspace) -> String

    /// Relative to the workspace; "" is `o=<ws>` itself.
    static func ws(_ relative: String) -> Target {
        Target(description: relative.isEmpty ? "o=<ws>" : relative) { $0.dn(relative) }
    }

    /// Relative to the other workspace `o=<ws>-x`.
    static func other(_ relative: String) -> Target {
        Target(description: relative.isEmpty ? "o=<other ws>" : "\(relative),o=<other ws>") { $0.otherDN(relative) }
    }

    static let workspaces = Target(description: "ou=workspaces") { $0.fixture.workspacesDN }
    static let alicesAlias = Target(description: "mail=al@…,uid=alice,ou=sales") { $0.dn("mail=\($0.mail("al")),uid=alice,ou=sales") }
    static let bossAlias = Target(description: "mail=chief@…,uid=boss,ou=sales") { $0.dn("mail=\($0.mail("chief")),uid=boss,ou=sales") }
    static let alicesCredential = Target.ws("cn=mail-password,uid=alice,ou=sales")
}

enum Action: Sendable, CustomStringConvertible {
    /// Base search asking for one attribute.
    case read(String)
    /// Same, for userPassword / gwOtpSecret (named apart so the matrix reads well).
    case readSecret(String)
    /// Compare userPassword with the account's real password.
    case comparePassword
    /// Replace one attribute with a fresh value.
    case modify(String)
    /// Add a `member` value (relative DN) to a group.
    case addMember(String)
    /// Add a new child: an account under a unit, an alias under an account, a workspace under ou=workspaces.
    case add
    /// Add `cn=mail-password` (gwMailCredential) under the target, for the primary address of
    /// another entry: a mail-only password Dovecot would accept for that mailbox.
    case addCredential(for: Target)
    /// Add a sub-unit that already carries a gwBillingId (billing is the workspace admins' call).
    case addBilledUnit
    /// Delete the (existing, leaf) target itself.
    case delete
    /// Root adds a fresh account under the target; the role deletes it.
    case deleteChild
    /// Replace userPassword (an admin's password reset).
    case setPassword

    var description: String {
        switch self {
        case .read(let attribute): "read \(attribute)"
        case .readSecret(let attribute): "read secret \(attribute)"
        case .comparePassword: "compare userPassword"
        case .modify(let attribute): "modify \(attribute)"
        case .addMember(let member): "add member \(member.split(separator: ",").first ?? "")"
        case .add: "add child"
        case .addCredential(let owner): "add mail credential for \(owner)"
        case .addBilledUnit: "add sub-unit with gwBillingId"
        case .delete: "delete"
        case .deleteChild: "delete child"
        case .setPassword: "reset userPassword"
        }
    }
}

enum Expectation: Sendable, CustomStringConvertible {
    case allowed
    /// The operation fails with this result code (50 for writes; 8 for anonymous writes).
    case refused(LDAPError.Code)
    /// The entry is returned without the attribute.
    case attributeHidden
    /// A base search answers noSuchObject (32): slapd does not disclose the entry.
    case entryHidden
    /// A base search returns nothing: no attribute is readable, so not even `(objectClass=*)` matches.
    case unmatched

    var description: String {
        switch self {
        case .allowed: "allowed"
        case .refused(let code): "denied (\(code.rawValue))"
        case .attributeHidden: "denied (attribute hidden)"
        case .entryHidden: "denied (no such object)"
        case .unmatched: "denied (no attribute matches)"
        }
    }
}

struct Cell: Sendable, CustomTestStringConvertible {
    let role: Role
    let action: Action
    let target: Target
    let expected: Expectation

    init(_ role: Role, _ action: Action, _ target: Target, _ expected: Expectation) {
        (self.role, self.action, self.target, self.expected) = (role, action, target, expected)
    }

    var testDescription: String { "\(role) · \(action) · \(target) → \(expected)" }
}

private let denied = Expectation.refused(.insufficientAccessRights)
private let anonymousWrite = Expectation.refused(.strongerAuthRequired)

// Admins hold no raw write right (README, "Security model"): every admin write cell is
// `denied`; the service writes for them after WritePolicy allowed it (WritePolicyTests).
// Cells run in parallel. Refused modifications use description, allowed ones another attribute,
// and no two allowed cells write the same attribute of the same entry (nor reset the same
// password): so no cell's read-back races with another cell's write.
let aclMatrix: [Cell] = [
    // gwdir service: manages everything, reads OTP secrets, never reads password hashes.
    Cell(.gwdir, .read("gwMailQuota"), .ws("uid=alice,ou=sales"), .allowed),
    Cell(.gwdir, .modify("displayName"), .ws("uid=pia,ou=dev"), .allowed),
    Cell(.gwdir, .add, .ws("ou=dev"), .allowed),
    Cell(.gwdir, .deleteChild, .ws("ou=dev"), .allowed),
    Cell(.gwdir, .add, .workspaces, .allowed),
    Cell(.gwdir, .setPassword, .ws("uid=서연,ou=east,ou=sales"), .allowed),
    Cell(.gwdir, .readSecret("gwOtpSecret"), .ws("uid=minjun,ou=east,ou=sales"), .allowed),
    Cell(.gwdir, .readSecret("userPassword"), .ws("uid=alice,ou=sales"), .attributeHidden),
    Cell(.gwdir, .readSecret("userPassword"), .alicesCredential, .attributeHidden),

    // Dovecot: reads its passdb/userdb attributes only; writes nothing.
    Cell(.dovecot, .read("mail"), .ws("uid=alice,ou=sales"), .allowed),
    Cell(.dovecot, .read("gwMailQuota"), .ws("uid=alice,ou=sales"), .allowed),
    Cell(.dovecot, .read("gwCredentialFor"), .alicesCredential, .allowed),
    Cell(.dovecot, .read("cn"), .ws("uid=alice,ou=sales"), .attributeHidden),
    Cell(.dovecot, .modify("description"), .ws("uid=alice,ou=sales"), denied),
    Cell(.dovecot, .add, .ws("ou=sales"), denied),
    Cell(.dovecot, .deleteChild, .ws("ou=sales"), denied),
    Cell(.dovecot, .readSecret("userPassword"), .ws("uid=alice,ou=sales"), .attributeHidden),
    Cell(.dovecot, .readSecret("userPassword"), .alicesCredential, .attributeHidden),
    Cell(.dovecot, .readSecret("gwOtpSecret"), .ws("uid=minjun,ou=east,ou=sales"), .attributeHidden),

    // Postfix: routing attributes only.
    Cell(.postfix, .read("gwDeliverTo"), .alicesAlias, .allowed),
    Cell(.postfix, .read("member"), .ws("cn=team,ou=sales"), .allowed),
    Cell(.postfix, .read("gwMailQuota"), .ws("uid=alice,ou=sales"), .attributeHidden),
    Cell(.postfix, .modify("description"), .alicesAlias, denied),
    Cell(.postfix, .deleteChild, .ws("ou=dev"), denied),
    Cell(.postfix, .readSecret("userPassword"), .ws("uid=alice,ou=sales"), .attributeHidden),
    Cell(.postfix, .readSecret("userPassword"), .alicesCredential, .unmatched),

    // Workspace admin: the whole workspace, secrets write-only, nothing outside.
    Cell(.workspaceAdmin, .modify("displayName"), .ws(""), denied),
    Cell(.workspaceAdmin, .modify("title"), .ws("uid=pia,ou=dev"), denied),
    Cell(.workspaceAdmin, .modify("title"), .ws("uid=minjun,ou=east,ou=sales"), denied),
    Cell(.workspaceAdmin, .modify("displayName"), .ws("cn=admins,ou=sales"), denied),
    Cell(.workspaceAdmin, .modify("gwBillingId"), .ws("ou=dev"), denied),
    Cell(.workspaceAdmin, .add, .ws("ou=dev"), denied),
    Cell(.workspaceAdmin, .deleteChild, .ws("ou=east,ou=sales"), denied),
    Cell(.workspaceAdmin, .setPassword, .ws("uid=pia,ou=dev"), denied),
    Cell(.workspaceAdmin, .read("gwMailQuota"), .ws("uid=dave,ou=dev"), .allowed),
    Cell(.workspaceAdmin, .modify("description"), .other(""), denied),
    Cell(.workspaceAdmin, .modify("description"), .other("uid=olga"), denied),
    Cell(.workspaceAdmin, .add, .workspaces, denied),
    Cell(.workspaceAdmin, .read("mail"), .other("uid=olga"), .entryHidden),
    Cell(.workspaceAdmin, .readSecret("userPassword"), .ws("uid=alice,ou=sales"), .attributeHidden),
    Cell(.workspaceAdmin, .readSecret("gwOtpSecret"), .ws("uid=minjun,ou=east,ou=sales"), .attributeHidden),
    Cell(.workspaceAdmin, .readSecret("userPassword"), .alicesCredential, .attributeHidden),

    // Unit admin of sales: ou=sales and ou=east,ou=sales (nested) — and nothing else.
    Cell(.salesAdmin, .read("gwMailQuota"), .ws("uid=alice,ou=sales"), .allowed),
    Cell(.salesAdmin, .read("gwMailQuota"), .ws("uid=minjun,ou=east,ou=sales"), .allowed),
    Cell(.salesAdmin, .modify("displayName"), .ws("uid=alice,ou=sales"), denied),
    Cell(.salesAdmin, .modify("displayName"), .ws("uid=minjun,ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .modify("displayName"), .ws("uid=서연,ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .modify("displayName"), .ws("ou=sales"), denied),
    Cell(.salesAdmin, .modify("gwOwnerAddress"), .alicesAlias, denied),
    Cell(.salesAdmin, .add, .ws("ou=sales"), denied),
    Cell(.salesAdmin, .add, .ws("ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .add, .ws("uid=erin,ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .deleteChild, .ws("ou=sales"), denied),
    Cell(.salesAdmin, .deleteChild, .ws("ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .setPassword, .ws("uid=erin,ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .read("mail"), .ws("uid=dave,ou=dev"), .allowed),
    Cell(.salesAdmin, .modify("description"), .ws("uid=dave,ou=dev"), denied),
    Cell(.salesAdmin, .add, .ws("ou=dev"), denied),
    Cell(.salesAdmin, .delete, .ws("uid=dave,ou=dev"), denied),
    Cell(.salesAdmin, .deleteChild, .ws("ou=dev"), denied),
    Cell(.salesAdmin, .setPassword, .ws("uid=dave,ou=dev"), denied),
    Cell(.salesAdmin, .modify("description"), .ws("ou=dev"), denied),
    Cell(.salesAdmin, .modify("description"), .ws(""), denied),
    Cell(.salesAdmin, .modify("description"), .ws("cn=admins"), denied),
    Cell(.salesAdmin, .modify("description"), .other("uid=olga"), denied),
    Cell(.salesAdmin, .modify("description"), .other(""), denied),
    Cell(.salesAdmin, .read("gwMailQuota"), .ws("uid=dave,ou=dev"), .attributeHidden),
    Cell(.salesAdmin, .read("mail"), .other("uid=olga"), .entryHidden),
    Cell(.salesAdmin, .addMember("uid=alice,ou=sales"), .ws("cn=admins,ou=sales"), denied),
    Cell(.salesAdmin, .modify("gwBillingId"), .ws("ou=sales"), denied),
    Cell(.salesAdmin, .addBilledUnit, .ws("ou=sales"), denied),
    Cell(.workspaceAdmin, .addBilledUnit, .ws("ou=sales"), denied),
    Cell(.salesAdmin, .modify("description"), .ws("uid=boss,ou=sales"), denied),
    Cell(.salesAdmin, .modify("description"), .bossAlias, denied),
    Cell(.salesAdmin, .add, .ws("uid=boss,ou=sales"), denied),
    Cell(.salesAdmin, .setPassword, .ws("uid=boss,ou=sales"), denied),
    Cell(.salesAdmin, .modify("description"), .ws("uid=carl,ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .setPassword, .ws("uid=carl,ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .modify("description"), .ws("uid=sam,ou=sales"), denied),
    Cell(.salesAdmin, .readSecret("userPassword"), .ws("uid=alice,ou=sales"), .attributeHidden),
    Cell(.salesAdmin, .readSecret("gwOtpSecret"), .ws("uid=minjun,ou=east,ou=sales"), .attributeHidden),
    Cell(.salesAdmin, .readSecret("userPassword"), .alicesCredential, .attributeHidden),
    Cell(.salesAdmin, .comparePassword, .ws("uid=alice,ou=sales"), denied),

    // Mail-only credentials: Dovecot logs `address` in with any gwMailCredential whose
    // gwCredentialFor is that address, so only the account's own address, under the account itself.
    Cell(.salesAdmin, .addCredential(for: .ws("uid=서연,ou=east,ou=sales")), .ws("uid=서연,ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .addCredential(for: .ws("uid=boss,ou=sales")), .ws("ou=sales"), denied),
    Cell(.salesAdmin, .addCredential(for: .ws("uid=dave,ou=dev")), .ws("uid=erin,ou=east,ou=sales"), denied),
    Cell(.salesAdmin, .modify("gwCredentialFor"), .alicesCredential, denied),
    Cell(.workspaceAdmin, .addCredential(for: .other("uid=olga")), .ws("uid=pia,ou=dev"), denied),
    Cell(.workspaceAdmin, .addCredential(for: .other("uid=olga")), .ws("ou=dev"), denied),
    Cell(.workspaceAdmin, .modify("gwCredentialFor"), .alicesCredential, denied),
    Cell(.gwdir, .addCredential(for: .ws("uid=dave,ou=dev")), .ws("uid=dave,ou=dev"), .allowed),

    // Unit admin of east (a sub-unit): its own unit only.
    Cell(.eastAdmin, .modify("displayName"), .ws("uid=erin,ou=east,ou=sales"), denied),
    Cell(.eastAdmin, .modify("description"), .ws("uid=alice,ou=sales"), denied),
    Cell(.eastAdmin, .modify("description"), .ws("ou=sales"), denied),
    Cell(.eastAdmin, .addMember("uid=erin,ou=east,ou=sales"), .ws("cn=admins,ou=east,ou=sales"), denied),

    // A plain user: reads self (not secrets) and the address book; writes nothing but its password.
    Cell(.user, .read("gwMailQuota"), .ws("uid=alice,ou=sales"), .allowed),
    Cell(.user, .read("gwAliasFolder"), .alicesAlias, .allowed),
    Cell(.user, .read("gwCredentialFor"), .alicesCredential, .allowed),
    Cell(.user, .readSecret("userPassword"), .ws("uid=alice,ou=sales"), .attributeHidden),
    Cell(.user, .readSecret("userPassword"), .alicesCredential, .attributeHidden),
    Cell(.user, .modify("description"), .ws("uid=alice,ou=sales"), denied),
    Cell(.user, .modify("description"), .alicesAlias, denied),
    Cell(.user, .add, .ws("uid=alice,ou=sales"), denied),
    Cell(.user, .read("mail"), .ws("uid=minjun,ou=east,ou=sales"), .allowed),
    Cell(.user, .read("cn"), .ws("uid=minjun,ou=east,ou=sales"), .allowed),
    Cell(.user, .read("gwMailQuota"), .ws("uid=minjun,ou=east,ou=sales"), .attributeHidden),
    Cell(.user, .readSecret("gwOtpSecret"), .ws("uid=minjun,ou=east,ou=sales"), .attributeHidden),
    Cell(.user, .read("mail"), .other("uid=olga"), .entryHidden),
    Cell(.user, .modify("description"), .ws("uid=minjun,ou=east,ou=sales"), denied),
    Cell(.user, .add, .ws("ou=sales"), denied),
    Cell(.user, .deleteChild, .ws("ou=sales"), denied),
    Cell(.user, .setPassword, .ws("uid=minjun,ou=east,ou=sales"), denied),
    Cell(.user, .comparePassword, .ws("uid=minjun,ou=east,ou=sales"), denied),

    // Anonymous: binds only.
    Cell(.anonymous, .read("mail"), .ws("uid=alice,ou=sales"), .entryHidden),
    Cell(.anonymous, .readSecret("userPassword"), .ws("uid=alice,ou=sales"), .entryHidden),
    Cell(.anonymous, .read("gwMailDomain"), .ws(""), .entryHidden),
    Cell(.anonymous, .comparePassword, .ws("uid=alice,ou=sales"), .refused(.noSuchObject)),
    Cell(.anonymous, .modify("description"), .ws("uid=alice,ou=sales"), anonymousWrite),
    Cell(.anonymous, .add, .ws("ou=sales"), anonymousWrite),
    Cell(.anonymous, .deleteChild, .ws("ou=sales"), anonymousWrite),
]

/// The access-control matrix of schema/README.md, cell by cell, with raw LDAP operations bound
/// as each role against the real slapd and its generated ACLs.
@Suite struct ACLMatrixTests {
    static let sample = Task { try await SampleWorkspace.build("acl") }

    @Test(arguments: aclMatrix)
    func cell(_ cell: Cell) async throws {
        let ws = try await Self.sample.value
        let root = ws.root()
        let actor = cell.role.connection(ws)
        defer {
            root.close()
            actor.close()
        }
        let dn = cell.target.resolve(ws)
        switch cell.action {
        case .read(let attribute), .readSecret(let attribute):
            try await checkRead(actor, root, dn, attribute, cell.expected)
        case .comparePassword:
            let uid = try #require(dn.split(separator: ",").first?.split(separator: "=").last)
            let outcome = await resultCode {
                let equal = try await actor.compare(dn: dn.parsedDN, attribute: "userPassword", value: Array(SampleWorkspace.password(String(uid)).utf8))
                #expect(equal, "compare answered FALSE for the right password")
            }
            try expectOutcome(outcome, cell.expected)
        case .modify(let attribute):
            let before = try #require(try await root.entry(dn.parsedDN, attributes: [attribute])).strings(attribute)
            let value = attribute == "gwBillingId" ? "B-\(Int.random(in: 1000...9999))" : "changed \(UUID().uuidString.prefix(8))"
            let outcome = await resultCode { try await actor.modify(dn: dn.parsedDN, [.replace(attribute, [value])]) }
            try expectOutcome(outcome, cell.expected)
            let after = try #require(try await root.entry(dn.parsedDN, attributes: [attribute])).strings(attribute)
            if case .allowed = cell.expected {
                #expect(after == [value])
            } else {
                #expect(after == before, "the refused modify changed \(attribute) of \(dn)")
            }
        case .addMember(let member):
            let before = try #require(try await root.entry(dn.parsedDN, attributes: ["member"])).strings("member")
            let outcome = await resultCode { try await actor.modify(dn: dn.parsedDN, [.add("member", [ws.dn(member)])]) }
            try expectOutcome(outcome, cell.expected)
            let after = try #require(try await root.entry(dn.parsedDN, attributes: ["member"])).strings("member")
            if case .allowed = cell.expected {
                #expect(after.count == before.count + 1)
            } else {
                #expect(after == before)
            }
        case .add:
            let (child, attributes) = newChild(of: dn, ws)
            let outcome = await resultCode { try await actor.add(dn: child.parsedDN, attributes: attributes) }
            try expectOutcome(outcome, cell.expected)
            let created = try await root.entry(child.parsedDN, attributes: ["1.1"])
            if case .allowed = cell.expected {
                #expect(created != nil)
                if created != nil { try await root.delete(dn: child.parsedDN) }
            } else {
                #expect(created == nil, "the refused add created \(child)")
            }
        case .addBilledUnit:
            let tag = "u\(UUID().uuidString.prefix(8).lowercased())"
            let child = "ou=\(tag),\(dn)"
            let outcome = await resultCode {
                try await actor.add(dn: child.parsedDN, attributes: ws.unit(tag, extra: [LDAPAttribute("gwBillingId", "FREE")]))
            }
            try expectOutcome(outcome, cell.expected)
            let created = try await root.entry(child.parsedDN, attributes: ["gwBillingId"])
            if case .allowed = cell.expected {
                #expect(created?.string("gwBillingId") == "FREE")
            } else {
                #expect(created == nil, "the refused add created \(child)")
            }
            if created != nil { try await root.delete(dn: child.parsedDN) }
        case .addCredential(let owner):
            let child = "cn=mail-password,\(dn)"
            let address = try #require(try await root.entry(owner.resolve(ws).parsedDN, attributes: ["mail"])?.string("mail"))
            let outcome = await resultCode {
                try await actor.add(dn: child.parsedDN, attributes: ws.credential(for: address, password: "cred-\(UUID().uuidString)"))
            }
            try expectOutcome(outcome, cell.expected)
            let created = try await root.entry(child.parsedDN, attributes: ["1.1"])
            if case .allowed = cell.expected {
                #expect(created != nil)
            } else {
                #expect(created == nil, "the refused add created \(child)")
            }
            if created != nil { try await root.delete(dn: child.parsedDN) }
        case .delete:
            let outcome = await resultCode { try await actor.delete(dn: dn.parsedDN) }
            try expectOutcome(outcome, cell.expected)
            let remaining = try await root.entry(dn.parsedDN, attributes: ["1.1"])
            if case .allowed = cell.expected {
                #expect(remaining == nil)
            } else {
                #expect(remaining != nil, "the refused delete removed \(dn)")
            }
        case .deleteChild:
            let (child, attributes) = newChild(of: dn, ws)
            try await root.add(dn: child.parsedDN, attributes: attributes)
            let outcome = await resultCode { try await actor.delete(dn: child.parsedDN) }
            try expectOutcome(outcome, cell.expected)
            let remaining = try await root.entry(child.parsedDN, attributes: ["1.1"])
            if case .allowed = cell.expected {
                #expect(remaining == nil)
            } else {
                #expect(remaining != nil, "the refused delete removed \(child)")
                try await root.delete(dn: child.parsedDN)
            }
        case .setPassword:
            let before = try #require(try await root.entry(dn.parsedDN, attributes: ["userPassword"]))["userPassword"]
            let newPassword = "reset-\(UUID().uuidString.prefix(8))"
            let outcome = await resultCode { try await actor.modify(dn: dn.parsedDN, [.replace("userPassword", [newPassword])]) }
            try expectOutcome(outcome, cell.expected)
            let after = try #require(try await root.entry(dn.parsedDN, attributes: ["userPassword"]))["userPassword"]
            if case .allowed = cell.expected {
                #expect(after != before)
                try await using(ws.fixture.connection(.anonymous)) { (probe) async throws in
                    try await probe.bind(.simple(dn: dn, password: newPassword))
                    #expect(try await probe.whoAmI().lowercased() == "dn:\(dn)".lowercased())
                }
            } else {
                #expect(after == before, "the refused reset changed the password of \(dn)")
            }
        }
    }

    private func checkRead(_ actor: LDAPConnection, _ root: LDAPConnection, _ dn: String, _ attribute: String, _ expected: Expectation) async throws {
        // The attribute exists, so a missing one in the answer means slapd hid it.
        let truth = try #require(try await root.entry(dn.parsedDN, attributes: [attribute]))[attribute]
        try #require(!truth.isEmpty, "\(attribute) is not set on \(dn)")
        switch expected {
        case .allowed:
            let entry = try #require(try await actor.search(base: dn.parsedDN, scope: .base, filter: .present("objectClass"), attributes: [attribute]).entries.first)
            #expect(entry[attribute] == truth)
        case .attributeHidden:
            let entries = try await actor.search(base: dn.parsedDN, scope: .base, filter: .present("objectClass"), attributes: [attribute]).entries
            #expect(entries.count == 1, "the entry itself stays visible")
            #expect(entries.first?[attribute].isEmpty == true, "\(attribute) of \(dn) was disclosed")
        case .entryHidden:
            let outcome = await resultCode { _ = try await actor.search(base: dn.parsedDN, scope: .base, filter: .present("objectClass"), attributes: [attribute]) }
            #expect(outcome == .noSuchObject)
        case .unmatched:
            let entries = try await actor.search(base: dn.parsedDN, scope: .base, filter: .present("objectClass"), attributes: [attribute]).entries
            #expect(entries.isEmpty, "\(dn) matched a filter for an identity that reads none of its attributes")
        case .refused(let code):
            let outcome = await resultCode { _ = try await actor.search(base: dn.parsedDN, scope: .base, filter: .present("objectClass"), attributes: [attribute]) }
            #expect(outcome == code)
        }
    }

    private func expectOutcome(_ outcome: LDAPError.Code?, _ expected: Expectation, sourceLocation: SourceLocation = #_sourceLocation) throws {
        switch expected {
        case .allowed:
            #expect(outcome == nil, "refused with \(outcome.map { "\($0) (\($0.rawValue))" } ?? "")", sourceLocation: sourceLocation)
        case .refused(let code):
            #expect(outcome == code, "want \(code) (\(code.rawValue)), got \(outcome.map { "\($0) (\($0.rawValue))" } ?? "success")", sourceLocation: sourceLocation)
        case .attributeHidden, .entryHidden, .unmatched:
            Issue.record("read expectation on a write cell", sourceLocation: sourceLocation)
        }
    }

    /// A new entry below `parent` of the kind that belongs there.
    private func newChild(of parent: String, _ ws: SampleWorkspace) -> (String, [LDAPAttribute]) {
        let tag = "n\(UUID().uuidString.prefix(8).lowercased())"
        if parent == ws.fixture.workspacesDN {
            return ("o=\(tag),\(parent)", ws.workspace(name: tag, domain: "\(tag).test"))
        }
        if parent.hasPrefix("uid=") {
            let owner = "x@\(ws.domain)"
            return ("mail=\(ws.mail(tag)),\(parent)", ws.alias(ws.mail(tag), owner: owner, folder: tag))
        }
        return ("uid=\(tag),\(parent)", ws.account(uid: tag, mail: ws.mail(tag)))
    }
}

/// The decisive promise of SPEC §3: a delegated admin binding as itself with a raw modify can
/// not touch another unit, and the target is exactly as it was afterwards.
@Suite struct DelegatedAdminScopeTests {
    static let sample = Task { try await SampleWorkspace.build("scope") }

    static let outOfScope: [String] = [
        "uid=dave,ou=dev",   // sibling unit
        "ou=dev",            // the sibling unit entry
        "",                  // the parent workspace entry
        "cn=admins",         // the workspace admin group
        "uid=boss,ou=sales", // an admin account inside the unit
    ]

    @Test(arguments: outOfScope)
    func rawModifyOutsideTheUnitIsRefusedAndChangesNothing(_ relative: String) async throws {
        let ws = try await Self.sample.value
        let target = ws.dn(relative)
        try await using(ws.root()) { (root) async throws in
            try await using(Role.salesAdmin.connection(ws)) { (sam) async throws in
                #expect(try await sam.whoAmI().lowercased() == "dn:\(ws.dn("uid=sam,ou=sales"))".lowercased())
                let before = try #require(try await root.entry(target.parsedDN, attributes: ["*", "+"]))
                var changes: [LDAPModification] = [.replace("description", ["owned by sam"])]
                if relative.hasPrefix("uid=") {
                    changes += [
                        .replace("gwMailQuota", ["999999999999"]),
                        .replace("gwAccountStatus", ["suspended"]),
                        .replace("userPassword", ["owned"]),
                    ]
                } else if relative == "cn=admins" {
                    changes += [.add("member", [ws.dn("uid=sam,ou=sales")])]
                }
                let error = await #expect(throws: LDAPError.self) { try await sam.modify(dn: target.parsedDN, changes) }
                #expect(error?.code == .insufficientAccessRights)
                let after = try #require(try await root.entry(target.parsedDN, attributes: ["*", "+"]))
                #expect(after == before, "the refused modify changed \(target)")
            }
        }
    }

    @Test func moveAndDeleteOutsideTheUnitAreRefused() async throws {
        let ws = try await Self.sample.value
        let dave = ws.dn("uid=dave,ou=dev")
        try await using(ws.root()) { (root) async throws in
            try await using(Role.salesAdmin.connection(ws)) { (sam) async throws in
                // Pull an account of another unit into sales.
                let move = await #expect(throws: LDAPError.self) {
                    try await sam.rename(dn: dave.parsedDN, newRDN: "uid=dave".parsedRDN, deleteOldRDN: true, newSuperior: ws.dn("ou=sales").parsedDN)
                }
                #expect(move?.code == .insufficientAccessRights)
                // Push an account of sales out into dev.
                let push = await #expect(throws: LDAPError.self) {
                    try await sam.rename(dn: ws.dn("uid=erin,ou=east,ou=sales").parsedDN, newRDN: "uid=erin".parsedRDN, deleteOldRDN: true, newSuperior: ws.dn("ou=dev").parsedDN)
                }
                #expect(push?.code == .insufficientAccessRights)
                // Rename its own unit (needs write on the workspace's children).
                let rename = await #expect(throws: LDAPError.self) {
                    try await sam.rename(dn: ws.dn("ou=sales").parsedDN, newRDN: "ou=sales2".parsedRDN, deleteOldRDN: true, newSuperior: nil)
                }
                #expect(rename?.code == .insufficientAccessRights)
                let delete = await #expect(throws: LDAPError.self) { try await sam.delete(dn: dave.parsedDN) }
                #expect(delete?.code == .insufficientAccessRights)
                #expect(try await root.entry(dave.parsedDN) != nil)
                #expect(try await root.entry(ws.dn("uid=dave,ou=sales").parsedDN) == nil)
                #expect(try await root.entry(ws.dn("uid=erin,ou=east,ou=sales").parsedDN) != nil)
                #expect(try await root.entry(ws.dn("ou=sales").parsedDN) != nil)
            }
        }
    }
}
