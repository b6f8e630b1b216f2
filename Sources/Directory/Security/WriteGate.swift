import LDAPClient

/// The operations an acting admin's services run on (`--as`): reads go to the admin's own
/// connection, so slapd's ACLs confine what they see; writes are checked by ``WritePolicy`` and
/// then made by the service identity, because admins hold no raw write right at all (README,
/// "Security model": slapd's ACLs can not guard shapes, renames or "not an admin's account").
///
/// A refused write fails with `insufficientAccessRights` before anything is sent, exactly as
/// slapd refused it before, so the services and the CLI's exit code 4 stay as they were.
public struct WriteGate: LDAPOperations {
    public let reader: any LDAPOperations
    public let writer: any LDAPOperations
    public let policy: WritePolicy

    public init(reader: any LDAPOperations, writer: any LDAPOperations, policy: WritePolicy) {
        self.reader = reader
        self.writer = writer
        self.policy = policy
    }

    // MARK: Reads: the admin's own view

    public func search(
        base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter, attributes: [String],
        sizeLimit: Int, timeLimit: Duration?, controls: [LDAPRequestControl]
    ) async throws -> LDAPSearchResult {
        try await reader.search(base: base, scope: scope, filter: filter, attributes: attributes, sizeLimit: sizeLimit, timeLimit: timeLimit, controls: controls)
    }

    public func pagedSearch(
        base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter, attributes: [String], pageSize: Int, controls: [LDAPRequestControl]
    ) -> LDAPPagedSearch {
        reader.pagedSearch(base: base, scope: scope, filter: filter, attributes: attributes, pageSize: pageSize, controls: controls)
    }

    public func compare(dn: DistinguishedName, attribute: String, value: [UInt8], controls: [LDAPRequestControl]) async throws -> Bool {
        try await reader.compare(dn: dn, attribute: attribute, value: value, controls: controls)
    }

    public func whoAmI() async throws -> String { try await reader.whoAmI() }

    // MARK: Writes: checked, then made by the service

    public func add(dn: DistinguishedName, attributes: [LDAPAttribute], controls: [LDAPRequestControl]) async throws -> LDAPResult {
        let classes = attributes.filter { $0.name.lowercased() == "objectclass" }.flatMap(\.strings)
        try await authorize(.add(dn, objectClasses: classes, attributes: Set(attributes.map(\.name))), dn: dn, operation: "add")
        return try await writer.add(dn: dn, attributes: attributes, controls: try Self.allowed(controls, dn: dn, operation: "add"))
    }

    public func modify(dn: DistinguishedName, _ modifications: [LDAPModification], controls: [LDAPRequestControl]) async throws -> LDAPResult {
        try await authorize(.modify(dn, attributes: Set(modifications.map(\.attribute.name))), dn: dn, operation: "modify")
        // Clearing ppolicy's lock state needs Relax (pwdFailureTime is NO-USER-MODIFICATION);
        // that modify only deletes, so Relax skips no constraint there.
        let unlock = !modifications.isEmpty && modifications.allSatisfy {
            $0.operation == .delete && Self.lockStateAttributes.contains($0.attribute.name.lowercased())
        }
        let passed = unlock ? controls : try Self.allowed(controls, dn: dn, operation: "modify")
        return try await writer.modify(dn: dn, modifications, controls: passed)
    }

    public func delete(dn: DistinguishedName, controls: [LDAPRequestControl]) async throws -> LDAPResult {
        try await authorize(.delete(dn), dn: dn, operation: "delete")
        return try await writer.delete(dn: dn, controls: try Self.allowed(controls, dn: dn, operation: "delete"))
    }

    public func rename(
        dn: DistinguishedName, newRDN: RelativeDistinguishedName, deleteOldRDN: Bool, newSuperior: DistinguishedName?,
        controls: [LDAPRequestControl]
    ) async throws -> LDAPResult {
        guard let parent = dn.parent else {
            throw Self.refusal("the root DSE cannot be renamed", dn: dn, operation: "rename")
        }
        try await authorize(.rename(dn, newRDN: newRDN, newParent: newSuperior ?? parent), dn: dn, operation: "rename")
        return try await writer.rename(dn: dn, newRDN: newRDN, deleteOldRDN: deleteOldRDN, newSuperior: newSuperior,
                                       controls: try Self.allowed(controls, dn: dn, operation: "rename"))
    }

    public func passwordModify(userDN: DistinguishedName?, oldPassword: String?, newPassword: String?, controls: [LDAPRequestControl]) async throws -> String? {
        // A password change of the admin's own (no user DN) is theirs to make; a reset of
        // someone else's is a modify of userPassword and goes through the policy.
        guard let userDN else {
            return try await reader.passwordModify(userDN: nil, oldPassword: oldPassword, newPassword: newPassword, controls: controls)
        }
        try await authorize(.modify(userDN, attributes: ["userPassword"]), dn: userDN, operation: "password modify")
        return try await writer.passwordModify(userDN: userDN, oldPassword: oldPassword, newPassword: newPassword, controls: controls)
    }

    // MARK: The check

    func authorize(_ request: WriteRequest, dn: DistinguishedName, operation: String) async throws {
        var facts = TargetFacts()
        if let target = request.existingTarget { facts = try await self.facts(about: target) }
        if case .denied(let reason) = policy.decide(request, facts: facts) {
            throw Self.refusal(reason, dn: dn, operation: operation)
        }
    }

    /// Looks up, as the service, what the policy needs to know about an existing entry.
    func facts(about dn: DistinguishedName) async throws -> TargetFacts {
        var facts = TargetFacts()
        if let account = Self.enclosingAccount(of: dn) {
            let memberOf = try await writer.entry(account, attributes: ["memberOf"])?.strings("memberOf") ?? []
            facts.belongsToAnAdmin = memberOf.contains { value in
                guard let group = try? DistinguishedName(value) else { return true } // unreadable: treat as protected
                return group.sameEntry(as: policy.layout.superAdmins)
                    || (group.rdn?.type.lowercased() == "cn" && group.rdn?.value?.lowercased() == "admins")
            }
        }
        if dn.rdn?.type.lowercased() == "ou" {
            facts.isBilledUnit = try await writer.entry(dn, attributes: [AttributeName.billingId])?.string(AttributeName.billingId) != nil
        }
        return facts
    }

    /// The nearest `uid=` entry at or above `dn` (an account, its aliases and credential).
    static func enclosingAccount(of dn: DistinguishedName) -> DistinguishedName? {
        var current: DistinguishedName? = dn
        while let candidate = current, !candidate.isEmpty {
            if candidate.rdn?.type.lowercased() == "uid" { return candidate }
            current = candidate.parent
        }
        return nil
    }

    /// The service never sends Relax for an admin (it would skip slapo-constraint), nor
    /// ManageDsaIT except on a delete (where it only makes a referral deletable like an entry).
    static func allowed(_ controls: [LDAPRequestControl], dn: DistinguishedName, operation: String) throws -> [LDAPRequestControl] {
        for control in controls where control.oid == LDAPRequestControl.relax.oid
            || (control.oid == LDAPRequestControl.manageDsaIT.oid && operation != "delete") {
            throw refusal("control \(control.oid) is not sent for an admin", dn: dn, operation: operation)
        }
        return controls
    }

    static let lockStateAttributes: Set<String> = ["pwdfailuretime", "pwdaccountlockedtime"]

    static func refusal(_ reason: String, dn: DistinguishedName, operation: String) -> LDAPError {
        LDAPError(code: .insufficientAccessRights, message: reason, operation: LDAPError.Operation(rawValue: operation), dn: dn.description)
    }
}
