import Foundation
import GeoIP
import LDAPClient

/// One `gwLoginEvent` entry as read back: a single login, or a run of folded mail-protocol
/// logins with its first and last time and count.
public struct AuditEntry: Sendable, Hashable {
    public var dn: DistinguishedName
    public var eventID: String
    public var accountDN: DistinguishedName?
    public var accountUUID: String?
    public var loginName: String
    /// nil when the stored code is not one this version knows; `typeCode` keeps it.
    public var type: LoginType?
    public var typeCode: String
    public var client: String?
    public var ip: String?
    /// ISO 3166 code, or `unknown`.
    public var country: String
    public var result: LoginResult?
    public var reason: LoginFailureReason?
    public var reasonCode: String?
    public var firstTime: Date?
    public var lastTime: Date?
    public var count: Int
    public var workspaceDN: DistinguishedName?

    /// The attributes a listing reads.
    public static let attributes = [
        AttributeName.eventId, AttributeName.accountRef, AttributeName.accountUUID, AttributeName.loginName, AttributeName.loginType, AttributeName.loginClient, AttributeName.clientIP,
        AttributeName.country, AttributeName.loginResult, AttributeName.failureReason, AttributeName.firstTime, AttributeName.lastTime, AttributeName.eventCount, AttributeName.workspaceRef,
    ]

    public init(_ entry: LDAPEntry) throws {
        dn = try entry.distinguishedName
        eventID = entry.string(AttributeName.eventId) ?? ""
        accountDN = try Self.reference(entry, AttributeName.accountRef, of: dn)
        accountUUID = entry.string(AttributeName.accountUUID)
        loginName = entry.string(AttributeName.loginName) ?? ""
        typeCode = entry.string(AttributeName.loginType) ?? ""
        type = LoginType(rawValue: typeCode.lowercased())
        client = entry.string(AttributeName.loginClient)
        ip = entry.string(AttributeName.clientIP)
        country = entry.string(AttributeName.country) ?? AuditLog.unknownCountry
        result = entry.string(AttributeName.loginResult).flatMap { LoginResult(rawValue: $0.lowercased()) }
        reasonCode = entry.string(AttributeName.failureReason)
        reason = reasonCode.flatMap { LoginFailureReason(rawValue: $0.lowercased()) }
        firstTime = entry.string(AttributeName.firstTime).flatMap(GeneralizedTime.parse)
        lastTime = entry.string(AttributeName.lastTime).flatMap(GeneralizedTime.parse)
        count = entry.string(AttributeName.eventCount).flatMap { Int($0) } ?? 1
        workspaceDN = try Self.reference(entry, AttributeName.workspaceRef, of: dn)
    }

    /// A DN-valued attribute of the entry, parsed; a value that does not parse is an error,
    /// never taken as absent.
    private static func reference(_ entry: LDAPEntry, _ attribute: String, of dn: DistinguishedName) throws -> DistinguishedName? {
        guard let value = entry.string(attribute) else { return nil }
        do {
            return try DistinguishedName(value)
        } catch {
            throw DirectoryError(.failed, "the audit entry \(dn) has an unreadable \(attribute) \(String(reflecting: value))")
        }
    }

    /// Newest first (by last time, then first time), ties broken by DN so the order is stable.
    public static func newestFirst(_ a: AuditEntry, _ b: AuditEntry) -> Bool {
        let aLast = a.lastTime ?? .distantPast, bLast = b.lastTime ?? .distantPast
        if aLast != bLast { return aLast > bLast }
        let aFirst = a.firstTime ?? .distantPast, bFirst = b.firstTime ?? .distantPast
        if aFirst != bFirst { return aFirst > bFirst }
        return a.dn.description < b.dn.description
    }
}

/// The pure parts of the audit log: entry attributes, filters and times.
enum AuditRecords {
    /// LDAP keeps whole seconds; folding compares what is stored, so events are cut to them first.
    static func wholeSecond(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    /// A random event id, its time first so ids sort roughly by creation when listed raw.
    /// `20300101000000-1f3a…`: the time (for a reader) and a number that makes it unique.
    static func eventID(time: Date, number: UInt64) -> String {
        var stamp = GeneralizedTime.format(time)
        stamp.removeLast()
        let digits = Swift.max(1, (64 - number.leadingZeroBitCount + 3) / 4)
        // Built in place: one allocation for the id.
        return stamp.withUTF8 { stamp in
            String(unsafeUninitializedCapacity: stamp.count + 1 + digits) { bytes in
                _ = bytes.initialize(fromContentsOf: stamp)
                bytes[stamp.count] = UInt8(ascii: "-")
                var rest = number
                for index in stride(from: stamp.count + digits, to: stamp.count, by: -1) {
                    let nibble = UInt8(truncatingIfNeeded: rest & 0xF)
                    bytes[index] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                    rest >>= 4
                }
                return stamp.count + 1 + digits
            }
        }
    }

    /// SplitMix64's finaliser: a bijection on UInt64, so distinct inputs give distinct ids.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The workspace an account's mailbox lives in: the `o=` ancestor of its DN below
    /// `ou=workspaces` (where `gwHomeWorkspace` points), found without a read.
    static func homeWorkspace(of accountDN: DistinguishedName?, layout: DirectoryLayout) -> DistinguishedName? {
        guard let dn = accountDN, dn.isDescendant(of: layout.workspaces) else { return nil }
        // The RDN right below ou=workspaces, with everything above it, as the account DN spells it.
        let depth = layout.workspaces.rdns.count + 1
        guard dn.rdns.count > depth, let top = dn.rdns.dropLast(depth - 1).last, top.type.lowercased() == "o" else { return nil }
        return DistinguishedName(rdns: Array(dn.rdns.suffix(depth)))
    }

    /// The attributes of a new `gwLoginEvent` holding one event.
    static func attributes(for event: LoginEvent, id: String, country: String, layout: DirectoryLayout) -> [LDAPAttribute] {
        attributes(for: event, id: id, country: country, workspace: homeWorkspace(of: event.accountDN, layout: layout)?.description)
    }

    /// `count` events from `event.time` to `lastTime` (a merged run; one event by default).
    static func attributes(for event: LoginEvent, id: String, country: String, workspace: String?, count: Int = 1, lastTime: Date? = nil) -> [LDAPAttribute] {
        let first = min(event.time, lastTime ?? event.time), last = max(event.time, lastTime ?? event.time)
        var attributes: [LDAPAttribute] = []
        attributes.reserveCapacity(14)
        attributes.append(LDAPAttribute("objectClass", ObjectClassName.loginEvent))
        attributes.append(LDAPAttribute(AttributeName.eventId, id))
        if let dn = event.accountDN { attributes.append(LDAPAttribute(AttributeName.accountRef, dn.description)) }
        if !event.loginName.isEmpty { attributes.append(LDAPAttribute(AttributeName.loginName, event.loginName)) }
        attributes.append(LDAPAttribute(AttributeName.loginType, event.type.rawValue))
        if !event.client.isEmpty { attributes.append(LDAPAttribute(AttributeName.loginClient, event.client)) }
        if let ip = event.ip { attributes.append(LDAPAttribute(AttributeName.clientIP, ip.description)) }
        attributes.append(LDAPAttribute(AttributeName.country, country))
        attributes.append(LDAPAttribute(AttributeName.loginResult, event.result.rawValue))
        if let reason = event.reason { attributes.append(LDAPAttribute(AttributeName.failureReason, reason.rawValue)) }
        attributes.append(LDAPAttribute(AttributeName.firstTime, GeneralizedTime.format(first)))
        attributes.append(LDAPAttribute(AttributeName.lastTime, GeneralizedTime.format(last)))
        attributes.append(LDAPAttribute(AttributeName.eventCount, String(count)))
        if let workspace { attributes.append(LDAPAttribute(AttributeName.workspaceRef, workspace)) }
        return attributes
    }

    /// `text.lowercased()`, returning `text` itself (no new string) when it has no capitals:
    /// account DNs usually have none, and this runs for every recorded login.
    static func lowercased(_ text: String) -> String {
        text.utf8.contains { $0 >= 0x80 || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) } ? text.lowercased() : text
    }

    /// Whose timeline an event belongs to (the folding key's account, for every login type).
    static func account(of event: LoginEvent) -> AuditFoldingKey.Account {
        event.accountDN.map { .dn(lowercased($0.description)) } ?? .loginName(lowercased(event.loginName))
    }

    /// The account's entries still close enough to fold into (indexed: gwAccountRef or
    /// gwLoginName, gwLastTime).
    static func foldCandidatesFilter(for event: LoginEvent, since: Date) -> LDAPFilter {
        let who: LDAPFilter = event.accountDN.map { .equal("gwAccountRef", $0.description) }
            ?? .and([.equal("gwLoginName", event.loginName), .not(.present("gwAccountRef"))])
        return .and([
            .equal("objectClass", "gwLoginEvent"), who,
            .greaterOrEqual("gwLastTime", GeneralizedTime.format(since)),
        ])
    }

    /// The summary of a candidate for `event`'s account; the server matched the account, so
    /// only protocol, IP, result and reason are read from the entry.
    static func summary(of entry: LDAPEntry, account: AuditFoldingKey.Account) -> AuditEntrySummary? {
        guard let first = entry.string(AttributeName.firstTime).flatMap(GeneralizedTime.parse),
              let last = entry.string(AttributeName.lastTime).flatMap(GeneralizedTime.parse)
        else { return nil }
        var key: AuditFoldingKey?
        if let type = entry.string(AttributeName.loginType).flatMap({ LoginType(rawValue: $0.lowercased()) }), type.isMailProtocol,
           let result = entry.string(AttributeName.loginResult).flatMap({ LoginResult(rawValue: $0.lowercased()) }) {
            let reasonCode = entry.string(AttributeName.failureReason)
            let reason = reasonCode.flatMap { LoginFailureReason(rawValue: $0.lowercased()) }
            // An unknown reason code never equals a new event's key: it stays its own entry.
            if reasonCode == nil || reason != nil {
                key = AuditFoldingKey(account: account, type: type, ip: entry.string(AttributeName.clientIP).flatMap(IPAddress.init),
                                      result: result, reason: reason)
            }
        }
        return AuditEntrySummary(key: key, firstTime: first, lastTime: last)
    }

    /// `gwdir audit list` and the API: every condition is an indexed attribute; an entry is in
    /// the period when its span [first, last] overlaps [since, until].
    static func listFilter(
        account: DistinguishedName?, loginName: String?, type: LoginType?, result: LoginResult?, since: Date?, until: Date?
    ) -> LDAPFilter {
        var parts: [LDAPFilter] = [.equal("objectClass", "gwLoginEvent")]
        if let account { parts.append(.equal("gwAccountRef", account.description)) }
        if let loginName { parts.append(.equal("gwLoginName", loginName)) }
        if let type { parts.append(.equal("gwLoginType", type.rawValue)) }
        if let result { parts.append(.equal("gwLoginResult", result.rawValue)) }
        if let since { parts.append(.greaterOrEqual("gwLastTime", GeneralizedTime.format(wholeSecond(since)))) }
        if let until { parts.append(.lessOrEqual("gwFirstTime", GeneralizedTime.format(until))) }
        return .and(parts)
    }

    /// Entries whose last time is before the retention cutoff. Times are whole seconds, so
    /// "before the cutoff" is "at most the last whole second before it".
    static func expiredFilter(cutoff: Date) -> LDAPFilter {
        var threshold = wholeSecond(cutoff)
        if threshold == cutoff { threshold.addTimeInterval(-1) }
        return .and([.equal("objectClass", "gwLoginEvent"), .lessOrEqual("gwLastTime", GeneralizedTime.format(threshold))])
    }

    /// IP block entries neither blocking nor counting since before the cutoff: whatever the
    /// block policy's window (always far shorter than the retention), they are stale.
    static func staleIPBlocksFilter(cutoff: Date) -> LDAPFilter {
        let time = GeneralizedTime.format(cutoff)
        return .and([
            .equal("objectClass", "gwIPBlock"),
            .not(.greaterOrEqual("gwBlockedUntil", time)),
            .not(.greaterOrEqual("gwWindowStart", time)),
        ])
    }
}

extension IPAddress {
    /// Network byte order: 4 bytes for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let address):
            return withUnsafeBytes(of: address.value.bigEndian, Array.init)
        case .v6(let address):
            return withUnsafeBytes(of: address.high.bigEndian, Array.init) + withUnsafeBytes(of: address.low.bigEndian, Array.init)
        }
    }
}

extension GeoIPDatabase {
    /// The ISO 3166 code of an address's country, or nil when the database does not know it.
    public func country(for address: IPAddress) -> String? {
        country(forAddressBytes: address.bytes)
    }
}
