import LDAPClient

/// One broken invariant of the directory: which rule, which entry, and one line an admin can
/// act on.
public struct Violation: Sendable, Hashable, CustomStringConvertible {
    /// The rule that is broken. The raw value is the stable code scripts match on
    /// (`gwdir check --format json`); never rename one.
    public enum Kind: String, Sendable, CaseIterable {
        /// The entry has none of the shapes of ``EntryKind`` (RDN type, parent kind, exact object classes).
        case shapeUnknown = "shape_unknown"
        /// The entry carries `extensibleObject`, `referral`, `alias` or `dynamicObject`.
        case forbiddenClass = "forbidden_class"
        /// An attribute the service writes once (`mail`, `uid`) has several values.
        case multipleValues = "multiple_values"
        /// Two entries (not invitations) use the same `mail`, compared case-insensitively.
        case mailDuplicate = "mail_duplicate"
        /// A `mail` is not in a `gwMailDomain` of the entry's own workspace.
        case mailForeignDomain = "mail_foreign_domain"
        /// Two workspaces claim the same `gwMailDomain`.
        case domainDuplicate = "domain_duplicate"
        /// A mail-only credential's `gwCredentialFor` is not its account's `mail`.
        case credentialMismatch = "credential_mismatch"
        /// An alias's `gwOwnerAddress` is not its account's `mail`.
        case aliasOwnerMismatch = "alias_owner_mismatch"
        /// An alias's `gwDeliverTo`/`gwAliasFolder` is not what ``AliasService`` writes.
        case aliasDeliveryMismatch = "alias_delivery_mismatch"
        /// An account has more than ``AliasService/maximumPerAccount`` aliases.
        case aliasCapExceeded = "alias_cap_exceeded"
        /// `gwAliasCount` differs from the number of alias entries below the account.
        case aliasCountMismatch = "alias_count_mismatch"
        /// A `cn=admins` member is neither the placeholder nor an account.
        case adminMemberNotAccount = "admin_member_not_account"
        /// A `cn=admins` member is an account of another workspace.
        case adminMemberOtherWorkspace = "admin_member_other_workspace"
        /// A unit's `cn=admins` member is an account outside that unit's subtree.
        case adminMemberOutOfScope = "admin_member_out_of_scope"
        /// A `cn=members` (guests) member is neither the placeholder nor an account.
        case guestMemberNotAccount = "guest_member_not_account"
        /// A group mail's or shared mailbox's member is not an account, group mail or shared
        /// mailbox of the same workspace (nor the placeholder).
        case groupMemberInvalid = "group_member_invalid"
        /// Two accounts of one workspace share a login id (`uid`, case-insensitively).
        case loginIdDuplicate = "login_id_duplicate"
        /// `gwLoginKey` is not `<workspace id>/<login id>` in lower case.
        case loginKeyMismatch = "login_key_mismatch"
        /// An account has no `gwLoginKey` (only with ``DirectoryInvariants/Options/requireLoginKey``).
        case loginKeyMissing = "login_key_missing"
        /// An account's `gwHomeWorkspace` is missing or not the workspace it sits in.
        case homeWorkspaceMismatch = "home_workspace_mismatch"
        /// An entry below `ou=workspaces` names its own password policy instead of the default.
        case passwordPolicyOverride = "password_policy_override"
        /// `gwAccountStatus` is not one of `active`, `suspended`, `disabled`, `deleted`.
        case statusInvalid = "status_invalid"
        /// An `o`, `ou`, `uid` or `cn` name holds a character gwdir refuses in names
        /// (`, + " \\ < > ; = / #`, control characters) or is `.`/`..`: the unit-scope ACLs split
        /// DNs on commas, so such a name can shift the scope they compute.
        case nameInvalid = "name_invalid"

        public var code: String { rawValue }
    }

    public var kind: Kind
    /// The entry the admin has to look at, as the directory spells it.
    public var dn: String
    public var message: String

    public init(_ kind: Kind, dn: String, _ message: String) {
        self.kind = kind
        self.dn = dn
        self.message = message
    }

    public var code: String { kind.code }
    public var description: String { "\(code) \(dn): \(message)" }
}

/// One entry below `ou=workspaces` as the checker sees it: its DN and the attributes of
/// ``DirectoryInvariants/attributes`` (names compared case-insensitively).
public struct SnapshotEntry: Sendable, Hashable {
    public var dn: DistinguishedName
    /// Values by lower-cased attribute name.
    public var attributes: [String: [String]]

    public init(dn: DistinguishedName, attributes: [String: [String]]) {
        self.dn = dn
        self.attributes = Dictionary(attributes.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: +)
    }

    public init(_ entry: LDAPEntry) throws {
        let dn: DistinguishedName
        do { dn = try DistinguishedName(entry.dn) } catch {
            throw DirectoryError(.failed, "the directory returned an unreadable DN \"\(entry.dn)\"")
        }
        self.init(dn: dn, attributes: Dictionary(entry.attributes.map { ($0.name, $0.strings) }, uniquingKeysWith: +))
    }

    public func values(_ name: String) -> [String] { attributes[name.lowercased()] ?? [] }
}

/// The directory's invariants (README, "`gwdir check`"; spec §3 "Security model") as a pure
/// function of a snapshot, so a test can build any tree by hand and an adversarial suite can
/// call it after every accepted write. ``DirectoryCheck`` reads the snapshot from slapd.
///
/// What it does not check: invitations' `mail` (an invitation may name an existing login of
/// another workspace, so it is neither unique nor in the workspace's domains), and the shape of
/// entries below an entry that has no shape — that subtree is reported once, on its topmost
/// entry (deleting it removes them all); its entries' addresses and security attributes are
/// still checked, since Postfix and Dovecot would see them.
public enum DirectoryInvariants {
    /// What the checker reads of each entry (`pwdPolicySubentry` is operational, so it is named).
    public static let attributes = [
        "objectClass", "mail", "uid", AttributeName.mailDomain, AttributeName.credentialFor, AttributeName.ownerAddress, AttributeName.deliverTo, AttributeName.aliasFolder,
        AttributeName.aliasCount, AttributeName.homeWorkspace, "member", AttributeName.loginKey, "pwdPolicySubentry", AttributeName.accountStatus,
    ]

    public struct Options: Sendable, Hashable {
        /// Report accounts without `gwLoginKey`. Off by default: the attribute is new and
        /// accounts written before it have none until they are migrated; a wrong value is
        /// reported either way.
        public var requireLoginKey: Bool
        /// Report only violations on this entry or below it (a workspace); the whole snapshot is
        /// still used, so an address taken in another workspace is found.
        public var scope: DistinguishedName?

        public init(requireLoginKey: Bool = false, scope: DistinguishedName? = nil) {
            self.requireLoginKey = requireLoginKey
            self.scope = scope
        }
    }

    /// Every violation in the snapshot, ordered by entry (tree order), then by code.
    public static func check(_ entries: [SnapshotEntry], layout: DirectoryLayout, options: Options = Options()) -> [Violation] {
        var checker = Checker(layout: layout, options: options)
        checker.classify(entries)
        checker.checkWorkspaces()
        checker.checkAddresses()
        checker.checkEntries()
        return checker.result()
    }

    /// A DN as a comparison key: types and values case-folded, as slapd's matching rules for
    /// `o`, `ou`, `uid`, `cn`, `mail` and `dc` compare them.
    static func key(_ dn: DistinguishedName) -> String { dn.normalizedForComparison.description.lowercased() }

    /// True when `dn` is `ancestor` or below it.
    static func isWithin(_ dn: DistinguishedName, _ ancestor: DistinguishedName) -> Bool {
        dn.rdns.count >= ancestor.rdns.count && key(DistinguishedName(rdns: Array(dn.rdns.suffix(ancestor.rdns.count)))) == key(ancestor)
    }
}

/// The checker's working state: the snapshot indexed by DN key, each entry's kind and workspace.
private struct Checker {
    struct Node {
        let entry: SnapshotEntry
        let key: String
        var kind: EntryKind?
        /// The key of the topmost shapeless entry at or above this one.
        var shapelessRoot: String?
        /// The `o=` entry directly below `ou=workspaces` that holds this entry, if any.
        var workspace: DistinguishedName?
        var dn: DistinguishedName { entry.dn }
        var name: String { entry.dn.description }
        var workspaceId: String? { workspace?.rdn?.value }
        var classes: Set<String> { Set(entry.values("objectClass").map { $0.lowercased() }) }
    }

    let layout: DirectoryLayout
    let options: DirectoryInvariants.Options
    let workspacesKey: String
    let nobodyKey: String
    var nodes: [String: Node] = [:]
    /// Keys in tree order (parents before children).
    var order: [String] = []
    var aliasChildren: [String: Int] = [:]
    var domains: [String: Set<String>] = [:]
    var violations: [(dn: DistinguishedName, violation: Violation)] = []

    init(layout: DirectoryLayout, options: DirectoryInvariants.Options) {
        self.layout = layout
        self.options = options
        workspacesKey = DirectoryInvariants.key(layout.workspaces)
        nobodyKey = DirectoryInvariants.key(layout.nobody)
    }

    mutating func report(_ kind: Violation.Kind, _ node: Node, _ message: String) {
        violations.append((node.dn, Violation(kind, dn: node.name, message)))
    }

    // MARK: Shapes

    mutating func classify(_ entries: [SnapshotEntry]) {
        let depth = layout.workspaces.rdns.count
        let below = entries.filter { $0.dn.rdns.count > depth && DirectoryInvariants.isWithin($0.dn, layout.workspaces) }
        var shapelessBelow: [String: Int] = [:]
        var shapelessRoots: [(key: String, forbidden: [String], parent: String)] = []
        for entry in below.sorted(by: { $0.dn.rdns.count < $1.dn.rdns.count }) {
            let key = DirectoryInvariants.key(entry.dn)
            guard nodes[key] == nil, let rdn = entry.dn.rdn, let parentDN = entry.dn.parent else { continue }
            var node = Node(entry: entry, key: key)
            let top = DistinguishedName(rdns: Array(entry.dn.rdns.suffix(depth + 1)))
            if top.rdn?.type.lowercased() == "o" { node.workspace = top }
            let parentKey = DirectoryInvariants.key(parentDN)
            order.append(key)
            if node.classes.contains("gwmailalias") { aliasChildren[parentKey, default: 0] += 1 }

            let parentKind: EntryKind?
            if parentKey == workspacesKey {
                parentKind = nil
            } else if let parent = nodes[parentKey] {
                if let root = parent.shapelessRoot {
                    node.shapelessRoot = root
                    shapelessBelow[root, default: 0] += 1
                    nodes[key] = node
                    continue
                }
                parentKind = parent.kind
            } else {
                node.shapelessRoot = key
                nodes[key] = node
                report(.shapeUnknown, node, "its parent \(parentDN) is missing from the snapshot (not readable for this identity?)")
                continue
            }
            let forbidden = entry.values("objectClass").filter { EntryShape.forbiddenClasses.contains($0.lowercased()) }
            node.kind = forbidden.isEmpty ? EntryShape.kind(rdn: rdn, objectClasses: entry.values("objectClass"), parent: parentKind) : nil
            if node.kind == nil {
                node.shapelessRoot = key
                shapelessRoots.append((key, forbidden, parentKind.map(\.phrase) ?? "ou=workspaces"))
            }
            nodes[key] = node
        }
        for root in shapelessRoots {
            guard let node = nodes[root.key] else { continue }
            let count = shapelessBelow[root.key] ?? 0
            let tail = count == 0 ? "" : "; \(count) \(count == 1 ? "entry" : "entries") below it \(count == 1 ? "is" : "are") part of it"
            if root.forbidden.isEmpty {
                let classes = node.entry.values("objectClass").filter { !EntryKind.allowedImplied.contains($0.lowercased()) }
                report(.shapeUnknown, node, "not a gwdir entry: \(node.dn.rdn?.type ?? "?")= entry with object classes \(classes.joined(separator: ", ")) under \(root.parent)\(tail)")
            } else {
                report(.forbiddenClass, node, "carries object class \(root.forbidden.joined(separator: ", ")), which no gwdir entry has\(tail)")
            }
        }
    }

    // MARK: Workspaces and addresses

    mutating func checkWorkspaces() {
        var owners: [String: [Node]] = [:]
        for key in order {
            guard let node = nodes[key], let workspace = node.workspace, DirectoryInvariants.key(workspace) == key else { continue }
            let values = Set(node.entry.values(AttributeName.mailDomain).map { $0.lowercased() })
            domains[key] = values
            for domain in values { owners[domain, default: []].append(node) }
        }
        for (domain, nodes) in owners where nodes.count > 1 {
            for node in nodes {
                let others = nodes.filter { $0.key != node.key }.compactMap(\.workspaceId)
                report(.domainDuplicate, node, "mail domain \(domain) is also a domain of workspace \(others.joined(separator: ", "))")
            }
        }
    }

    mutating func checkAddresses() {
        var users: [String: [Node]] = [:]
        for key in order {
            guard let node = nodes[key], node.kind != .invitation else { continue }
            let mails = node.entry.values("mail")
            if mails.count > 1 {
                report(.multipleValues, node, "has \(mails.count) mail addresses (\(mails.joined(separator: ", "))); gwdir writes exactly one")
            }
            for mail in mails {
                users[mail.lowercased(), default: []].append(node)
                let domain = mail.split(separator: "@", omittingEmptySubsequences: false).last.map { $0.lowercased() } ?? ""
                guard let workspace = node.workspace else {
                    report(.mailForeignDomain, node, "mail \(mail) is outside every workspace")
                    continue
                }
                let own = domains[DirectoryInvariants.key(workspace)] ?? []
                if !mail.contains("@") || !own.contains(domain) {
                    report(.mailForeignDomain, node, "mail \(mail) is not in a domain of workspace \(node.workspaceId ?? "?") (\(own.sorted().joined(separator: ", ")))")
                }
            }
        }
        for (mail, nodes) in users {
            let distinct = Dictionary(nodes.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            guard distinct.count > 1 else { continue }
            for node in distinct.values {
                let others = distinct.values.filter { $0.key != node.key }.map(\.name).sorted()
                report(.mailDuplicate, node, "mail \(mail) is also used by \(others.joined(separator: "; "))")
            }
        }
    }

    // MARK: Per entry

    mutating func checkEntries() {
        var loginIds: [String: [String: [Node]]] = [:]
        for key in order {
            guard let node = nodes[key] else { continue }
            checkSecurityAttributes(node)
            checkName(node)
            checkGroups(node)
            switch node.kind {
            case .account:
                checkAccount(node)
                if let workspace = node.workspace {
                    for uid in Set(node.entry.values("uid").map { $0.lowercased() }) {
                        loginIds[DirectoryInvariants.key(workspace), default: [:]][uid, default: []].append(node)
                    }
                }
            case .sharedMailbox:
                let uids = node.entry.values("uid")
                if uids.count > 1 { report(.multipleValues, node, "has \(uids.count) uid values (\(uids.joined(separator: ", "))); gwdir writes exactly one") }
            case .mailCredential: checkCredential(node)
            case .alias: checkAlias(node)
            default: break
            }
        }
        for byUid in loginIds.values {
            for (uid, nodes) in byUid where nodes.count > 1 {
                for node in nodes {
                    let others = nodes.filter { $0.key != node.key }.map(\.name).sorted()
                    report(.loginIdDuplicate, node, "login id \(uid) is also used by \(others.joined(separator: "; ")) in workspace \(node.workspaceId ?? "?")")
                }
            }
        }
    }

    mutating func checkSecurityAttributes(_ node: Node) {
        if let policy = node.entry.values("pwdPolicySubentry").first {
            report(.passwordPolicyOverride, node, "pwdPolicySubentry names \(policy); entries below ou=workspaces use the default policy (cn=default,ou=policies: lockout)")
        }
        let statuses = Set(AccountStatus.allCases.map(\.rawValue))
        for status in node.entry.values(AttributeName.accountStatus) where !statuses.contains(status) {
            report(.statusInvalid, node, "gwAccountStatus \"\(status)\" is not one of active, suspended, disabled, deleted")
        }
    }

    mutating func checkName(_ node: Node) {
        guard let kind = node.kind, [EntryKind.workspace, .unit, .account, .sharedMailbox, .mailGroup].contains(kind),
              let value = node.dn.rdn?.value else { return }
        if value == "." || value == ".." || (try? EntryName.validate(value, what: "name")) != value {
            report(.nameInvalid, node, "name \"\(value)\" is not one gwdir accepts (no , + \" \\ < > ; = / #, no control characters, not . or ..)")
        }
    }

    mutating func checkAccount(_ node: Node) {
        let uids = node.entry.values("uid")
        if uids.count > 1 { report(.multipleValues, node, "has \(uids.count) login ids (uid: \(uids.joined(separator: ", "))); gwdir writes exactly one") }

        let aliases = aliasChildren[node.key] ?? 0
        if aliases > AliasService.maximumPerAccount {
            report(.aliasCapExceeded, node, "has \(aliases) aliases; at most \(AliasService.maximumPerAccount) are allowed")
        }
        let counts = node.entry.values(AttributeName.aliasCount)
        if counts.isEmpty {
            if aliases > 0 { report(.aliasCountMismatch, node, "has \(aliases) \(aliases == 1 ? "alias" : "aliases") but no gwAliasCount") }
        } else if counts.count > 1 || Int(counts[0]) != aliases {
            report(.aliasCountMismatch, node, "gwAliasCount is \(counts.joined(separator: ", ")) but the account has \(aliases) \(aliases == 1 ? "alias" : "aliases")")
        }

        if let workspaceId = node.workspaceId, let loginId = node.dn.rdn?.value {
            let expected = "\(workspaceId)/\(loginId)".lowercased()
            let keys = node.entry.values(AttributeName.loginKey)
            if keys.isEmpty {
                if options.requireLoginKey { report(.loginKeyMissing, node, "has no gwLoginKey (expected \(expected))") }
            } else if keys != [expected] {
                report(.loginKeyMismatch, node, "gwLoginKey is \(keys.joined(separator: ", ")); expected \(expected)")
            }
        }

        let homes = node.entry.values(AttributeName.homeWorkspace)
        let workspace = node.workspace.map(DirectoryInvariants.key)
        if homes.isEmpty {
            report(.homeWorkspaceMismatch, node, "has no gwHomeWorkspace (expected \(node.workspace?.description ?? "its workspace"))")
        } else if homes.count > 1 || (try? DistinguishedName(homes[0])).map(DirectoryInvariants.key) != workspace {
            report(.homeWorkspaceMismatch, node, "gwHomeWorkspace is \(homes.joined(separator: "; ")) but the account sits in \(node.workspace?.description ?? "no workspace")")
        }
    }

    mutating func checkCredential(_ node: Node) {
        let accountMails = parent(of: node)?.entry.values("mail") ?? []
        let target = node.entry.values(AttributeName.credentialFor)
        if target.count != 1 || !accountMails.contains(where: { $0.lowercased() == target[0].lowercased() }) {
            report(.credentialMismatch, node, "gwCredentialFor is \(target.isEmpty ? "missing" : target.joined(separator: ", ")) but the account's mail is \(accountMails.joined(separator: ", "))")
        }
    }

    /// Exactly what ``AliasService/add(owner:alias:folder:)`` writes.
    mutating func checkAlias(_ node: Node) {
        let ownerMail = parent(of: node)?.entry.values("mail").first ?? ""
        let owner = node.entry.values(AttributeName.ownerAddress)
        if owner.count != 1 || owner[0].lowercased() != ownerMail.lowercased() {
            report(.aliasOwnerMismatch, node, "gwOwnerAddress is \(owner.isEmpty ? "missing" : owner.joined(separator: ", ")) but the owning account's mail is \(ownerMail)")
        }
        let folders = node.entry.values(AttributeName.aliasFolder)
        let deliverTo = node.entry.values(AttributeName.deliverTo)
        guard folders.count == 1, let folder = try? AliasService.validateFolder(folders[0]), folder == folders[0] else {
            report(.aliasDeliveryMismatch, node, folders.isEmpty ? "has no gwAliasFolder" : "gwAliasFolder \(folders.joined(separator: ", ")) is not a folder name gwdir writes (letters, digits, '.', '_', '-', single spaces)")
            return
        }
        // gwDeliverTo is the alias itself (AliasService since issue 12); aliases written before
        // by `owner+folder@domain` still route (to the owner's inbox) but are reported.
        guard let address = try? MailAddress(node.entry.values("mail").first ?? "") else {
            report(.aliasDeliveryMismatch, node, "the alias's mail is not a valid address, so gwDeliverTo can not be right")
            return
        }
        let expected = FolderName.deliveryAddress(alias: address)
        if deliverTo != [expected] {
            report(.aliasDeliveryMismatch, node, "gwDeliverTo is \(deliverTo.isEmpty ? "missing" : deliverTo.joined(separator: ", ")); expected \(expected)")
        }
    }

    // MARK: Groups

    mutating func checkGroups(_ node: Node) {
        guard let rdn = node.dn.rdn, let parentDN = node.dn.parent, let workspace = node.workspace else { return }
        let name = rdn.type.lowercased() == "cn" ? rdn.value?.lowercased() : nil
        let parentType = parentDN.rdn?.type.lowercased()
        let parentIsWorkspace = DirectoryInvariants.key(parentDN) == DirectoryInvariants.key(workspace)
        // slapd's ACLs honour any `cn=admins` below a workspace or an `ou=`, whatever its
        // classes, so its members are checked even when the entry has no shape.
        if name == "admins", parentIsWorkspace || parentType == "ou" {
            checkAdminMembers(node, scope: parentDN, workspace: workspace, unit: parentIsWorkspace ? nil : parentDN)
        } else if name == "members", parentIsWorkspace {
            for member in node.entry.values("member") {
                guard let target = memberNode(member) else {
                    if !isNobody(member) { report(.guestMemberNotAccount, node, "guest member \(member) is not an entry of the directory") }
                    continue
                }
                if target.kind != .account { report(.guestMemberNotAccount, node, "guest member \(member) is \(target.kind?.phrase ?? "an entry without a gwdir shape"), not an account") }
            }
        } else if node.kind == .mailGroup || node.kind == .sharedMailbox {
            for member in node.entry.values("member") {
                guard let target = memberNode(member) else {
                    if !isNobody(member) { report(.groupMemberInvalid, node, "member \(member) is not an entry of the directory") }
                    continue
                }
                if !(target.kind.map { [EntryKind.account, .mailGroup, .sharedMailbox].contains($0) } ?? false) {
                    report(.groupMemberInvalid, node, "member \(member) is \(target.kind?.phrase ?? "an entry without a gwdir shape"), not an account, group mail or shared mailbox")
                } else if target.workspace.map(DirectoryInvariants.key) != DirectoryInvariants.key(workspace) {
                    report(.groupMemberInvalid, node, "member \(member) belongs to workspace \(target.workspaceId ?? "?"), not \(node.workspaceId ?? "?")")
                }
            }
        }
    }

    mutating func checkAdminMembers(_ node: Node, scope: DistinguishedName, workspace: DistinguishedName, unit: DistinguishedName?) {
        for member in node.entry.values("member") {
            guard let target = memberNode(member) else {
                if !isNobody(member) { report(.adminMemberNotAccount, node, "admin \(member) is not an entry of the directory") }
                continue
            }
            if target.kind != .account {
                report(.adminMemberNotAccount, node, "admin \(member) is \(target.kind?.phrase ?? "an entry without a gwdir shape"), not an account")
            } else if target.workspace.map(DirectoryInvariants.key) != DirectoryInvariants.key(workspace) {
                report(.adminMemberOtherWorkspace, node, "admin \(member) is an account of workspace \(target.workspaceId ?? "?"), not of \(node.workspaceId ?? "?")")
            } else if !DirectoryInvariants.isWithin(target.dn, scope) {
                report(.adminMemberOutOfScope, node, "admin \(member) is outside unit \(unit?.description ?? scope.description), the scope of this admin group")
            }
        }
    }

    func isNobody(_ member: String) -> Bool {
        (try? DistinguishedName(member)).map(DirectoryInvariants.key) == nobodyKey
    }

    func memberNode(_ member: String) -> Node? {
        (try? DistinguishedName(member)).flatMap { nodes[DirectoryInvariants.key($0)] }
    }

    func parent(of node: Node) -> Node? {
        node.dn.parent.flatMap { nodes[DirectoryInvariants.key($0)] }
    }

    // MARK: Result

    func result() -> [Violation] {
        var seen: Set<Violation> = []
        return violations
            .filter { item in options.scope.map { DirectoryInvariants.isWithin(item.dn, $0) } ?? true }
            .sorted { lhs, rhs in
                let left = lhs.dn.normalizedForComparison.rdns.reversed().map { $0.description.lowercased() }
                let right = rhs.dn.normalizedForComparison.rdns.reversed().map { $0.description.lowercased() }
                if left != right { return left.lexicographicallyPrecedes(right) }
                return (lhs.violation.code, lhs.violation.message) < (rhs.violation.code, rhs.violation.message)
            }
            .map(\.violation)
            .filter { seen.insert($0).inserted }
    }
}

private extension EntryKind {
    /// How a message names an entry of this kind.
    var phrase: String {
        switch self {
        case .workspace: "a workspace"
        case .unit: "an org unit"
        case .account: "an account"
        case .sharedMailbox: "a shared mailbox"
        case .alias: "an alias"
        case .mailCredential: "a mail-only credential"
        case .mailGroup: "a group mail"
        case .adminGroup: "an admin group"
        case .memberGroup: "the guest group"
        case .invitations: "the invitations container"
        case .invitation: "an invitation"
        }
    }
}
