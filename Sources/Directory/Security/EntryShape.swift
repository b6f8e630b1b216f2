import LDAPClient

/// The one table of entry shapes the service writes below `ou=workspaces` (README, "Security
/// model"): RDN attribute, parent kind and the exact object classes. Anything else (an
/// `extensibleObject`, a referral, an alias, an account with an extra class, a workspace inside a
/// unit) is not a gwdir entry. The write gate checks adds against it, `gwdir check` checks the
/// whole tree, and the mail-server filters name the same classes.
public enum EntryKind: String, Sendable, CaseIterable, Hashable {
    case workspace, unit, account, sharedMailbox, alias, mailCredential, mailGroup, adminGroup, memberGroup
    case invitations, invitation

    /// The RDN attribute (lower case).
    public var rdnType: String {
        switch self {
        case .workspace: "o"
        case .unit, .invitations: "ou"
        case .account, .sharedMailbox: "uid"
        case .alias: "mail"
        case .mailCredential, .mailGroup, .adminGroup, .memberGroup: "cn"
        case .invitation: "gwinvitationid"
        }
    }

    /// The object class values the service writes, lower case. slapd stores superclasses too
    /// (`person`, `organizationalPerson`, `top`); ``allowedImplied`` lists those.
    public var objectClasses: Set<String> {
        switch self {
        case .workspace: ["gwworkspace"]
        case .unit: ["organizationalunit", "gworgunit"]
        case .invitations: ["organizationalunit"]
        case .account: ["inetorgperson", "gwaccount"]
        case .sharedMailbox: ["inetorgperson", "gwsharedmailbox"]
        case .alias: ["gwmailalias"]
        case .mailCredential: ["gwmailcredential"]
        case .mailGroup: ["groupofnames", "gwmailgroup"]
        case .adminGroup: ["groupofnames", "gwadmingroup"]
        case .memberGroup: ["groupofnames"]
        case .invitation: ["gwinvitation"]
        }
    }

    /// Superclasses slapd may store beside ``objectClasses``.
    public static let allowedImplied: Set<String> = ["top", "person", "organizationalperson"]

    /// The kinds an entry of this kind may sit directly under (nil: directly under `ou=workspaces`).
    public var parents: Set<EntryKind?> {
        switch self {
        case .workspace: [nil]
        case .unit: [.workspace, .unit]
        case .account, .sharedMailbox, .mailGroup: [.unit]
        case .alias, .mailCredential: [.account]
        case .adminGroup: [.workspace, .unit]
        case .memberGroup, .invitations: [.workspace]
        case .invitation: [.invitations]
        }
    }

    /// A fixed RDN value, where the kind has one.
    public var fixedName: String? {
        switch self {
        case .mailCredential: "mail-password"
        case .adminGroup: "admins"
        case .memberGroup: "members"
        case .invitations: "invitations"
        default: nil
        }
    }
}

/// Classifies entries by the shape table. Pure: it sees only the DN, the object classes and the
/// kind of the parent, so tests drive it without slapd.
public enum EntryShape {
    /// Object classes that no gwdir entry ever carries: each one lets an entry hold any
    /// attribute, redirect clients, or stand for another entry.
    public static let forbiddenClasses: Set<String> = ["extensibleobject", "referral", "alias", "dynamicobject"]

    /// The kind whose shape the entry has exactly, or nil when it has none.
    ///
    /// - Parameters:
    ///   - dn: the entry's DN, relative part below `ou=workspaces` already checked by the caller.
    ///   - objectClasses: the entry's `objectClass` values as stored.
    ///   - parent: the parent's kind (nil for `ou=workspaces` itself).
    public static func kind(rdn: RelativeDistinguishedName, objectClasses: [String], parent: EntryKind?) -> EntryKind? {
        guard !rdn.isMultiValued, let value = rdn.value, !value.isEmpty else { return nil }
        let classes = Set(objectClasses.map { $0.lowercased() })
        let type = rdn.type.lowercased()
        for kind in EntryKind.allCases where kind.rdnType == type && kind.parents.contains(parent) {
            if let fixed = kind.fixedName, fixed != value.lowercased() { continue }
            // A named kind's fixed value is its own: a group can not be called `admins`.
            if kind.fixedName == nil, EntryKind.allCases.contains(where: {
                $0.rdnType == type && $0.parents.contains(parent) && $0.fixedName == value.lowercased()
            }) { continue }
            if classes.subtracting(EntryKind.allowedImplied) == kind.objectClasses { return kind }
        }
        return nil
    }

    /// Where a new entry of `kind` is about to be added, the objectClass values it must carry are
    /// exactly these (the write gate refuses any other set).
    public static func matches(_ kind: EntryKind, objectClasses: [String]) -> Bool {
        Set(objectClasses.map { $0.lowercased() }).subtracting(EntryKind.allowedImplied) == kind.objectClasses
    }
}
