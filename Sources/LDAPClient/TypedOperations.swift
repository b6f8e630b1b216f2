/// The same operations taking escaped DN and filter values, so that code above LDAPClient never
/// has to build a DN or a filter as a string from user input.
extension LDAPOperations {
    public func search(
        base: DistinguishedName, scope: LDAPSearchScope = .subtree, filter: LDAPFilter = .present("objectClass"),
        attributes: [String] = [], sizeLimit: Int = 0, timeLimit: Duration? = nil, controls: [LDAPRequestControl] = []
    ) async throws -> LDAPSearchResult {
        try await search(base: base.description, scope: scope, filter: filter.description, attributes: attributes, sizeLimit: sizeLimit, timeLimit: timeLimit, controls: controls)
    }

    public func pagedSearch(
        base: DistinguishedName, scope: LDAPSearchScope = .subtree, filter: LDAPFilter = .present("objectClass"),
        attributes: [String] = [], pageSize: Int = 500, controls: [LDAPRequestControl] = []
    ) -> LDAPPagedSearch {
        pagedSearch(base: base.description, scope: scope, filter: filter.description, attributes: attributes, pageSize: pageSize, controls: controls)
    }

    public func entry(_ dn: DistinguishedName, attributes: [String] = []) async throws -> LDAPEntry? {
        try await entry(dn.description, attributes: attributes)
    }

    public func compare(dn: DistinguishedName, attribute: String, value: String, controls: [LDAPRequestControl] = []) async throws -> Bool {
        try await compare(dn: dn.description, attribute: attribute, value: Array(value.utf8), controls: controls)
    }

    @discardableResult
    public func add(dn: DistinguishedName, attributes: [LDAPAttribute], controls: [LDAPRequestControl] = []) async throws -> LDAPResult {
        try await add(dn: dn.description, attributes: attributes, controls: controls)
    }

    @discardableResult
    public func modify(dn: DistinguishedName, _ modifications: [LDAPModification], controls: [LDAPRequestControl] = []) async throws -> LDAPResult {
        try await modify(dn: dn.description, modifications, controls: controls)
    }

    @discardableResult
    public func delete(dn: DistinguishedName, controls: [LDAPRequestControl] = []) async throws -> LDAPResult {
        try await delete(dn: dn.description, controls: controls)
    }

    /// Moves and/or renames an entry; `newRDN` defaults to the current one (a pure move).
    @discardableResult
    public func move(
        _ dn: DistinguishedName, newRDN: RelativeDistinguishedName? = nil, newSuperior: DistinguishedName?,
        deleteOldRDN: Bool = true, controls: [LDAPRequestControl] = []
    ) async throws -> LDAPResult {
        guard let rdn = newRDN ?? dn.rdn else {
            throw LDAPError(code: .paramError, message: "the root DN cannot be moved", operation: .modifyDN)
        }
        return try await rename(dn: dn.description, newRDN: rdn.description, deleteOldRDN: deleteOldRDN, newSuperior: newSuperior?.description, controls: controls)
    }
}

extension LDAPRequestControl {
    /// RFC 4528 with an escaped filter.
    public static func assertion(_ filter: LDAPFilter) -> Self {
        .assertion(filter.description)
    }
}
