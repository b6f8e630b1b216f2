import Foundation
import LDAPClient

extension IPBlockPolicy {
    /// 10 failures from one address within 10 minutes block it for 30 minutes.
    public static let standard = IPBlockPolicy(maxFailures: 10, window: .seconds(600), blockDuration: .seconds(1800))
}

/// One address's failure bookkeeping as stored in `ou=ipblocks,ou=audit`.
public struct IPBlockEntry: Sendable, Hashable {
    public var dn: DistinguishedName
    public var ip: String
    public var state: IPFailureState
}

/// The IP auto-block (`auto_blocked_ip`): one `gwIPBlock` entry per address under
/// `ou=ipblocks,ou=audit,<base>`, RDN `gwClientIP=<ip>`, written only by the service.
///
/// Counting is race-free without locks: within a window, a failure is an RFC 4525 increment
/// of `gwFailureCount` guarded by an assertion on `gwWindowStart`, so concurrent failures
/// all count; opening a new window replaces the values under the same assertion, so exactly
/// one of several concurrent writers opens it and the others retry into the new window.
public struct IPBlockService: Sendable {
    public var context: DirectoryContext
    public var policy: IPBlockPolicy

    public init(context: DirectoryContext, policy: IPBlockPolicy = .standard) {
        self.context = context
        self.policy = policy
    }

    private static let attributes = ["gwClientIP", "gwFailureCount", "gwWindowStart", "gwBlockedUntil"]

    func dn(_ ip: IPAddress) throws -> DistinguishedName {
        try context.layout.ipBlocks.child(type: "gwClientIP", value: ip.description)
    }

    public func state(of ip: IPAddress) async throws -> IPFailureState? {
        let dn = try dn(ip)
        let entry = try await ldapCall("reading the block state of \(ip)") { try await context.ldap.entry(dn, attributes: Self.attributes) }
        return entry.flatMap { Self.parse($0)?.state }
    }

    public func isBlocked(_ ip: IPAddress, at time: Date? = nil) async throws -> Bool {
        policy.isBlocked(try await state(of: ip), at: time ?? context.now())
    }

    /// Counts a failed login from `ip`; true when the address is blocked afterwards.
    @discardableResult
    public func recordFailure(_ ip: IPAddress, at time: Date? = nil) async throws -> Bool {
        let now = time ?? context.now()
        let dn = try dn(ip)
        let ldap = context.ldap
        for _ in 0..<8 {
            let entry = try await ldapCall("reading the block state of \(ip)") { try await ldap.entry(dn, attributes: Self.attributes) }
            guard let entry, let parsed = Self.parse(entry) else {
                let (next, blocked) = policy.record(failureAt: now, state: nil)
                do {
                    if entry != nil { _ = try await ldap.delete(dn: dn) }
                    try await ldap.add(dn: dn, attributes: [
                        LDAPAttribute("objectClass", ["gwIPBlock"]),
                        LDAPAttribute("gwClientIP", ip.description),
                    ] + Self.values(next).filter { !$0.value.isEmpty }.map { LDAPAttribute($0.key, $0.value) })
                    return blocked
                } catch let error as LDAPError where [.entryAlreadyExists, .noSuchObject].contains(error.code) {
                    continue
                } catch let error as LDAPError {
                    throw DirectoryError.ldap(error, "recording a failed login from \(ip)")
                }
            }
            let (state, windowText) = parsed
            if policy.isBlocked(state, at: now) { return true }
            let (next, blocked) = policy.record(failureAt: now, state: state)
            let sameWindow: LDAPFilter = .equal("gwWindowStart", windowText)
            do {
                if next.windowStart == state.windowStart, next.failureCount == state.failureCount + 1 {
                    let result = try await ldap.modify(
                        dn: dn, [.increment("gwFailureCount", by: 1)],
                        controls: [.assertion(sameWindow), .postRead(["gwFailureCount"])]
                    )
                    let count = result.postReadEntry?.string("gwFailureCount").flatMap { Int($0) } ?? next.failureCount
                    guard count >= policy.maxFailures else { return false }
                    let until = GeneralizedTime.format(now.addingTimeInterval(policy.blockDuration.timeInterval))
                    do {
                        _ = try await ldap.modify(
                            dn: dn, [.replace("gwBlockedUntil", [until])],
                            controls: [.assertion(.and([sameWindow, .not(.present("gwBlockedUntil"))]))]
                        )
                    } catch let error as LDAPError where error.code == .assertionFailed {
                        // Another failure of the same burst set the block already.
                    }
                    return true
                }
                let values = Self.values(next)
                _ = try await ldap.modify(
                    dn: dn, ["gwWindowStart", "gwFailureCount", "gwBlockedUntil"].map { .replace($0, values[$0] ?? []) },
                    controls: [.assertion(sameWindow)]
                )
                return blocked
            } catch let error as LDAPError where [.assertionFailed, .noSuchObject].contains(error.code) {
                continue
            } catch let error as LDAPError {
                throw DirectoryError.ldap(error, "recording a failed login from \(ip)")
            }
        }
        throw DirectoryError(.failed, "recording a failed login from \(ip): too many concurrent updates")
    }

    /// Every address with bookkeeping; `blockedOnly` keeps those blocked at `time`.
    public func list(blockedOnly: Bool = true, at time: Date? = nil) async throws -> [IPBlockEntry] {
        let now = time ?? context.now()
        let result = try await ldapCall("listing IP blocks") {
            try await context.ldap.search(base: context.layout.ipBlocks, scope: .oneLevel, filter: .equal("objectClass", "gwIPBlock"), attributes: Self.attributes)
        }
        return result.entries.compactMap { entry -> IPBlockEntry? in
            guard let dn = try? DistinguishedName(entry.dn), let state = Self.parse(entry)?.state else { return nil }
            guard !blockedOnly || policy.isBlocked(state, at: now) else { return nil }
            return IPBlockEntry(dn: dn, ip: entry.string("gwClientIP") ?? dn.rdn?.value ?? "", state: state)
        }.sorted { $0.ip < $1.ip }
    }

    /// Lifts a block (and forgets the address's failures).
    public func lift(_ ip: IPAddress) async throws {
        let dn = try dn(ip)
        do {
            _ = try await context.ldap.delete(dn: dn)
        } catch let error as LDAPError where error.code == .noSuchObject {
            throw DirectoryError(.notFound, "\(ip) is not blocked and has no recorded failures")
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "lifting the block of \(ip)")
        }
    }

    /// Deletes bookkeeping that neither blocks nor counts any more; returns how many.
    @discardableResult
    public func purgeStale(at time: Date? = nil) async throws -> Int {
        let now = time ?? context.now()
        var removed = 0
        for entry in try await list(blockedOnly: false, at: now) where policy.isStale(entry.state, at: now) {
            do {
                _ = try await context.ldap.delete(dn: entry.dn)
                removed += 1
            } catch let error as LDAPError where error.code == .noSuchObject {}
        }
        return removed
    }

    static func parse(_ entry: LDAPEntry) -> (state: IPFailureState, windowText: String)? {
        guard let windowText = entry.string("gwWindowStart"), let windowStart = GeneralizedTime.parse(windowText) else { return nil }
        let count = entry.string("gwFailureCount").flatMap { Int($0) } ?? 0
        let blockedUntil = entry.string("gwBlockedUntil").flatMap(GeneralizedTime.parse)
        return (IPFailureState(windowStart: windowStart, failureCount: count, blockedUntil: blockedUntil), windowText)
    }

    static func values(_ state: IPFailureState) -> [String: [String]] {
        [
            "gwWindowStart": [GeneralizedTime.format(state.windowStart)],
            "gwFailureCount": [String(state.failureCount)],
            "gwBlockedUntil": state.blockedUntil.map { [GeneralizedTime.format($0)] } ?? [],
        ]
    }
}
