import LDAPClient

/// An admin acting through the service (`--as`): who they are and what they administer, as the
/// service read it from the admin groups (never from anything the admin wrote themselves).
public struct AdminPrincipal: Sendable, Hashable {
    public var dn: DistinguishedName
    public var address: String
    public var isSuperAdmin: Bool
    /// `o=<ws>` entries whose `cn=admins` holds the principal.
    public var workspaces: [DistinguishedName]
    /// Units whose `cn=admins` holds the principal.
    public var units: [DistinguishedName]

    public init(dn: DistinguishedName, address: String, isSuperAdmin: Bool, workspaces: [DistinguishedName], units: [DistinguishedName]) {
        self.dn = dn
        self.address = address
        self.isSuperAdmin = isSuperAdmin
        self.workspaces = workspaces
        self.units = units
    }

    public var administersAnything: Bool { isSuperAdmin || !workspaces.isEmpty || !units.isEmpty }
}

/// One write the service is about to make for an acting admin, reduced to what the policy needs.
public enum WriteRequest: Sendable, Hashable {
    case add(DistinguishedName, objectClasses: [String], attributes: Set<String>)
    case modify(DistinguishedName, attributes: Set<String>)
    case delete(DistinguishedName)
    case rename(DistinguishedName, newRDN: RelativeDistinguishedName, newParent: DistinguishedName)

    /// The existing entry the write changes (nil for an add).
    public var existingTarget: DistinguishedName? {
        switch self {
        case .add: nil
        case .modify(let dn, _), .delete(let dn), .rename(let dn, _, _): dn
        }
    }
}

/// What the gate looked up about an existing target (through the service identity).
public struct TargetFacts: Sendable, Hashable {
    /// The target is, or lies below, an account that holds an admin role (any `cn=admins` or
    /// `cn=superadmins`): out of reach of unit admins, as slapd's ACLs kept it before.
    public var belongsToAnAdmin: Bool
    /// The target is a unit carrying a `gwBillingId`: added, moved and deleted by workspace
    /// admins only.
    public var isBilledUnit: Bool

    public init(belongsToAnAdmin: Bool = false, isBilledUnit: Bool = false) {
        self.belongsToAnAdmin = belongsToAnAdmin
        self.isBilledUnit = isBilledUnit
    }
}

public enum WriteDecision: Sendable, Hashable {
    case allowed
    case denied(String)
}

/// Decides whether an acting admin may have the service make one write. Pure: the gate gathers
/// ``TargetFacts`` first, so every rule is unit-tested without slapd.
///
/// These are the rules slapd's ACLs enforced by place before, plus the ones ACLs could not
/// express (README, "Security model"): new entries must have a shape of ``EntryKind``; admin
/// groups of one's own unit or above are out of reach of unit admins; accounts holding an admin
/// role and billed units are out of reach of unit admins; mail domains belong to super admins;
/// a rename keeps the RDN attribute.
public struct WritePolicy: Sendable {
    public let layout: DirectoryLayout
    public let principal: AdminPrincipal

    public init(layout: DirectoryLayout, principal: AdminPrincipal) {
        self.layout = layout
        self.principal = principal
    }

    enum Rights: Equatable {
        /// Super admin, or workspace admin of the entry's workspace.
        case full
        /// Admin of this unit (the entry is the unit or below it).
        case unit(DistinguishedName)
    }

    public func decide(_ request: WriteRequest, facts: TargetFacts = TargetFacts()) -> WriteDecision {
        let who = principal.address
        switch request {
        case .add(let dn, let objectClasses, let attributes):
            guard let parent = dn.parent, let rdn = dn.rdn else { return .denied("\(who) can not add \(dn)") }
            guard let rights = rights(onOrBelow: parent, allowWorkspacesRoot: true) else {
                return .denied("\(who) does not administer \(parent)")
            }
            guard let kind = EntryShape.kind(rdn: rdn, objectClasses: objectClasses, parent: parentKind(of: dn)) else {
                return .denied("\(dn) is not an entry shape gwdir writes")
            }
            let names = Set(attributes.map { $0.lowercased() })
            if kind == .workspace || names.contains("gwmaildomain"), !principal.isSuperAdmin {
                return .denied("only a super admin adds workspaces and mail domains")
            }
            if case .unit(let unit) = rights {
                if names.contains("gwbillingid") { return .denied("billing ids are set by workspace admins") }
                if kind == .adminGroup || kind == .memberGroup, !parent.isStrictlyBelow(unit) {
                    return .denied("\(who) can not grant admin roles of \(parent)")
                }
            }
            return .allowed
        case .modify(let dn, let attributes):
            guard let rights = rights(onOrBelow: dn, allowWorkspacesRoot: false) else {
                return .denied("\(who) does not administer \(dn)")
            }
            let names = Set(attributes.map { $0.lowercased() })
            if names.contains("gwmaildomain"), !principal.isSuperAdmin {
                return .denied("only a super admin changes mail domains")
            }
            if names.contains("objectclass") { return .denied("object classes are not changed") }
            if case .unit(let unit) = rights {
                if let reason = unitAdminCanNotTouch(dn, unit: unit, facts: facts) { return .denied(reason) }
                if names.contains("gwbillingid") { return .denied("billing ids are set by workspace admins") }
            }
            return .allowed
        case .delete(let dn):
            guard let parent = dn.parent, let rights = rights(onOrBelow: parent, allowWorkspacesRoot: principal.isSuperAdmin) else {
                return .denied("\(who) does not administer \(dn.parent ?? dn)")
            }
            if case .unit(let unit) = rights {
                if let reason = unitAdminCanNotTouch(dn, unit: unit, facts: facts) { return .denied(reason) }
                if facts.isBilledUnit { return .denied("\(dn) carries a billing id: a workspace admin deletes it") }
            }
            return .allowed
        case .rename(let dn, let newRDN, let newParent):
            guard let parent = dn.parent, let source = rights(onOrBelow: parent, allowWorkspacesRoot: false) else {
                return .denied("\(who) does not administer \(dn.parent ?? dn)")
            }
            guard let oldRDN = dn.rdn, !newRDN.isMultiValued, newRDN.type.lowercased() == oldRDN.type.lowercased() else {
                return .denied("a rename keeps the RDN attribute of \(dn)")
            }
            guard let target = rights(onOrBelow: newParent, allowWorkspacesRoot: false) else {
                return .denied("\(who) does not administer \(newParent)")
            }
            guard newParent.workspaceKey(layout) == dn.workspaceKey(layout) else {
                return .denied("entries do not move between workspaces")
            }
            guard let kind = kindByPosition(dn), kind.parents.contains(parentKind(of: newParent.child(newRDN))) else {
                return .denied("\(newParent) can not hold \(dn)")
            }
            if case .unit(let unit) = source {
                if let reason = unitAdminCanNotTouch(dn, unit: unit, facts: facts) { return .denied(reason) }
                if facts.isBilledUnit { return .denied("\(dn) carries a billing id: a workspace admin moves it") }
            }
            if case .unit = target, kind == .adminGroup { return .denied("admin groups are not moved") }
            return .allowed
        }
    }

    /// Unit-admin limits on an existing entry inside their unit.
    private func unitAdminCanNotTouch(_ dn: DistinguishedName, unit: DistinguishedName, facts: TargetFacts) -> String? {
        if facts.belongsToAnAdmin { return "\(dn) belongs to an account holding an admin role; a workspace admin changes it" }
        if let rdn = dn.rdn, rdn.type.lowercased() == "cn", rdn.value?.lowercased() == "admins", let scope = dn.parent,
           !scope.isStrictlyBelow(unit) {
            return "\(principal.address) can not change the admins of \(scope)"
        }
        return nil
    }

    /// The principal's rights on `dn` (which must be the scope itself or below it).
    func rights(onOrBelow dn: DistinguishedName, allowWorkspacesRoot: Bool) -> Rights? {
        if principal.isSuperAdmin, dn.isStrictlyBelow(layout.workspaces) || (allowWorkspacesRoot && dn.sameEntry(as: layout.workspaces)) {
            return .full
        }
        if principal.workspaces.contains(where: { dn.isAtOrBelow($0) }) { return .full }
        if let unit = principal.units.first(where: { dn.isAtOrBelow($0) }) { return .unit(unit) }
        return nil
    }

    /// The kind of the entry that is (or would be) the parent of `dn`, judged by position: the
    /// parent exists and was written by the service, so its RDN tells its kind.
    func parentKind(of dn: DistinguishedName) -> EntryKind? {
        guard let parent = dn.parent else { return nil }
        if parent.sameEntry(as: layout.workspaces) { return nil }
        return kindByPosition(parent)
    }

    /// An existing entry's kind from its RDN and position below `ou=workspaces`.
    func kindByPosition(_ dn: DistinguishedName) -> EntryKind? {
        guard dn.isStrictlyBelow(layout.workspaces), let rdn = dn.rdn, let parent = dn.parent else { return nil }
        let value = rdn.value?.lowercased()
        switch rdn.type.lowercased() {
        case "o": return parent.sameEntry(as: layout.workspaces) ? .workspace : nil
        case "ou":
            if value == "invitations", kindByPosition(parent) == .workspace { return .invitations }
            return .unit
        case "uid": return .account
        case "mail": return .alias
        case "cn":
            switch value {
            case "admins": return .adminGroup
            case "members": return .memberGroup
            case "mail-password": return .mailCredential
            default: return .mailGroup
            }
        case "gwinvitationid": return .invitation
        default: return nil
        }
    }
}

extension DistinguishedName {
    /// RDN types and values lower-cased: the attributes gwdir names entries by all match
    /// case-insensitively, as slapd compares them.
    var caseFoldedKey: [String] { rdns.map { $0.normalizedForComparison.description.lowercased() } }

    func sameEntry(as other: DistinguishedName) -> Bool { caseFoldedKey == other.caseFoldedKey }

    func isStrictlyBelow(_ ancestor: DistinguishedName) -> Bool {
        let mine = caseFoldedKey, theirs = ancestor.caseFoldedKey
        return mine.count > theirs.count && Array(mine.suffix(theirs.count)) == theirs
    }

    func isAtOrBelow(_ ancestor: DistinguishedName) -> Bool { sameEntry(as: ancestor) || isStrictlyBelow(ancestor) }

    /// The `o=<ws>` key of the workspace this DN lies in, if any.
    func workspaceKey(_ layout: DirectoryLayout) -> String? {
        let root = layout.workspaces.caseFoldedKey
        let mine = caseFoldedKey
        guard mine.count > root.count, Array(mine.suffix(root.count)) == root else { return nil }
        return mine[mine.count - root.count - 1]
    }
}
