import Foundation
import LDAPClient

/// A group mail (distribution list, `cn=<local part>`) or a shared mailbox (`uid=<local part>`)
/// in a unit; both have members named by address.
public struct MailGroup: Sendable, Hashable {
    public enum Kind: String, Sendable { case group, shared }
    public var kind: Kind
    public var dn: DistinguishedName
    public var address: String
    public var displayName: String?
    public var workspace: String
    public var unit: UnitPath?
    /// Member addresses (entries without a mail, such as the placeholder, are left out).
    public var members: [String]
}

/// Adds, edits and removes group mail and shared mailboxes.
///
/// Members are accounts, groups or shared mailboxes of the same workspace, stored as `member`
/// DNs so slapo-refint drops a member that is deleted and follows one that moves. A group
/// with no member holds the `cn=nobody` placeholder (groupOfNames requires one).
public struct GroupService: Sendable {
    public let context: DirectoryContext
    public init(_ context: DirectoryContext) { self.context = context }

    public func add(
        _ kind: MailGroup.Kind, address: String, workspace: String, unit: UnitPath, displayName: String? = nil,
        members: [String] = [], quota: Int? = nil
    ) async throws -> MailGroup {
        let address = try MailAddress(address)
        let ws = try await WorkspaceService(context).show(workspace)
        try AccountService.requireDomain(address, of: ws)
        let unitDN = try await UnitService(context).existingUnitDN(unit, workspace: workspace)
        let name = try EntryName.validate(address.localPart, what: "group name")
        let displayName = try NameText.validate(displayName, what: "display name")
        if kind == .group, name == "admins" || name == "members" {
            throw DirectoryError(.notAllowed, "\(address): \"\(name)\" is reserved for admin and member groups; choose another address")
        }
        try await AccountService(context).requireUnused(address)
        let memberDNs = try await resolveMembers(members, workspaceDN: ws.dn)
        let dn: DistinguishedName
        var attributes: [LDAPAttribute]
        switch kind {
        case .group:
            dn = try unitDN.child(type: "cn", value: name)
            attributes = [
                LDAPAttribute(AttributeName.objectClass, ["groupOfNames", ObjectClassName.mailGroup]),
                LDAPAttribute("cn", name),
                LDAPAttribute("member", memberDNs.isEmpty ? [context.layout.nobody.description] : memberDNs.map(\.description)),
            ]
        case .shared:
            dn = try unitDN.child(type: "uid", value: name)
            attributes = [
                LDAPAttribute(AttributeName.objectClass, ["inetOrgPerson", ObjectClassName.sharedMailbox]),
                LDAPAttribute("uid", name),
                LDAPAttribute("cn", displayName ?? name),
                LDAPAttribute("sn", displayName ?? name),
                LDAPAttribute(AttributeName.accountStatus, AccountStatus.active.rawValue),
            ]
            if !memberDNs.isEmpty { attributes.append(LDAPAttribute("member", memberDNs.map(\.description))) }
            if let quota { attributes.append(LDAPAttribute(AttributeName.mailQuota, quota)) }
        }
        attributes.append(LDAPAttribute("mail", address.description))
        if let displayName { attributes.append(LDAPAttribute("displayName", displayName)) }
        do {
            try await context.ldap.add(dn: dn, attributes: attributes)
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            throw DirectoryError(.alreadyExists, "unit \(unit) already has an entry named \(name)", underlying: error)
        } catch let error as LDAPError where error.code == .constraintViolation {
            throw DirectoryError(.addressInUse, "address \(address) is already in use", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "adding \(kind == .group ? "group" : "shared mailbox") \(address)")
        }
        return try await show(address.description)
    }

    public func show(_ address: String) async throws -> MailGroup {
        let entry = try await requireEntry(address)
        return try await group(from: entry)
    }

    public func list(_ kind: MailGroup.Kind, workspace: String) async throws -> [MailGroup] {
        let ws = try await WorkspaceService(context).show(workspace)
        let entries = try await context.search(ws.dn, .subtree, .equal("objectClass", Self.objectClass(kind)),
                                               attributes: [AttributeName.objectClass, "mail", "displayName", "member"], doing: "listing groups")
        var groups: [MailGroup] = []
        for entry in entries { groups.append(try await group(from: entry)) }
        return groups.sorted { $0.address < $1.address }
    }

    /// Adds and removes members; adding one that is there or removing one that is not is a no-op.
    public func editMembers(_ address: String, add: [String] = [], remove: [String] = []) async throws -> MailGroup {
        let entry = try await requireEntry(address)
        let current = try await group(from: entry)
        guard let location = context.layout.location(of: try entry.distinguishedName) else { throw DirectoryError(.notFound, "no group \(address)") }
        let workspaceDN = try context.layout.workspace(location.workspace)
        let toAdd = try await resolveMembers(add, workspaceDN: workspaceDN)
        let toRemove = try await resolveMembers(remove, workspaceDN: workspaceDN, mustExist: false)
        let existing = Set(entry.strings("member").compactMap { try? DistinguishedName($0).normalizedForComparison })
        let adding = toAdd.filter { !existing.contains($0.normalizedForComparison) }
        let removing = toRemove.filter { existing.contains($0.normalizedForComparison) }
        let nobody = context.layout.nobody.normalizedForComparison
        let remaining = existing.subtracting(removing.map(\.normalizedForComparison)).subtracting([nobody]).count + adding.count
        var modifications: [LDAPModification] = []
        if !adding.isEmpty { modifications.append(.add("member", adding.map(\.description))) }
        if !removing.isEmpty { modifications.append(.delete("member", removing.map(\.description))) }
        if current.kind == .group {
            if remaining == 0, !existing.contains(nobody) { modifications.append(.add("member", [context.layout.nobody.description])) }
            if remaining > 0, existing.contains(nobody) { modifications.append(.delete("member", [context.layout.nobody.description])) }
        }
        guard !modifications.isEmpty else { return current }
        _ = try await ldapCall("changing the members of \(address)") { try await context.ldap.modify(dn: try entry.distinguishedName, modifications) }
        return try await show(address)
    }

    public func remove(_ address: String) async throws {
        let entry = try await requireEntry(address)
        _ = try await ldapCall("removing \(address)") { try await context.ldap.deleteSubtree(dn: entry.distinguishedName) }
    }

    // MARK: Helpers

    static func objectClass(_ kind: MailGroup.Kind) -> String { kind == .group ? ObjectClassName.mailGroup : ObjectClassName.sharedMailbox }

    private func requireEntry(_ address: String) async throws -> LDAPEntry {
        let parsed = try MailAddress(address)
        let entries = try await context.search(context.layout.workspaces, .subtree,
                                               .and([.equal("mail", parsed.description), .or([.equal("objectClass", ObjectClassName.mailGroup), .equal("objectClass", ObjectClassName.sharedMailbox)])]),
                                               attributes: [AttributeName.objectClass, "mail", "displayName", "member"], doing: "looking up \(parsed)")
        guard let entry = entries.first else { throw DirectoryError(.notFound, "no group mail or shared mailbox \(parsed)") }
        return entry
    }

    private func group(from entry: LDAPEntry) async throws -> MailGroup {
        let location = context.layout.location(of: try entry.distinguishedName)
        var members: [String] = []
        for member in entry.strings("member") {
            guard let dn = try? DistinguishedName(member), dn.normalizedForComparison != context.layout.nobody.normalizedForComparison else { continue }
            if let mail = try await context.read(dn, attributes: ["mail"], doing: "reading members")?.string("mail") { members.append(mail) }
        }
        return MailGroup(kind: entry.hasObjectClass(ObjectClassName.mailGroup) ? .group : .shared, dn: try entry.distinguishedName, address: entry.string("mail") ?? "",
                         displayName: entry.string("displayName"), workspace: location?.workspace ?? "", unit: location?.unit,
                         members: members.sorted())
    }

    /// Member addresses → DNs of entries in the workspace (accounts, groups, shared mailboxes).
    private func resolveMembers(_ addresses: [String], workspaceDN: DistinguishedName, mustExist: Bool = true) async throws -> [DistinguishedName] {
        var dns: [DistinguishedName] = []
        for text in addresses {
            let address = try MailAddress(text)
            let entries = try await context.search(workspaceDN, .subtree, .and([
                .equal("mail", address.description),
                .or([.equal("objectClass", ObjectClassName.account), .equal("objectClass", ObjectClassName.mailGroup), .equal("objectClass", ObjectClassName.sharedMailbox)]),
            ]), attributes: ["1.1"], doing: "looking up member \(address)")
            guard let entry = entries.first else {
                if mustExist { throw DirectoryError(.notFound, "no account, group or shared mailbox \(address) in this workspace") }
                continue
            }
            dns.append(try entry.distinguishedName)
        }
        return dns
    }
}
