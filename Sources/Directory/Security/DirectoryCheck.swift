import Foundation
import LDAPClient

/// Reads the tree below `ou=workspaces` and checks it with ``DirectoryInvariants`` (`gwdir
/// check`). Run it as the gwdir service or root: an identity that can not read every entry
/// sees a partial tree, and then misses violations or reports members it can not see.
///
/// Only alias counters are repaired (``repairAliasCounts(workspace:)``): their right value is
/// a fact of the tree. Every other violation needs a human decision — which of two entries keeps
/// an address or a login id, whether a foreign admin or a planted entry is an attack or a
/// mistake, what a wrong home workspace should be — so those are reported, never changed.
public struct DirectoryCheck: Sendable {
    public let context: DirectoryContext
    public var options: DirectoryInvariants.Options
    /// Entries per page of the snapshot's paged search.
    public var pageSize = 1000
    /// A counter above the number of aliases is normal for the moment an alias add or remove is
    /// in flight (the service moves the counter first on add, last on remove), so such a counter
    /// is repaired only when the account has not been modified for this long.
    public var settleTime: TimeInterval = 60

    public init(_ context: DirectoryContext, requireLoginKey: Bool = false) {
        self.context = context
        self.options = DirectoryInvariants.Options(requireLoginKey: requireLoginKey)
    }

    /// Every violation; with `workspace`, those on that workspace and the entries below it.
    public func run(workspace: String? = nil) async throws -> [Violation] {
        var options = self.options
        let entries = try await snapshot()
        if let workspace {
            let dn = try context.layout.workspace(workspace)
            guard entries.contains(where: { DirectoryInvariants.key($0.dn) == DirectoryInvariants.key(dn) }) else {
                throw DirectoryError(.notFound, "no workspace \(workspace)")
            }
            options.scope = dn
        }
        return DirectoryInvariants.check(entries, layout: context.layout, options: options)
    }

    /// The tree below `ou=workspaces` in one paged subtree search. ManageDsaIT returns referral
    /// objects as entries (otherwise slapd answers them as continuation references and the
    /// check would never see them).
    public func snapshot() async throws -> [SnapshotEntry] {
        var entries: [SnapshotEntry] = []
        do {
            for try await entry in context.ldap.pagedSearch(
                base: context.layout.workspaces, scope: .subtree, filter: .present("objectClass"),
                attributes: DirectoryInvariants.attributes, pageSize: pageSize, controls: [.manageDsaIT]
            ) {
                entries.append(try SnapshotEntry(entry))
            }
        } catch let error as LDAPError where error.code == .noSuchObject {
            return []
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "reading the directory for the check")
        }
        return entries
    }

    /// What ``repairAliasCounts(workspace:)`` did with one account whose counter was wrong.
    public struct AliasCountRepair: Sendable, Hashable {
        public enum Outcome: String, Sendable {
            /// `gwAliasCount` now equals the number of aliases.
            case repaired
            /// The counter changed between the read and the write (an alias add or remove ran
            /// meanwhile); nothing was written. Check again.
            case changedMeanwhile = "changed_meanwhile"
            /// The counter is too high and the account changed within ``DirectoryCheck/settleTime``:
            /// possibly an alias add in flight; nothing was written.
            case recentlyModified = "recently_modified"
            /// More aliases than the cap: a counter of that value is refused by slapd, and which
            /// aliases go is an admin's decision.
            case overCap = "over_cap"
        }

        public var dn: String
        /// The counter before (nil: the account had none).
        public var previous: String?
        /// The number of alias entries below the account.
        public var aliases: Int
        public var outcome: Outcome

        public init(dn: String, previous: String?, aliases: Int, outcome: Outcome) {
            self.dn = dn
            self.previous = previous
            self.aliases = aliases
            self.outcome = outcome
        }
    }

    /// Sets `gwAliasCount` to the number of alias entries wherever the check reports
    /// `alias_count_mismatch`. Each account is re-read just before its write, and the write
    /// asserts the counter it read, so an alias add or remove that runs meanwhile (both move the
    /// counter under their own assertions) fails this write instead of being clobbered.
    public func repairAliasCounts(workspace: String? = nil) async throws -> [AliasCountRepair] {
        let wrong = try await run(workspace: workspace).filter { $0.kind == .aliasCountMismatch }
        var repairs: [AliasCountRepair] = []
        for violation in wrong {
            // The violation's DN came from slapd's own entry: a parse failure is a bug to report.
            let dn = try DistinguishedName(violation.dn)
            guard let account = try await context.read(dn, attributes: [AttributeName.aliasCount, "modifyTimestamp"], doing: "reading \(dn)") else { continue }
            let aliases = try await context.search(dn, .oneLevel, .equal("objectClass", "gwMailAlias"), attributes: ["1.1"],
                                                   doing: "counting the aliases of \(dn)").count
            let counts = account.strings(AttributeName.aliasCount)
            if counts == [String(aliases)] { continue }
            var repair = AliasCountRepair(dn: violation.dn, previous: counts.first, aliases: aliases, outcome: .repaired)
            if aliases > AliasService.maximumPerAccount {
                repair.outcome = .overCap
            } else if let count = counts.first.flatMap({ Int($0) }), counts.count == 1, count > aliases,
                      let modified = account.time("modifyTimestamp"), context.now().timeIntervalSince(modified) < settleTime {
                repair.outcome = .recentlyModified
            } else {
                let modification: LDAPModification
                let assertion: LDAPFilter
                switch counts.count {
                case 0: (modification, assertion) = (.add(AttributeName.aliasCount, [String(aliases)]), .not(.present("gwAliasCount")))
                case 1: (modification, assertion) = (.replace(AttributeName.aliasCount, [String(aliases)]), .equal("gwAliasCount", counts[0]))
                default: (modification, assertion) = (.replace(AttributeName.aliasCount, [String(aliases)]), .and(counts.map { .equal("gwAliasCount", $0) }))
                }
                do {
                    try await context.ldap.modify(dn: dn, [modification], controls: [.assertion(assertion)])
                } catch let error as LDAPError where error.code == .assertionFailed || error.code == .attributeOrValueExists {
                    repair.outcome = .changedMeanwhile
                } catch let error as LDAPError {
                    throw DirectoryError.ldap(error, "repairing the alias count of \(dn)")
                }
            }
            repairs.append(repair)
        }
        return repairs
    }
}
