import Foundation
import LDAPClient

/// One admin role: a workspace (`unit == nil`) or a unit, and who holds it.
public struct AdminRole: Sendable, Hashable {
    public var workspace: String
    public var unit: UnitPath?
    public var admin: String
    public var adminDN: String
    public var groupDN: String

    public var scope: String { unit.map { "\(workspace)/\($0)" } ?? workspace }
}

/// Grants and revokes workspace and unit admin roles: membership of `cn=admins` under the
/// workspace or unit, which slapd's ACLs turn into write access on that subtree.
///
/// The group is created on the first grant; the last revoke leaves the `cn=nobody` placeholder
/// (groupOfNames needs a member). A concurrent first grant that finds the group created
/// meanwhile retries as a modify.
public struct AdminService: Sendable {
    public let context: DirectoryContext
    public init(_ context: DirectoryContext) { self.context = context }

    /// Returns false when the address already held the role.
    @discardableResult
    public func grant(_ address: String, workspace: String, unit: UnitPath? = nil) async throws -> Bool {
        let admin = try await AccountService(context).require(address)
        guard admin.workspace == workspace else {
            throw DirectoryError(.notAllowed, "\(admin.mail) belongs to workspace \(admin.workspace), not \(workspace)")
        }
        guard admin.status == .active else { throw DirectoryError(.notAllowed, "\(admin.mail) is \(admin.status.rawValue)") }
        let scope = try await scopeDN(workspace: workspace, unit: unit)
        // An admin of a unit is an account inside it: the role follows the org chart, and a unit
        // admin can not hand a role in their unit to someone from a sibling unit.
        guard admin.dn.isStrictlyBelow(scope) else {
            throw DirectoryError(.notAllowed, "\(admin.mail) is not inside \(Self.scope(workspace, unit)); an admin of a unit is an account of that unit or its sub-units")
        }
        let group = try scope.child(type: "cn", value: "admins")
        for _ in 0..<3 {
            do {
                try await context.ldap.modify(dn: group, [.add("member", [admin.dn.description])])
                return true
            } catch let error as LDAPError where error.code == .attributeOrValueExists {
                return false
            } catch let error as LDAPError where error.code == .noSuchObject {
                do {
                    try await context.ldap.add(dn: group, attributes: [
                        LDAPAttribute(AttributeName.objectClass, ["groupOfNames", ObjectClassName.adminGroup]),
                        LDAPAttribute("cn", "admins"),
                        LDAPAttribute("member", [admin.dn.description]),
                    ])
                    return true
                } catch let error as LDAPError where error.code == .entryAlreadyExists {
                    continue
                } catch let error as LDAPError {
                    throw DirectoryError.ldap(error, "granting admin of \(Self.scope(workspace, unit)) to \(admin.mail)")
                }
            } catch let error as LDAPError {
                throw DirectoryError.ldap(error, "granting admin of \(Self.scope(workspace, unit)) to \(admin.mail)")
            }
        }
        throw DirectoryError(.failed, "granting admin of \(Self.scope(workspace, unit)) to \(admin.mail): the admin group kept changing; try again")
    }

    public func revoke(_ address: String, workspace: String, unit: UnitPath? = nil) async throws {
        let admin = try await AccountService(context).require(address)
        let group = try await groupDN(workspace: workspace, unit: unit)
        let members = try await context.read(group, attributes: ["member"], doing: "reading the admins of \(Self.scope(workspace, unit))")?.strings("member") ?? []
        let normalized = admin.dn.normalizedForComparison
        guard members.contains(where: { (try? DistinguishedName($0).normalizedForComparison) == normalized }) else {
            throw DirectoryError(.notFound, "\(admin.mail) is not an admin of \(Self.scope(workspace, unit))")
        }
        let others = members.filter {
            let dn = try? DistinguishedName($0).normalizedForComparison
            return dn != normalized && dn != context.layout.nobody.normalizedForComparison
        }
        // The last admin is replaced by the placeholder in the same modify: atomic, so a grant
        // racing with it is never lost, and the empty group grants nothing.
        var modifications: [LDAPModification] = [.delete("member", [admin.dn.description])]
        if others.isEmpty, !members.contains(where: { (try? DistinguishedName($0).normalizedForComparison) == context.layout.nobody.normalizedForComparison }) {
            modifications.append(.add("member", [context.layout.nobody.description]))
        }
        _ = try await ldapCall("revoking admin of \(Self.scope(workspace, unit)) from \(admin.mail)") {
            try await context.ldap.modify(dn: group, modifications)
        }
    }

    /// The admins of one scope; with `includeUnits`, of the workspace and every unit in it.
    public func list(workspace: String, unit: UnitPath? = nil, includeUnits: Bool = false) async throws -> [AdminRole] {
        let scopeDN = try await scopeDN(workspace: workspace, unit: unit)
        let groups = try await context.search(scopeDN, includeUnits ? .subtree : .oneLevel,
                                              .and([.equal("objectClass", "groupOfNames"), .equal("cn", "admins")]),
                                              attributes: ["member"], doing: "listing admins of \(Self.scope(workspace, unit))")
        var roles: [AdminRole] = []
        for group in groups {
            guard let location = context.layout.location(of: try group.distinguishedName) else { continue }
            for member in group.strings("member") {
                guard let dn = try? DistinguishedName(member), dn.normalizedForComparison != context.layout.nobody.normalizedForComparison,
                      let mail = try await context.read(dn, attributes: ["mail"], doing: "reading admins")?.string("mail")
                else { continue }
                roles.append(AdminRole(workspace: location.workspace, unit: location.unit, admin: mail, adminDN: member, groupDN: group.dn))
            }
        }
        return roles.sorted { ($0.unit?.description ?? "", $0.admin) < ($1.unit?.description ?? "", $1.admin) }
    }

    private func scopeDN(workspace: String, unit: UnitPath?) async throws -> DistinguishedName {
        if let unit { return try await UnitService(context).existingUnitDN(unit, workspace: workspace) }
        return try await WorkspaceService(context).show(workspace).dn
    }

    private func groupDN(workspace: String, unit: UnitPath?) async throws -> DistinguishedName {
        try await scopeDN(workspace: workspace, unit: unit).child(type: "cn", value: "admins")
    }

    static func scope(_ workspace: String, _ unit: UnitPath?) -> String { unit.map { "unit \($0) of \(workspace)" } ?? "workspace \(workspace)" }
}
