import Foundation
import LDAPClient

/// Where gwdir's entries live under one base DN (spec §3, schema/README.md). Every DN the
/// services use comes from here, built from RDN values, never by concatenating input.
public struct DirectoryLayout: Sendable, Hashable {
    public let base: DistinguishedName

    public init(base: DistinguishedName) { self.base = base }

    public init(base: String) throws {
        do { self.base = try DistinguishedName(base) } catch {
            throw DirectoryError(.invalidArgument, "invalid base DN \"\(base)\"")
        }
    }

    public var system: DistinguishedName { try! base.child(type: "ou", value: "system") }
    public var superAdmins: DistinguishedName { try! system.child(type: "cn", value: "superadmins") }
    public var nobody: DistinguishedName { try! system.child(type: "cn", value: "nobody") }
    public var workspaces: DistinguishedName { try! base.child(type: "ou", value: "workspaces") }
    public var audit: DistinguishedName { try! base.child(type: "ou", value: "audit") }
    public var auditEvents: DistinguishedName { try! audit.child(type: "ou", value: "events") }
    public var ipBlocks: DistinguishedName { try! audit.child(type: "ou", value: "ipblocks") }
    public var policies: DistinguishedName { try! base.child(type: "ou", value: "policies") }

    public func workspace(_ id: String) throws -> DistinguishedName {
        try workspaces.child(type: "o", value: EntryName.validate(id, what: "workspace id"))
    }

    public func unit(_ path: UnitPath, workspace id: String) throws -> DistinguishedName {
        var dn = try workspace(id)
        for name in path.components { dn = try dn.child(type: "ou", value: name) }
        return dn
    }

    /// The admin group of a workspace (`unit == nil`) or of a unit.
    public func admins(workspace id: String, unit: UnitPath?) throws -> DistinguishedName {
        let scope = try unit.map { try self.unit($0, workspace: id) } ?? workspace(id)
        return try scope.child(type: "cn", value: "admins")
    }

    /// The workspace id and unit path of a DN below `ou=workspaces`, for display.
    public func location(of dn: DistinguishedName) -> (workspace: String, unit: UnitPath?)? {
        let relative = dn.normalizedForComparison.rdns.dropLast(workspaces.rdns.count)
        guard dn.isDescendant(of: workspaces), let ws = relative.last, ws.type.lowercased() == "o" else { return nil }
        // Original spelling of the values, outermost first.
        let original = Array(dn.rdns.dropLast(workspaces.rdns.count).reversed())
        let units = original.dropFirst().prefix { $0.type.lowercased() == "ou" }.compactMap(\.value)
        return (original[0].value ?? "", units.isEmpty ? nil : UnitPath(components: Array(units)))
    }
}

/// What every service needs: a connection (or pool), the layout and a clock the tests control.
public struct DirectoryContext: Sendable {
    public var ldap: any LDAPOperations
    public var layout: DirectoryLayout
    public var now: @Sendable () -> Date

    public init(ldap: any LDAPOperations, layout: DirectoryLayout, now: @escaping @Sendable () -> Date = { Date() }) {
        self.ldap = ldap
        self.layout = layout
        self.now = now
    }
}
