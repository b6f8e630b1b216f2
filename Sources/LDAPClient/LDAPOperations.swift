/// What the directory layer needs from LDAP, served by one connection or by a pool.
///
/// Every DN and filter is typed: code above LDAPClient cannot build one as a string from
/// input. They become strings only where LDAPConnection hands them to libldap.
public protocol LDAPOperations: Sendable {
    func search(
        base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter, attributes: [String],
        sizeLimit: Int, timeLimit: Duration?, controls: [LDAPRequestControl]
    ) async throws -> LDAPSearchResult
    func compare(dn: DistinguishedName, attribute: String, value: [UInt8], controls: [LDAPRequestControl]) async throws -> Bool
    @discardableResult
    func add(dn: DistinguishedName, attributes: [LDAPAttribute], controls: [LDAPRequestControl]) async throws -> LDAPResult
    @discardableResult
    func modify(dn: DistinguishedName, _ modifications: [LDAPModification], controls: [LDAPRequestControl]) async throws -> LDAPResult
    @discardableResult
    func delete(dn: DistinguishedName, controls: [LDAPRequestControl]) async throws -> LDAPResult
    @discardableResult
    func rename(
        dn: DistinguishedName, newRDN: RelativeDistinguishedName, deleteOldRDN: Bool, newSuperior: DistinguishedName?,
        controls: [LDAPRequestControl]
    ) async throws -> LDAPResult
    func whoAmI() async throws -> String
    @discardableResult
    func passwordModify(userDN: DistinguishedName?, oldPassword: String?, newPassword: String?, controls: [LDAPRequestControl]) async throws -> String?
    /// A requirement (with a default) so a pool can pin a listing to one connection: slapd's
    /// paging cookie is only valid on the connection that issued it.
    func pagedSearch(
        base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter, attributes: [String], pageSize: Int,
        controls: [LDAPRequestControl]
    ) -> LDAPPagedSearch
}

/// The requirements with their usual arguments left out. An overload never repeats a
/// requirement's exact labels: it would become that requirement's default and call itself.
extension LDAPOperations {
    public func search(
        base: DistinguishedName, scope: LDAPSearchScope = .subtree, filter: LDAPFilter = .present("objectClass"),
        attributes: [String] = [], sizeLimit: Int = 0
    ) async throws -> LDAPSearchResult {
        try await search(base: base, scope: scope, filter: filter, attributes: attributes, sizeLimit: sizeLimit, timeLimit: nil, controls: [])
    }

    public func search(
        base: DistinguishedName, scope: LDAPSearchScope = .subtree, filter: LDAPFilter = .present("objectClass"),
        attributes: [String] = [], sizeLimit: Int = 0, controls: [LDAPRequestControl]
    ) async throws -> LDAPSearchResult {
        try await search(base: base, scope: scope, filter: filter, attributes: attributes, sizeLimit: sizeLimit, timeLimit: nil, controls: controls)
    }

    public func search(
        base: DistinguishedName, scope: LDAPSearchScope = .subtree, filter: LDAPFilter = .present("objectClass"),
        attributes: [String] = [], sizeLimit: Int = 0, timeLimit: Duration?
    ) async throws -> LDAPSearchResult {
        try await search(base: base, scope: scope, filter: filter, attributes: attributes, sizeLimit: sizeLimit, timeLimit: timeLimit, controls: [])
    }

    /// RFC 2696 paged results as an async sequence of entries.
    public func pagedSearch(
        base: DistinguishedName, scope: LDAPSearchScope = .subtree, filter: LDAPFilter = .present("objectClass"),
        attributes: [String] = [], pageSize: Int = 500, controls: [LDAPRequestControl] = []
    ) -> LDAPPagedSearch {
        LDAPPagedSearch(operations: self, base: base, scope: scope, filter: filter, attributes: attributes, pageSize: pageSize, controls: controls)
    }

    /// The entry itself (a base search), or nil when it does not exist.
    public func entry(_ dn: DistinguishedName, attributes: [String] = []) async throws -> LDAPEntry? {
        do {
            return try await search(base: dn, scope: .base, attributes: attributes).entries.first
        } catch let error as LDAPError where error.code == .noSuchObject {
            return nil
        }
    }

    public func compare(dn: DistinguishedName, attribute: String, value: [UInt8]) async throws -> Bool {
        try await compare(dn: dn, attribute: attribute, value: value, controls: [])
    }

    public func compare(dn: DistinguishedName, attribute: String, value: String, controls: [LDAPRequestControl] = []) async throws -> Bool {
        try await compare(dn: dn, attribute: attribute, value: Array(value.utf8), controls: controls)
    }

    @discardableResult
    public func add(dn: DistinguishedName, attributes: [LDAPAttribute]) async throws -> LDAPResult {
        try await add(dn: dn, attributes: attributes, controls: [])
    }

    @discardableResult
    public func modify(dn: DistinguishedName, _ modifications: [LDAPModification]) async throws -> LDAPResult {
        try await modify(dn: dn, modifications, controls: [])
    }

    @discardableResult
    public func delete(dn: DistinguishedName) async throws -> LDAPResult {
        try await delete(dn: dn, controls: [])
    }

    @discardableResult
    public func rename(
        dn: DistinguishedName, newRDN: RelativeDistinguishedName, deleteOldRDN: Bool = true, newSuperior: DistinguishedName? = nil
    ) async throws -> LDAPResult {
        try await rename(dn: dn, newRDN: newRDN, deleteOldRDN: deleteOldRDN, newSuperior: newSuperior, controls: [])
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
        return try await rename(dn: dn, newRDN: rdn, deleteOldRDN: deleteOldRDN, newSuperior: newSuperior, controls: controls)
    }

    /// RFC 3062 Password Modify without controls; returns the generated password when `newPassword` is nil.
    @discardableResult
    public func passwordModify(userDN: DistinguishedName? = nil, oldPassword: String? = nil, newPassword: String? = nil) async throws -> String? {
        try await passwordModify(userDN: userDN, oldPassword: oldPassword, newPassword: newPassword, controls: [])
    }

    /// Deletes an entry and everything below it, deepest entries first. slapd does not implement
    /// the Tree Delete control, so this walks the subtree; each level's deletes are pipelined.
    /// ManageDsaIT makes referral objects ordinary entries here, so they are deleted too.
    public func deleteSubtree(dn: DistinguishedName) async throws {
        var byDepth: [Int: [DistinguishedName]] = [:]
        for try await entry in pagedSearch(base: dn, scope: .subtree, attributes: ["1.1"], pageSize: 1000, controls: [.manageDsaIT]) {
            let child = try entry.distinguishedName
            byDepth[child.rdns.count, default: []].append(child)
        }
        for depth in byDepth.keys.sorted(by: >) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for child in byDepth[depth] ?? [] {
                    group.addTask { _ = try await self.delete(dn: child, controls: [.manageDsaIT]) }
                }
                try await group.waitForAll()
            }
        }
    }
}

/// An async sequence over a paged search. One page is fetched ahead of the consumer, so a
/// listing of any size holds at most two pages in memory.
public struct LDAPPagedSearch: AsyncSequence, Sendable {
    public typealias Element = LDAPEntry
    let operations: any LDAPOperations
    let base: DistinguishedName
    let scope: LDAPSearchScope
    let filter: LDAPFilter
    let attributes: [String]
    let pageSize: Int
    let controls: [LDAPRequestControl]

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(search: self)
    }

    /// The same search, one page at a time.
    public var pages: Pages { Pages(search: self) }

    func fetch(cookie: [UInt8]) async throws -> LDAPSearchResult {
        try await operations.search(
            base: base, scope: scope, filter: filter, attributes: attributes,
            sizeLimit: 0, timeLimit: nil, controls: controls + [.pagedResults(size: pageSize, cookie: cookie)]
        )
    }

    /// RFC 2696 ends a listing with an empty cookie. slapd 2.5 ends one whose last page is exactly
    /// full with its NOID sentinel (all bits set) instead, and answers that cookie with
    /// unwillingToPerform ("cookie is invalid or old") — `ldapsearch -E pr=N` stumbles the same way.
    static func isFinalCookie(_ cookie: [UInt8]) -> Bool {
        cookie.isEmpty || cookie.allSatisfy { $0 == 0xFF }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var pages: Pages.AsyncIterator
        var buffer: [LDAPEntry] = []
        var index = 0

        init(search: LDAPPagedSearch) {
            pages = Pages.AsyncIterator(search: search)
        }

        public mutating func next() async throws -> LDAPEntry? {
            while index == buffer.count {
                guard let page = try await pages.next() else { return nil }
                buffer = page
                index = 0
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    public struct Pages: AsyncSequence, Sendable {
        public typealias Element = [LDAPEntry]
        let search: LDAPPagedSearch

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(search: search) }

        /// Requests page N+1 as soon as page N has arrived, so slapd builds the next page while
        /// this one is consumed; at most two pages are held.
        public struct AsyncIterator: AsyncIteratorProtocol {
            let search: LDAPPagedSearch
            var started = false
            var prefetch: Prefetch?

            init(search: LDAPPagedSearch) { self.search = search }

            public mutating func next() async throws -> [LDAPEntry]? {
                let result: LDAPSearchResult
                if let prefetch {
                    self.prefetch = nil
                    result = try await prefetch.task.value
                } else if !started {
                    started = true
                    result = try await search.fetch(cookie: [])
                } else {
                    return nil
                }
                let cookie = result.pagedResultsCookie ?? []
                if !LDAPPagedSearch.isFinalCookie(cookie) {
                    let search = self.search
                    prefetch = Prefetch(Task { try await search.fetch(cookie: cookie) })
                }
                return result.entries
            }
        }

        /// Cancels the page fetched ahead when the listing is abandoned.
        final class Prefetch: Sendable {
            let task: Task<LDAPSearchResult, any Error>
            init(_ task: Task<LDAPSearchResult, any Error>) { self.task = task }
            deinit { task.cancel() }
        }
    }
}
