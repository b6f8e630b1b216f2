import Directory
import LDAPClient
import Testing

/// A hand-built snapshot: a clean two-workspace tree that each test breaks in one way.
private struct Tree {
    static let layout = try! DirectoryLayout(base: "dc=example,dc=com")
    static let workspaces = "ou=workspaces,dc=example,dc=com"
    static let nobody = "cn=nobody,ou=system,dc=example,dc=com"
    static let acme = "o=acme,\(workspaces)"
    static let beta = "o=beta,\(workspaces)"
    static let sales = "ou=sales,\(acme)"
    static let east = "ou=east,\(sales)"
    static let dev = "ou=dev,\(acme)"
    static let ops = "ou=ops,\(beta)"
    static let alice = "uid=alice,\(east)"
    static let sam = "uid=sam,\(sales)"
    static let wanda = "uid=wanda,\(dev)"
    static let help = "uid=help,\(sales)"
    static let team = "cn=team,\(sales)"
    static let bob = "uid=bob,\(ops)"
    static let betaAlice = "uid=alice,\(ops)"
    static let alias1 = "mail=al@acme.test,\(alice)"
    static let alias2 = "mail=a2@mail.acme.test,\(alice)"
    static let credential = "cn=mail-password,\(alice)"
    static let acmeAdmins = "cn=admins,\(acme)"
    static let salesAdmins = "cn=admins,\(sales)"
    static let guests = "cn=members,\(acme)"
    static let invitation = "gwInvitationId=inv1,ou=invitations,\(acme)"

    var entries: [String: [String: [String]]] = [:]

    static func account(_ uid: String, mail: String, workspace: String, aliases: Int = 0, extra: [String: [String]] = [:]) -> [String: [String]] {
        [
            "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson", "gwAccount"],
            "uid": [uid], "mail": [mail], "gwAliasCount": [String(aliases)], "gwHomeWorkspace": [workspace],
            "gwAccountStatus": ["active"],
        ].merging(extra) { $1 }
    }

    static func unit(_ name: String) -> [String: [String]] { ["objectClass": ["organizationalUnit", "gwOrgUnit"], "ou": [name]] }

    static let clean: Tree = {
        var tree = Tree()
        tree.entries = [
            workspaces: ["objectClass": ["organizationalUnit"]],
            acme: ["objectClass": ["gwWorkspace"], "gwMailDomain": ["acme.test", "mail.acme.test"]],
            acmeAdmins: ["objectClass": ["groupOfNames", "gwAdminGroup"], "member": [wanda]],
            guests: ["objectClass": ["groupOfNames"], "member": [bob]],
            "ou=invitations,\(acme)": ["objectClass": ["organizationalUnit"]],
            // An invitation may name a login of another workspace: not unique, not in acme's domains.
            invitation: ["objectClass": ["gwInvitation"], "mail": ["bob@beta.test"]],
            sales: unit("sales"),
            salesAdmins: ["objectClass": ["groupOfNames", "gwAdminGroup"], "member": [alice, nobody]],
            east: unit("east"),
            alice: account("alice", mail: "alice@acme.test", workspace: acme, aliases: 2, extra: ["gwLoginKey": ["acme/alice"]]),
            alias1: ["objectClass": ["gwMailAlias"], "mail": ["al@acme.test"], "gwAliasFolder": ["Sales-KR"],
                     "gwDeliverTo": ["al@acme.test"], "gwOwnerAddress": ["alice@acme.test"]],
            alias2: ["objectClass": ["gwMailAlias"], "mail": ["a2@mail.acme.test"], "gwAliasFolder": ["a2"],
                     "gwDeliverTo": ["a2@mail.acme.test"], "gwOwnerAddress": ["alice@acme.test"]],
            credential: ["objectClass": ["gwMailCredential"], "gwCredentialFor": ["alice@acme.test"]],
            sam: account("sam", mail: "sam@acme.test", workspace: acme),
            team: ["objectClass": ["groupOfNames", "gwMailGroup"], "mail": ["team@acme.test"], "member": [alice, sam, help]],
            help: ["objectClass": ["inetOrgPerson", "gwSharedMailbox"], "uid": ["help"], "mail": ["help@acme.test"], "member": [alice],
                   "gwAccountStatus": ["active"]],
            dev: unit("dev"),
            // Spelled in upper case where the admin group names it in lower case: DNs compare case-insensitively.
            "UID=Wanda,ou=Dev,O=Acme,\(workspaces)": account("Wanda", mail: "wanda@acme.test", workspace: acme),
            beta: ["objectClass": ["gwWorkspace"], "gwMailDomain": ["beta.test"]],
            "cn=admins,\(beta)": ["objectClass": ["groupOfNames", "gwAdminGroup"], "member": [nobody]],
            ops: unit("ops"),
            bob: account("bob", mail: "bob@beta.test", workspace: beta),
            // The same login id in another workspace is fine.
            betaAlice: account("alice", mail: "alice@beta.test", workspace: beta),
            // Outside ou=workspaces: not checked.
            "cn=gwdir,ou=system,dc=example,dc=com": ["objectClass": ["applicationProcess"], "pwdPolicySubentry": ["cn=service,ou=policies,dc=example,dc=com"]],
        ]
        return tree
    }()

    subscript(dn: String) -> [String: [String]]? {
        get { entries[dn] }
        set { entries[dn] = newValue }
    }

    mutating func set(_ dn: String, _ name: String, _ values: [String]?) {
        precondition(entries[dn] != nil, "no entry \(dn)")
        entries[dn]?[name] = values
    }

    func check(_ options: DirectoryInvariants.Options = .init()) -> [Violation] {
        let snapshot = entries.map { SnapshotEntry(dn: try! DistinguishedName($0.key), attributes: $0.value) }
        return DirectoryInvariants.check(snapshot, layout: Self.layout, options: options)
    }
}

/// The (code, dn) pairs of the check, for exact comparison.
private func found(_ violations: [Violation]) -> Set<String> {
    Set(violations.map { "\($0.code) \($0.dn.lowercased())" })
}

private func expected(_ pairs: [(Violation.Kind, String)]) -> Set<String> {
    Set(pairs.map { "\($0.0.code) \($0.1.lowercased())" })
}

@Suite struct DirectoryInvariantsTests {
    @Test func cleanTreeHasNoViolations() {
        let violations = Tree.clean.check()
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test func codesAreStable() {
        #expect(Violation.Kind.allCases.map(\.code) == [
            "shape_unknown", "forbidden_class", "multiple_values", "mail_duplicate", "mail_foreign_domain", "domain_duplicate",
            "credential_mismatch", "alias_owner_mismatch", "alias_delivery_mismatch", "alias_cap_exceeded", "alias_count_mismatch",
            "admin_member_not_account", "admin_member_other_workspace", "admin_member_out_of_scope", "guest_member_not_account",
            "group_member_invalid", "login_id_duplicate", "login_key_mismatch", "login_key_missing", "home_workspace_mismatch",
            "password_policy_override", "status_invalid", "name_invalid",
        ])
    }

    // MARK: Shapes

    @Test func unknownShapeIsReportedOnceForItsSubtree() {
        var tree = Tree.clean
        // An account with an extra class, and an org unit planted below it with an account inside.
        let zed = "uid=zed,\(Tree.sales)"
        tree[zed] = Tree.account("zed", mail: "zed@acme.test", workspace: Tree.acme, extra: ["objectClass": ["inetOrgPerson", "gwAccount", "gwMailGroup"]])
        tree["ou=inner,\(zed)"] = Tree.unit("inner")
        tree["uid=x,ou=inner,\(zed)"] = Tree.account("x", mail: "x@acme.test", workspace: Tree.acme)
        let violations = tree.check()
        #expect(found(violations) == expected([(.shapeUnknown, zed)]), "\(violations)")
        #expect(violations.first?.message.contains("2 entries below it") == true, "\(violations)")
    }

    @Test func workspaceInsideAUnitHasNoShape() {
        var tree = Tree.clean
        tree["o=nested,\(Tree.sales)"] = ["objectClass": ["gwWorkspace"], "gwMailDomain": ["nested.test"]]
        #expect(found(tree.check()) == expected([(.shapeUnknown, "o=nested,\(Tree.sales)")]))
    }

    @Test func forbiddenClassesAreNamed() {
        var tree = Tree.clean
        let rogue = "cn=rogue,\(Tree.dev)"
        tree[rogue] = ["objectClass": ["device", "extensibleObject"]]
        tree["ou=ref,\(Tree.sales)"] = ["objectClass": ["referral", "extensibleObject"], "ref": ["ldap://evil.test/"]]
        let violations = tree.check()
        #expect(found(violations) == expected([(.forbiddenClass, rogue), (.forbiddenClass, "ou=ref,\(Tree.sales)")]), "\(violations)")
        #expect(violations.contains { $0.message.contains("extensibleObject") })
    }

    @Test func shapelessEntriesStillHaveTheirAddressesChecked() {
        var tree = Tree.clean
        let rogue = "cn=rogue,\(Tree.dev)"
        tree[rogue] = ["objectClass": ["device", "extensibleObject"], "mail": ["ceo@beta.test"]]
        #expect(found(tree.check()) == expected([(.forbiddenClass, rogue), (.mailForeignDomain, rogue)]))
    }

    // MARK: Addresses

    @Test func duplicateMailIsReportedOnBothEntries() {
        var tree = Tree.clean
        tree.set(Tree.sam, "mail", ["AL@acme.test"])
        #expect(found(tree.check()) == expected([(.mailDuplicate, Tree.sam), (.mailDuplicate, Tree.alias1)]))
    }

    @Test func invitationsAreNotCheckedForUniquenessOrDomain() {
        var tree = Tree.clean
        tree["gwInvitationId=inv2,ou=invitations,\(Tree.acme)"] = ["objectClass": ["gwInvitation"], "mail": ["alice@acme.test"]]
        #expect(tree.check().isEmpty)
    }

    @Test func mailOutsideTheWorkspaceDomains() {
        var tree = Tree.clean
        tree.set(Tree.team, "mail", ["team@beta.test"])
        let violations = tree.check()
        #expect(found(violations) == expected([(.mailForeignDomain, Tree.team)]))
        #expect(violations.first?.message.contains("acme.test, mail.acme.test") == true)
    }

    @Test func secondMailValue() {
        var tree = Tree.clean
        tree.set(Tree.sam, "mail", ["sam@acme.test", "sam2@acme.test"])
        #expect(found(tree.check()) == expected([(.multipleValues, Tree.sam)]))
    }

    @Test func domainClaimedByTwoWorkspaces() {
        var tree = Tree.clean
        tree.set(Tree.beta, "gwMailDomain", ["beta.test", "MAIL.acme.test"])
        #expect(found(tree.check()) == expected([(.domainDuplicate, Tree.acme), (.domainDuplicate, Tree.beta)]))
    }

    @Test func credentialForAnotherAddress() {
        var tree = Tree.clean
        tree.set(Tree.credential, "gwCredentialFor", ["sam@acme.test"])
        #expect(found(tree.check()) == expected([(.credentialMismatch, Tree.credential)]))
        tree.set(Tree.credential, "gwCredentialFor", ["ALICE@acme.test"])
        #expect(tree.check().isEmpty, "matched case-insensitively, as slapd and Dovecot do")
    }

    @Test func aliasOwnerAddress() {
        var tree = Tree.clean
        tree.set(Tree.alias1, "gwOwnerAddress", ["sam@acme.test"])
        #expect(found(tree.check()) == expected([(.aliasOwnerMismatch, Tree.alias1)]))
    }

    @Test func aliasDelivery() {
        var tree = Tree.clean
        tree.set(Tree.alias1, "gwDeliverTo", ["sam@acme.test"])
        #expect(found(tree.check()) == expected([(.aliasDeliveryMismatch, Tree.alias1)]))
        tree.set(Tree.alias1, "gwDeliverTo", ["alice+Sales-KR@acme.test"])
        #expect(found(tree.check()) == expected([(.aliasDeliveryMismatch, Tree.alias1)]), "the pre-issue-12 owner+folder form is reported")
        tree.set(Tree.alias1, "gwDeliverTo", ["alice+x@evil.test@acme.test"])
        tree.set(Tree.alias1, "gwAliasFolder", ["x@evil.test"])
        #expect(found(tree.check()) == expected([(.aliasDeliveryMismatch, Tree.alias1)]), "a folder gwdir would refuse")
        tree.set(Tree.alias1, "gwAliasFolder", nil)
        #expect(found(tree.check()) == expected([(.aliasDeliveryMismatch, Tree.alias1)]))
    }

    // MARK: Aliases

    @Test func moreThanFiveAliases() {
        var tree = Tree.clean
        for index in 3...6 {
            tree["mail=x\(index)@acme.test,\(Tree.alice)"] = ["objectClass": ["gwMailAlias"], "mail": ["x\(index)@acme.test"],
                                                            "gwAliasFolder": ["x"], "gwDeliverTo": ["x\(index)@acme.test"], "gwOwnerAddress": ["alice@acme.test"]]
        }
        tree.set(Tree.alice, "gwAliasCount", ["6"])
        #expect(found(tree.check()) == expected([(.aliasCapExceeded, Tree.alice)]))
    }

    @Test func aliasCounterDisagreesWithAliases() {
        var tree = Tree.clean
        tree.set(Tree.alice, "gwAliasCount", ["0"])
        #expect(found(tree.check()) == expected([(.aliasCountMismatch, Tree.alice)]))
        tree.set(Tree.alice, "gwAliasCount", nil)
        #expect(found(tree.check()) == expected([(.aliasCountMismatch, Tree.alice)]))
        tree.set(Tree.sam, "gwAliasCount", nil)
        #expect(found(tree.check()) == expected([(.aliasCountMismatch, Tree.alice)]), "no counter and no alias is fine: the service starts it")
    }

    // MARK: Admins and groups

    @Test func adminThatIsNotAnAccount() {
        var tree = Tree.clean
        tree.set(Tree.acmeAdmins, "member", [Tree.wanda, Tree.team, "uid=ghost,\(Tree.dev)"])
        let violations = tree.check()
        #expect(found(violations) == expected([(.adminMemberNotAccount, Tree.acmeAdmins)]))
        #expect(violations.count == 2, "one per bad member: \(violations)")
    }

    @Test func adminFromAnotherWorkspace() {
        var tree = Tree.clean
        tree.set(Tree.salesAdmins, "member", [Tree.alice, Tree.bob])
        #expect(found(tree.check()) == expected([(.adminMemberOtherWorkspace, Tree.salesAdmins)]))
    }

    @Test func unitAdminOutsideTheUnit() {
        var tree = Tree.clean
        tree.set(Tree.salesAdmins, "member", [Tree.wanda])
        #expect(found(tree.check()) == expected([(.adminMemberOutOfScope, Tree.salesAdmins)]))
        // A workspace admin group's scope is the whole workspace.
        tree.set(Tree.salesAdmins, "member", [Tree.alice])
        tree.set(Tree.acmeAdmins, "member", [Tree.alice, Tree.wanda])
        #expect(tree.check().isEmpty)
    }

    @Test func adminGroupWithoutItsMarkerIsStillCheckedForMembers() {
        var tree = Tree.clean
        // slapd's ACLs honour any cn=admins under a unit, whatever its classes.
        tree["cn=admins,\(Tree.dev)"] = ["objectClass": ["groupOfNames"], "member": [Tree.bob]]
        #expect(found(tree.check()) == expected([(.shapeUnknown, "cn=admins,\(Tree.dev)"), (.adminMemberOtherWorkspace, "cn=admins,\(Tree.dev)")]))
    }

    @Test func guestThatIsNotAnAccount() {
        var tree = Tree.clean
        tree.set(Tree.guests, "member", [Tree.bob, "cn=admins,\(Tree.beta)", Tree.nobody])
        #expect(found(tree.check()) == expected([(.guestMemberNotAccount, Tree.guests)]))
    }

    @Test func groupMembers() {
        var tree = Tree.clean
        tree.set(Tree.team, "member", [Tree.alice, Tree.bob])
        #expect(found(tree.check()) == expected([(.groupMemberInvalid, Tree.team)]), "another workspace")
        tree.set(Tree.team, "member", [Tree.alias1])
        #expect(found(tree.check()) == expected([(.groupMemberInvalid, Tree.team)]), "an alias")
        tree.set(Tree.team, "member", [Tree.nobody])
        #expect(tree.check().isEmpty)
        tree.set(Tree.help, "member", [Tree.salesAdmins])
        #expect(found(tree.check()) == expected([(.groupMemberInvalid, Tree.help)]), "shared mailboxes follow the same rule")
    }

    // MARK: Login ids and security attributes

    @Test func loginIdTwiceInOneWorkspace() {
        var tree = Tree.clean
        let second = "uid=ALICE,\(Tree.dev)"
        tree[second] = Tree.account("ALICE", mail: "alice2@acme.test", workspace: Tree.acme)
        #expect(found(tree.check()) == expected([(.loginIdDuplicate, Tree.alice), (.loginIdDuplicate, second)]))
    }

    @Test func secondLoginIdValue() {
        var tree = Tree.clean
        tree.set(Tree.sam, "uid", ["sam", "boss"])
        #expect(found(tree.check()) == expected([(.multipleValues, Tree.sam)]))
    }

    @Test func loginKey() {
        var tree = Tree.clean
        tree.set(Tree.alice, "gwLoginKey", ["acme/ALICE"])
        #expect(found(tree.check()) == expected([(.loginKeyMismatch, Tree.alice)]))
        tree.set(Tree.alice, "gwLoginKey", ["beta/alice"])
        #expect(found(tree.check()) == expected([(.loginKeyMismatch, Tree.alice)]))
    }

    @Test func missingLoginKeyOnlyWhenRequired() {
        let tree = Tree.clean
        #expect(tree.check().isEmpty)
        let missing = found(tree.check(.init(requireLoginKey: true)))
        #expect(missing == expected([(.loginKeyMissing, Tree.sam), (.loginKeyMissing, Tree.wanda), (.loginKeyMissing, Tree.bob),
                                     (.loginKeyMissing, Tree.betaAlice)]))
    }

    @Test func homeWorkspace() {
        var tree = Tree.clean
        tree.set(Tree.sam, "gwHomeWorkspace", [Tree.beta])
        #expect(found(tree.check()) == expected([(.homeWorkspaceMismatch, Tree.sam)]))
        tree.set(Tree.sam, "gwHomeWorkspace", nil)
        #expect(found(tree.check()) == expected([(.homeWorkspaceMismatch, Tree.sam)]))
        tree.set(Tree.sam, "gwHomeWorkspace", ["O=ACME,ou=Workspaces,dc=example,dc=com"])
        #expect(tree.check().isEmpty)
    }

    @Test func passwordPolicyOverride() {
        var tree = Tree.clean
        tree.set(Tree.credential, "pwdPolicySubentry", ["cn=service,ou=policies,dc=example,dc=com"])
        tree.set(Tree.sam, "pwdPolicySubentry", ["cn=service,ou=policies,dc=example,dc=com"])
        #expect(found(tree.check()) == expected([(.passwordPolicyOverride, Tree.credential), (.passwordPolicyOverride, Tree.sam)]))
    }

    @Test func statusOutsideTheValueSet() {
        var tree = Tree.clean
        tree.set(Tree.help, "gwAccountStatus", ["Active"])
        #expect(found(tree.check()) == expected([(.statusInvalid, Tree.help)]))
    }

    @Test func namesTheServiceWouldRefuse() throws {
        var tree = Tree.clean
        // An escaped comma in a unit name shifts the depth the unit-scope ACL regexes compute.
        let odd = try DistinguishedName(Tree.acme).child(type: "ou", value: "a,ou=b")
        let dots = try DistinguishedName(Tree.acme).child(type: "ou", value: "..")
        tree[odd.description] = Tree.unit("a,ou=b")
        tree[dots.description] = Tree.unit("..")
        #expect(found(tree.check()) == expected([(.nameInvalid, odd.description), (.nameInvalid, dots.description)]))
    }

    // MARK: Scope

    @Test func scopeKeepsViolationsOfOneWorkspaceButSeesTheWholeTree() throws {
        var tree = Tree.clean
        tree.set(Tree.bob, "mail", ["sam@acme.test"])
        let all = found(tree.check())
        #expect(all == expected([(.mailDuplicate, Tree.sam), (.mailDuplicate, Tree.bob), (.mailForeignDomain, Tree.bob)]))
        let acme = found(tree.check(.init(scope: try DistinguishedName(Tree.acme))))
        #expect(acme == expected([(.mailDuplicate, Tree.sam)]))
    }

    @Test func violationsComeInTreeOrder() {
        var tree = Tree.clean
        tree.set(Tree.bob, "gwAccountStatus", ["gone"])
        tree.set(Tree.sam, "gwAccountStatus", ["gone"])
        tree.set(Tree.acme, "gwMailDomain", ["acme.test"])
        let dns = tree.check().map(\.dn)
        #expect(dns == [Tree.alias2, Tree.sam, Tree.bob], "\(dns)")
    }
}
