import Directory
import LDAPClient
import Testing

/// The write gate's rules, without slapd: what an acting admin may have the service write.
@Suite struct WritePolicyTests {
    static let layout = try! DirectoryLayout(base: "dc=example,dc=com")
    static func dn(_ relative: String) -> DistinguishedName {
        try! DistinguishedName(relative.isEmpty ? "ou=workspaces,dc=example,dc=com" : "\(relative),ou=workspaces,dc=example,dc=com")
    }

    static let acme = dn("o=acme")
    static let sales = dn("ou=sales,o=acme")
    static let east = dn("ou=east,ou=sales,o=acme")
    static let dev = dn("ou=dev,o=acme")

    static func policy(super isSuper: Bool = false, workspaces: [DistinguishedName] = [], units: [DistinguishedName] = []) -> WritePolicy {
        WritePolicy(layout: layout, principal: AdminPrincipal(
            dn: dn("uid=sam,ou=sales,o=acme"), address: "sam@acme.example", isSuperAdmin: isSuper, workspaces: workspaces, units: units
        ))
    }

    static let unitAdmin = policy(units: [sales])
    static let workspaceAdmin = policy(workspaces: [acme])
    static let superAdmin = policy(super: true)
    static let plainUser = policy()

    static let account = ["inetOrgPerson", "gwAccount"]

    func allowed(_ decision: WriteDecision) -> Bool { decision == .allowed }

    // MARK: adds

    @Test func unitAdminAddsDefinedShapesInsideTheUnitOnly() {
        let p = Self.unitAdmin
        #expect(allowed(p.decide(.add(Self.dn("uid=new,ou=sales,o=acme"), objectClasses: Self.account, attributes: ["uid", "mail"]))))
        #expect(allowed(p.decide(.add(Self.dn("uid=new,ou=east,ou=sales,o=acme"), objectClasses: Self.account, attributes: ["uid"]))))
        #expect(allowed(p.decide(.add(Self.dn("ou=west,ou=sales,o=acme"), objectClasses: ["organizationalUnit", "gwOrgUnit"], attributes: ["ou"]))))
        #expect(!allowed(p.decide(.add(Self.dn("uid=new,ou=dev,o=acme"), objectClasses: Self.account, attributes: ["uid"]))))
        #expect(!allowed(p.decide(.add(Self.dn("ou=sibling,o=acme"), objectClasses: ["organizationalUnit", "gwOrgUnit"], attributes: ["ou"]))))
        #expect(!allowed(p.decide(.add(Self.dn("uid=x,o=beta"), objectClasses: Self.account, attributes: ["uid"]))))
    }

    @Test(arguments: [
        // (RDN below ou=sales, object classes): shapes the service never writes there.
        ("cn=east", ["extensibleObject", "organizationalUnit"]),
        ("uid=x", ["inetOrgPerson", "gwAccount", "extensibleObject"]),
        ("uid=x", ["inetOrgPerson", "gwAccount", "pwdPolicy"]),
        ("ou=x", ["organizationalUnit", "gwOrgUnit", "referral"]),
        ("cn=x", ["alias"]),
        ("o=squat", ["gwWorkspace"]),
        ("gwInvitationId=evil", ["gwInvitation"]),
        ("cn=mail-password", ["gwMailCredential"]),
        ("mail=x@acme.example", ["gwMailAlias"]),
        ("description=x", ["organizationalUnit"]),
        ("uid=x+cn=y", ["inetOrgPerson", "gwAccount"]),
        ("cn=admins", ["groupOfNames", "gwMailGroup"]),
    ])
    func undefinedShapesAreRefusedForEveryAdmin(_ rdn: String, _ classes: [String]) {
        let target = Self.dn("\(rdn),ou=sales,o=acme")
        for policy in [Self.unitAdmin, Self.workspaceAdmin, Self.superAdmin] {
            #expect(!allowed(policy.decide(.add(target, objectClasses: classes, attributes: ["objectClass"]))), "\(rdn) \(classes)")
        }
    }

    @Test func aliasesAndCredentialsBelongDirectlyUnderAnAccount() {
        let p = Self.unitAdmin
        #expect(allowed(p.decide(.add(Self.dn("mail=a@acme.example,uid=alice,ou=sales,o=acme"), objectClasses: ["gwMailAlias"], attributes: ["mail"]))))
        #expect(allowed(p.decide(.add(Self.dn("cn=mail-password,uid=alice,ou=sales,o=acme"), objectClasses: ["gwMailCredential"], attributes: ["cn"]))))
        #expect(!allowed(p.decide(.add(Self.dn("cn=evil,uid=alice,ou=sales,o=acme"), objectClasses: ["gwMailCredential"], attributes: ["cn"]))))
        #expect(!allowed(p.decide(.add(Self.dn("mail=a@acme.example,mail=b@acme.example,uid=alice,ou=sales,o=acme"), objectClasses: ["gwMailAlias"], attributes: ["mail"]))))
    }

    @Test func adminGroupsOfOnesOwnUnitOrAboveAreOutOfReach() {
        let group = ["groupOfNames", "gwAdminGroup"]
        #expect(!allowed(Self.unitAdmin.decide(.add(Self.dn("cn=admins,ou=sales,o=acme"), objectClasses: group, attributes: ["member"]))))
        #expect(!allowed(Self.unitAdmin.decide(.modify(Self.dn("cn=admins,ou=sales,o=acme"), attributes: ["member"]))))
        #expect(!allowed(Self.unitAdmin.decide(.modify(Self.dn("cn=admins,o=acme"), attributes: ["member"]))))
        #expect(allowed(Self.unitAdmin.decide(.add(Self.dn("cn=admins,ou=east,ou=sales,o=acme"), objectClasses: group, attributes: ["member"]))))
        #expect(allowed(Self.unitAdmin.decide(.modify(Self.dn("cn=admins,ou=east,ou=sales,o=acme"), attributes: ["member"]))))
        #expect(allowed(Self.workspaceAdmin.decide(.modify(Self.dn("cn=admins,o=acme"), attributes: ["member"]))))
        #expect(!allowed(Self.workspaceAdmin.decide(.modify(Self.dn("cn=admins,o=beta"), attributes: ["member"]))))
    }

    @Test func workspacesAndMailDomainsAreSuperAdminsOnly() {
        let workspace = Self.dn("o=new")
        #expect(allowed(Self.superAdmin.decide(.add(workspace, objectClasses: ["gwWorkspace"], attributes: ["o", "gwMailDomain"]))))
        #expect(!allowed(Self.workspaceAdmin.decide(.add(workspace, objectClasses: ["gwWorkspace"], attributes: ["o", "gwMailDomain"]))))
        #expect(!allowed(Self.workspaceAdmin.decide(.modify(Self.acme, attributes: ["gwMailDomain"]))))
        #expect(allowed(Self.workspaceAdmin.decide(.modify(Self.acme, attributes: ["displayName", "gwPolicy"]))))
        #expect(allowed(Self.superAdmin.decide(.modify(Self.acme, attributes: ["gwMailDomain"]))))
        #expect(!allowed(Self.unitAdmin.decide(.modify(Self.acme, attributes: ["displayName"]))))
    }

    // MARK: modifies, deletes, renames

    @Test func unitAdminsCanNotTouchAdminsOrBilling() {
        let alice = Self.dn("uid=alice,ou=sales,o=acme")
        #expect(allowed(Self.unitAdmin.decide(.modify(alice, attributes: ["displayName"]))))
        #expect(!allowed(Self.unitAdmin.decide(.modify(alice, attributes: ["userPassword"]), facts: TargetFacts(belongsToAnAdmin: true))))
        #expect(!allowed(Self.unitAdmin.decide(.delete(alice), facts: TargetFacts(belongsToAnAdmin: true))))
        #expect(allowed(Self.workspaceAdmin.decide(.modify(alice, attributes: ["userPassword"]), facts: TargetFacts(belongsToAnAdmin: true))))
        #expect(!allowed(Self.unitAdmin.decide(.modify(Self.sales, attributes: ["gwBillingId"]))))
        #expect(allowed(Self.unitAdmin.decide(.modify(Self.sales, attributes: ["displayName"]))))
        #expect(!allowed(Self.unitAdmin.decide(.delete(Self.east), facts: TargetFacts(isBilledUnit: true))))
        #expect(!allowed(Self.unitAdmin.decide(.add(Self.dn("ou=b,ou=sales,o=acme"), objectClasses: ["organizationalUnit", "gwOrgUnit"], attributes: ["gwBillingId"]))))
        // Nobody's own unit entry can be deleted by its unit admin (it is the scope, not inside it).
        #expect(!allowed(Self.unitAdmin.decide(.delete(Self.sales))))
        #expect(!allowed(Self.unitAdmin.decide(.modify(alice, attributes: ["objectClass"]))))
    }

    @Test func renamesKeepTheRDNTypeTheWorkspaceAndTheScope() throws {
        let east = Self.east
        let p = Self.unitAdmin
        // the old takeover: ou=east -> cn=east
        #expect(!allowed(p.decide(.rename(east, newRDN: try RelativeDistinguishedName(type: "cn", value: "east"), newParent: Self.sales))))
        #expect(allowed(p.decide(.rename(east, newRDN: try RelativeDistinguishedName(type: "ou", value: "east2"), newParent: Self.sales))))
        let alice = Self.dn("uid=alice,ou=sales,o=acme")
        let uid = try RelativeDistinguishedName(type: "uid", value: "alice")
        #expect(allowed(p.decide(.rename(alice, newRDN: uid, newParent: east))))
        #expect(!allowed(p.decide(.rename(alice, newRDN: uid, newParent: Self.dev))))
        #expect(!allowed(Self.superAdmin.decide(.rename(alice, newRDN: uid, newParent: Self.dn("ou=x,o=beta")))))
        #expect(!allowed(Self.workspaceAdmin.decide(.rename(alice, newRDN: uid, newParent: Self.acme))), "accounts sit under a unit")
        #expect(!allowed(p.decide(.rename(alice, newRDN: uid, newParent: east), facts: TargetFacts(belongsToAnAdmin: true))))
    }

    @Test func aPlainUserOrANonAdminWritesNothing() {
        let p = Self.plainUser
        #expect(!p.principal.administersAnything)
        #expect(!allowed(p.decide(.modify(Self.dn("uid=sam,ou=sales,o=acme"), attributes: ["description"]))))
        #expect(!allowed(p.decide(.add(Self.dn("uid=x,ou=sales,o=acme"), objectClasses: Self.account, attributes: ["uid"]))))
        #expect(!allowed(p.decide(.delete(Self.dn("uid=x,ou=sales,o=acme")))))
    }

    @Test func nothingOutsideTheWorkspacesTreeEvenForSuperAdmins() throws {
        let system = try DistinguishedName("cn=superadmins,ou=system,dc=example,dc=com")
        #expect(!allowed(Self.superAdmin.decide(.modify(system, attributes: ["member"]))))
        let event = try DistinguishedName("gwEventId=1,ou=events,ou=audit,dc=example,dc=com")
        #expect(!allowed(Self.superAdmin.decide(.delete(event))))
        #expect(!allowed(Self.superAdmin.decide(.modify(Self.dn(""), attributes: ["description"]))))
    }

    @Test func scopeComparisonIgnoresCase() throws {
        let p = WritePolicy(layout: Self.layout, principal: AdminPrincipal(
            dn: Self.dn("uid=sam,ou=sales,o=acme"), address: "sam@acme.example", isSuperAdmin: false, workspaces: [],
            units: [try DistinguishedName("OU=Sales,O=ACME,ou=workspaces,dc=example,dc=com")]
        ))
        #expect(allowed(p.decide(.modify(Self.dn("uid=alice,ou=sales,o=acme"), attributes: ["displayName"]))))
    }

    // MARK: the shape table

    @Test func everyShapeTheServiceWritesIsRecognised() throws {
        let cases: [(String, [String], EntryKind?, EntryKind)] = [
            ("o=acme", ["gwWorkspace"], nil, .workspace),
            ("ou=sales", ["organizationalUnit", "gwOrgUnit", "top"], .workspace, .unit),
            ("ou=invitations", ["organizationalUnit"], .workspace, .invitations),
            ("uid=alice", ["inetOrgPerson", "gwAccount", "person", "organizationalPerson", "top"], .unit, .account),
            ("uid=help", ["inetOrgPerson", "gwSharedMailbox"], .unit, .sharedMailbox),
            ("mail=al@acme.example", ["gwMailAlias"], .account, .alias),
            ("cn=mail-password", ["gwMailCredential"], .account, .mailCredential),
            ("cn=team", ["groupOfNames", "gwMailGroup"], .unit, .mailGroup),
            ("cn=admins", ["groupOfNames", "gwAdminGroup"], .unit, .adminGroup),
            ("cn=admins", ["groupOfNames", "gwAdminGroup"], .workspace, .adminGroup),
            ("cn=members", ["groupOfNames"], .workspace, .memberGroup),
            ("gwInvitationId=abc", ["gwInvitation"], .invitations, .invitation),
        ]
        for (rdn, classes, parent, kind) in cases {
            let parsed = try #require(try DistinguishedName(rdn).rdn)
            #expect(EntryShape.kind(rdn: parsed, objectClasses: classes, parent: parent) == kind, "\(rdn)")
        }
        // A unit may not take a reserved name, nor a group the admin group's.
        let invitationsUnit = try #require(try DistinguishedName("ou=invitations").rdn)
        #expect(EntryShape.kind(rdn: invitationsUnit, objectClasses: ["organizationalUnit", "gwOrgUnit"], parent: .workspace) == nil)
        #expect(EntryShape.kind(rdn: try #require(try DistinguishedName("uid=x").rdn), objectClasses: ["inetOrgPerson", "gwAccount"], parent: .workspace) == nil)
    }
}

@Suite struct ReservedNameTests {
    @Test func aUnitCanNotBeCalledInvitations() throws {
        #expect(throws: DirectoryError.self) { try UnitService.unreserved("Invitations") }
        #expect(try UnitService.unreserved("sales") == "sales")
    }
}

@Suite struct HomeWorkspaceTests {
    /// "gwHomeWorkspace rewritten to another workspace (login then claims that home and skips the
    /// real workspace's allowed networks)": the login judges by position, not by the attribute.
    @Test func theHomeWorkspaceIsWhereTheAccountSits() throws {
        let entry = LDAPEntry(dn: "uid=alice,ou=east,ou=sales,o=acme,ou=workspaces,dc=example,dc=com", attributes: [
            LDAPAttribute("mail", "alice@acme.example"),
            LDAPAttribute("gwHomeWorkspace", "o=beta,ou=workspaces,dc=example,dc=com"),
        ])
        let account = try LoginAccount(entry: entry)
        #expect(account.homeWorkspace?.description == "o=acme,ou=workspaces,dc=example,dc=com")
        let stray = try LoginAccount(entry: LDAPEntry(dn: "uid=x,ou=system,dc=example,dc=com", attributes: []))
        #expect(stray.homeWorkspace == nil)
    }
}
