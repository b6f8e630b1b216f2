import Synchronization

/// A few connections bound as the same identity, used round-robin. Each connection already
/// pipelines, so a pool is for spreading decoding over threads and for surviving one bad socket,
/// not for concurrency as such; two or three connections are plenty.
public final class LDAPConnectionPool: LDAPOperations, Sendable {
    public let connections: [LDAPConnection]
    private let nextIndex = Atomic<Int>(0)

    public init(configuration: LDAPConfiguration, size: Int = 2) {
        precondition(size > 0, "a pool needs at least one connection")
        connections = (0..<size).map { _ in LDAPConnection(configuration: configuration) }
    }

    /// The connection the next operation goes to.
    public func next() -> LDAPConnection {
        let index = nextIndex.add(1, ordering: .relaxed).oldValue
        return connections[index % connections.count]
    }

    public func close() {
        for connection in connections { connection.close() }
    }

    public func search(base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter, attributes: [String], sizeLimit: Int, timeLimit: Duration?, controls: [LDAPRequestControl]) async throws -> LDAPSearchResult {
        try await next().search(base: base, scope: scope, filter: filter, attributes: attributes, sizeLimit: sizeLimit, timeLimit: timeLimit, controls: controls)
    }

    /// Paged results are tied to one connection (the cookie is per connection in slapd).
    public func pagedSearch(base: DistinguishedName, scope: LDAPSearchScope = .subtree, filter: LDAPFilter = .present("objectClass"), attributes: [String] = [], pageSize: Int = 500, controls: [LDAPRequestControl] = []) -> LDAPPagedSearch {
        next().pagedSearch(base: base, scope: scope, filter: filter, attributes: attributes, pageSize: pageSize, controls: controls)
    }

    public func compare(dn: DistinguishedName, attribute: String, value: [UInt8], controls: [LDAPRequestControl]) async throws -> Bool {
        try await next().compare(dn: dn, attribute: attribute, value: value, controls: controls)
    }

    public func add(dn: DistinguishedName, attributes: [LDAPAttribute], controls: [LDAPRequestControl]) async throws -> LDAPResult {
        try await next().add(dn: dn, attributes: attributes, controls: controls)
    }

    public func modify(dn: DistinguishedName, _ modifications: [LDAPModification], controls: [LDAPRequestControl]) async throws -> LDAPResult {
        try await next().modify(dn: dn, modifications, controls: controls)
    }

    public func delete(dn: DistinguishedName, controls: [LDAPRequestControl]) async throws -> LDAPResult {
        try await next().delete(dn: dn, controls: controls)
    }

    public func rename(dn: DistinguishedName, newRDN: RelativeDistinguishedName, deleteOldRDN: Bool, newSuperior: DistinguishedName?, controls: [LDAPRequestControl]) async throws -> LDAPResult {
        try await next().rename(dn: dn, newRDN: newRDN, deleteOldRDN: deleteOldRDN, newSuperior: newSuperior, controls: controls)
    }

    public func whoAmI() async throws -> String {
        try await next().whoAmI()
    }

    public func passwordModify(userDN: DistinguishedName?, oldPassword: String?, newPassword: String?, controls: [LDAPRequestControl]) async throws -> String? {
        try await next().passwordModify(userDN: userDN, oldPassword: oldPassword, newPassword: newPassword, controls: controls)
    }
}
