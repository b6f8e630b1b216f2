import CLDAP

/// Waits for the single result message of a non-search operation.
final class ResultOperation<Value: Sendable>: PendingOperation {
    typealias Decode = (ConnectionCore, OpaquePointer, OpaquePointer) -> Result<Value, LDAPError>
    private let continuation: UnsafeContinuation<Value, any Error>
    private let decode: Decode

    init(_ continuation: UnsafeContinuation<Value, any Error>, decode: @escaping Decode) {
        self.continuation = continuation
        self.decode = decode
    }

    func receive(_ message: OpaquePointer, type: Int32, core: ConnectionCore) -> Bool {
        // Intermediate responses (RFC 4511 §4.13) precede the final one.
        if type == MessageType.intermediate { return false }
        guard let ld = core.handle else { return false }
        continuation.resume(with: decode(core, ld, message).mapError { $0 as any Error })
        return true
    }

    func fail(_ error: any Error) {
        continuation.resume(throwing: error)
    }
}

/// Collects the entries and references of one search (or one page of a paged search).
final class SearchOperation: PendingOperation {
    private let continuation: UnsafeContinuation<LDAPSearchResult, any Error>
    private let base: String
    private var entries: [LDAPEntry] = []
    private var references: [String] = []

    init(_ continuation: UnsafeContinuation<LDAPSearchResult, any Error>, base: String) {
        self.continuation = continuation
        self.base = base
    }

    func receive(_ message: OpaquePointer, type: Int32, core: ConnectionCore) -> Bool {
        guard let ld = core.handle else { return false }
        switch type {
        case MessageType.searchEntry:
            entries.append(core.decodeEntry(ld, message))
            return false
        case MessageType.searchReference:
            var referrals: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
            if ldap_parse_reference(ld, message, &referrals, nil, 0) == LDAP_SUCCESS, let referrals {
                var index = 0
                while let referral = referrals[index] {
                    references.append(String(cString: referral))
                    index += 1
                }
                ber_memvfree(UnsafeMutableRawPointer(referrals).assumingMemoryBound(to: UnsafeMutableRawPointer?.self))
            }
            return false
        case MessageType.searchResult:
            let result = core.decodeResult(ld, message)
            if let cookie = result.pageCookie, !cookie.isEmpty, LDAPPagedSearch.isFinalCookie(cookie) {
                core.pagedResultsStateIsStale = true
            }
            if result.code == LDAP_SUCCESS {
                continuation.resume(returning: LDAPSearchResult(
                    entries: entries, referrals: references + result.referrals,
                    controls: result.controls, pagedResultsCookie: result.pageCookie
                ))
            } else {
                continuation.resume(throwing: result.error(.search, dn: base))
            }
            return true
        default:
            return false
        }
    }

    func fail(_ error: any Error) {
        continuation.resume(throwing: error)
    }
}
