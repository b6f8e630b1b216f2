/// What the directory layer needs from LDAP, served by one connection or by a pool.
public protocol LDAPOperations: Sendable {
    func search(
        base: String, scope: LDAPSearchScope, filter: String, attributes: [String],
        sizeLimit: Int, timeLimit: Duration?, controls: [LDAPRequestControl]
    ) async throws -> LDAPSearchResult
    func compare(dn: String, attribute: String, value: [UInt8], controls: [LDAPRequestControl]) async throws -> Bool
    func add(dn: String, attributes: [LDAPAttribute], controls: [LDAPRequestControl]) async throws -> LDAPResult
    func modify(dn: String, _ modifications: [LDAPModification], controls: [LDAPRequestControl]) async throws -> LDAPResult
    func delete(dn: String, controls: [LDAPRequestControl]) async throws -> LDAPResult
    func rename(dn: String, newRDN: String, deleteOldRDN: Bool, newSuperior: String?, controls: [LDAPRequestControl]) async throws -> LDAPResult
    func whoAmI() async throws -> String
    func passwordModify(userDN: String?, oldPassword: String?, newPassword: String?, controls: [LDAPRequestControl]) async throws -> String?
    /// A requirement (with a default) so a pool can pin a listing to one connection: slapd's
    /// paging cookie is only valid on the connection that issued it.
    func pagedSearch(
        base: String, scope: LDAPSearchScope, filter: String, attributes: [String], pageSize: Int, controls: [LDAPRequestControl]
    ) -> LDAPPagedSearch
}

extension LDAPOperations {
    public func search(
        base: String, scope: LDAPSearchScope = .subtree, filter: String = "(objectClass=*)",
        attributes: [String] = [], sizeLimit: Int = 0
    ) async throws -> LDAPSearchResult {
        try await search(base: base, scope: scope, filter: filter, attributes: attributes, sizeLimit: sizeLimit, timeLimit: nil, controls: [])
    }

    /// RFC 2696 paged results as an async sequence of entries.
    public func pagedSearch(
        base: String, scope: LDAPSearchScope = .subtree, filter: String = "(objectClass=*)",
        attributes: [String] = [], pageSize: Int = 500, controls: [LDAPRequestControl] = []
    ) -> LDAPPagedSearch {
        LDAPPagedSearch(operations: self, base: base, scope: scope, filter: filter, attributes: attributes, pageSize: pageSize, controls: controls)
    }

    /// The first entry the search returns, or nil.
    public func entry(_ dn: String, attributes: [String] = []) async throws -> LDAPEntry? {
        do {
            return try await search(base: dn, scope: .base, attributes: attributes).entries.first
        } catch let error as LDAPError where error.code == .noSuchObject {
            return nil
        }
    }

    /// Deletes an entry and everything below it, deepest entries first. slapd does not implement
    /// the Tree Delete control, so this walks the subtree; each level's deletes are pipelined.
    /// ManageDsaIT makes referral objects ordinary entries here, so they are deleted too.
    public func deleteSubtree(dn: String) async throws {
        var byDepth: [Int: [String]] = [:]
        for try await entry in pagedSearch(base: dn, scope: .subtree, attributes: ["1.1"], pageSize: 1000, controls: [.manageDsaIT]) {
            byDepth[DNDepth.count(entry.dn), default: []].append(entry.dn)
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

/// Counts a DN's RDNs, honouring `\,` escapes; only used to order subtree deletes.
enum DNDepth {
    static func count(_ dn: String) -> Int {
        var depth = dn.isEmpty ? 0 : 1
        var escaped = false
        for byte in dn.utf8 {
            if escaped { escaped = false; continue }
            if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: ",") { depth += 1 }
        }
        return depth
    }
}

/// An async sequence over a paged search. One page is fetched ahead of the consumer, so a
/// listing of any size holds at most two pages in memory.
public struct LDAPPagedSearch: AsyncSequence, Sendable {
    public typealias Element = LDAPEntry
    let operations: any LDAPOperations
    let base: String
    let scope: LDAPSearchScope
    let filter: String
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
