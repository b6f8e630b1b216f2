import Foundation
import LDAPClient

/// An org unit, `ou=<name>` under its workspace or parent unit.
public struct OrgUnit: Sendable, Hashable {
    public var workspace: String
    public var path: UnitPath
    public var dn: DistinguishedName
    public var displayName: String?
    public var billingId: String?
    /// Accounts directly in the unit (not in sub-units).
    public var accountCount: Int

    public var name: String { path.name }
    public var depth: Int { path.components.count }
}

/// Adds, renames, moves, lists and deletes org units. Units nest (`sales/east`); a unit is
/// deleted only when empty.
public struct UnitService: Sendable {
    public let context: DirectoryContext
    public init(_ context: DirectoryContext) { self.context = context }

    static let attributes = ["ou", "displayName", AttributeName.billingId, AttributeName.objectClass]

    /// `ou=invitations` below a workspace holds its invitations (``EntryKind/invitations``); a
    /// unit of that name, at any depth (a move could lift it), would be a second shape there.
    public static func unreserved(_ name: String) throws -> String {
        guard name.lowercased() != EntryKind.invitations.fixedName else {
            throw DirectoryError(.invalidArgument, "\"\(name)\" is reserved for the workspace's invitations; choose another unit name")
        }
        return name
    }

    public func add(
        _ name: String, workspace: String, parent: UnitPath? = nil, displayName: String? = nil, billingId: String? = nil
    ) async throws -> OrgUnit {
        let name = try Self.unreserved(EntryName.validate(name, what: "unit name"))
        let displayName = try NameText.validate(displayName, what: "unit display name")
        let parentDN = try await parentDN(workspace: workspace, parent: parent)
        let path = parent?.appending(name) ?? UnitPath(components: [name])
        let dn = try parentDN.child(type: "ou", value: name)
        var attributes = [LDAPAttribute(AttributeName.objectClass, ["organizationalUnit", ObjectClassName.orgUnit]), LDAPAttribute("ou", name)]
        if let displayName { attributes.append(LDAPAttribute("displayName", displayName)) }
        if let billingId { attributes.append(LDAPAttribute(AttributeName.billingId, billingId)) }
        do {
            try await context.ldap.add(dn: dn, attributes: attributes)
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            throw DirectoryError(.alreadyExists, "unit \(path) already exists in workspace \(workspace)", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "adding unit \(path) to workspace \(workspace)")
        }
        return try await show(path, workspace: workspace)
    }

    public func show(_ path: UnitPath, workspace: String) async throws -> OrgUnit {
        let dn = try await existingUnitDN(path, workspace: workspace)
        guard let entry = try await context.read(dn, attributes: Self.attributes, doing: "reading unit \(path)") else {
            throw DirectoryError(.notFound, "no unit \(path) in workspace \(workspace)")
        }
        let accounts = try await context.search(dn, .oneLevel, .equal("objectClass", ObjectClassName.account), attributes: ["1.1"], doing: "counting accounts of \(path)")
        return OrgUnit(workspace: workspace, path: path, dn: dn, displayName: entry.string("displayName"),
                       billingId: entry.string(AttributeName.billingId), accountCount: accounts.count)
    }

    /// Every unit of the workspace, parents before children (a depth-first tree order).
    public func list(workspace: String) async throws -> [OrgUnit] {
        let workspaceDN = try await WorkspaceService(context).show(workspace).dn
        let base = workspaceDN
        let units = try await context.search(base, .subtree, .equal("objectClass", ObjectClassName.orgUnit), attributes: Self.attributes, doing: "listing units of \(workspace)")
        let accounts = try await context.search(base, .subtree, .equal("objectClass", ObjectClassName.account), attributes: ["1.1"], doing: "counting accounts of \(workspace)")
        var counts: [DistinguishedName: Int] = [:]
        for account in accounts {
            if let parent = try account.distinguishedName.parent { counts[parent.normalizedForComparison, default: 0] += 1 }
        }
        return try units.compactMap { entry -> OrgUnit? in
            let dn = try entry.distinguishedName
            guard let location = context.layout.location(of: dn), let path = location.unit else { return nil }
            return OrgUnit(workspace: workspace, path: path, dn: dn, displayName: entry.string("displayName"),
                           billingId: entry.string(AttributeName.billingId), accountCount: counts[dn.normalizedForComparison] ?? 0)
        }.sorted { $0.path.components.lexicographicallyPrecedes($1.path.components) }
    }

    public func rename(_ path: UnitPath, workspace: String, to newName: String) async throws -> OrgUnit {
        let newName = try Self.unreserved(EntryName.validate(newName, what: "unit name"))
        let dn = try await existingUnitDN(path, workspace: workspace)
        let newPath = path.parent?.appending(newName) ?? UnitPath(components: [newName])
        do {
            try await context.ldap.move(dn, newRDN: try RelativeDistinguishedName(type: "ou", value: newName), newSuperior: nil)
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            throw DirectoryError(.alreadyExists, "unit \(newPath) already exists in workspace \(workspace)", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "renaming unit \(path)")
        }
        return try await show(newPath, workspace: workspace)
    }

    /// Moves a unit, with everything in it, under another unit (`nil`: to the workspace's top).
    public func move(_ path: UnitPath, workspace: String, under newParent: UnitPath?) async throws -> OrgUnit {
        let dn = try await existingUnitDN(path, workspace: workspace)
        if let newParent, newParent.components.starts(with: path.components) {
            throw DirectoryError(.notAllowed, "unit \(path) can not move into itself (\(newParent))")
        }
        let target = try await parentDN(workspace: workspace, parent: newParent)
        let newPath = newParent?.appending(path.name) ?? UnitPath(components: [path.name])
        do {
            try await context.ldap.move(dn, newSuperior: target)
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            throw DirectoryError(.alreadyExists, "unit \(newPath) already exists in workspace \(workspace)", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "moving unit \(path)")
        }
        return try await show(newPath, workspace: workspace)
    }

    /// Deletes an empty unit (its admin group goes with it). A unit that still holds accounts,
    /// sub-units, groups or shared mailboxes is refused with a list of what is inside.
    public func delete(_ path: UnitPath, workspace: String) async throws {
        let dn = try await existingUnitDN(path, workspace: workspace)
        let children = try await context.search(dn, .oneLevel, .present("objectClass"), attributes: [AttributeName.objectClass, "mail", "ou", "cn"], doing: "reading unit \(path)")
        let adminGroups = try children.filter { try $0.distinguishedName.rdn?.type.lowercased() == "cn" && $0.string("cn") == "admins" }
        let contents = children.filter { child in !adminGroups.contains { $0.dn == child.dn } }
        if !contents.isEmpty {
            let summary = try Self.summary(of: contents)
            throw DirectoryError(.notEmpty, "unit \(path) is not empty: \(summary); move or delete them first")
        }
        for group in adminGroups {
            _ = try await ldapCall("deleting the admins of \(path)") { try await context.ldap.delete(dn: group.distinguishedName, controls: []) }
        }
        do {
            try await context.ldap.delete(dn: dn)
        } catch let error as LDAPError where error.code == .notAllowedOnNonLeaf {
            throw DirectoryError(.notEmpty, "unit \(path) is not empty (something was added meanwhile)", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "deleting unit \(path)")
        }
    }

    /// "2 accounts (a@x, b@x), 1 unit (east)": what a non-empty unit holds, named.
    static func summary(of entries: [LDAPEntry]) throws -> String {
        var kinds: [(String, String, [String])] = [("account", "accounts", []), ("unit", "units", []), ("group", "groups", []),
                                                   ("shared mailbox", "shared mailboxes", []), ("other entry", "other entries", [])]
        for entry in entries {
            let index: Int
            if entry.hasObjectClass(ObjectClassName.account) { index = 0 }
            else if entry.hasObjectClass("organizationalUnit") { index = 1 }
            else if entry.hasObjectClass(ObjectClassName.mailGroup) { index = 2 }
            else if entry.hasObjectClass(ObjectClassName.sharedMailbox) { index = 3 }
            else { index = 4 }
            kinds[index].2.append(try entry.string("mail") ?? entry.string("ou") ?? entry.distinguishedName.rdn?.value ?? entry.dn)
        }
        return kinds.filter { !$0.2.isEmpty }.map { singular, plural, names in
            let shown = names.sorted().prefix(5).joined(separator: ", ") + (names.count > 5 ? ", …" : "")
            return "\(names.count) \(names.count == 1 ? singular : plural) (\(shown))"
        }.joined(separator: ", ")
    }

    /// The DN of an existing unit, or a clear not-found naming the first missing level.
    func existingUnitDN(_ path: UnitPath, workspace: String) async throws -> DistinguishedName {
        let dn = try context.layout.unit(path, workspace: workspace)
        if let entry = try await context.read(dn, attributes: [AttributeName.objectClass], doing: "looking up unit \(path)"), entry.hasObjectClass("organizationalUnit") {
            return dn
        }
        _ = try await WorkspaceService(context).show(workspace)
        throw DirectoryError(.notFound, "no unit \(path) in workspace \(workspace)")
    }

    private func parentDN(workspace: String, parent: UnitPath?) async throws -> DistinguishedName {
        if let parent { return try await existingUnitDN(parent, workspace: workspace) }
        return try await WorkspaceService(context).show(workspace).dn
    }
}
