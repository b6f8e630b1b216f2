import Foundation
import LDAPClient
import LocalSlapd

/// One throwaway slapd per test process, started on first use and stopped at exit. Tests keep
/// out of each other's way by working under a subtree of their own (`TestSlapd.scratch`).
public enum TestSlapd {
    public static let baseDN = "dc=example,dc=com"

    private static let started: Result<SlapdInstance, SlapdError> = {
        do {
            let instance = try SlapdInstance.startTemporary(baseDN: baseDN, seed: SlapdInstance.baseEntriesLDIF(baseDN: baseDN))
            stopAtExit(instance)
            return .success(instance)
        } catch let error as SlapdError {
            return .failure(error)
        } catch {
            return .failure(SlapdError(String(describing: error)))
        }
    }()

    public static func shared() throws -> SlapdInstance {
        try started.get()
    }

    /// A connection bound as the root DN of the shared server.
    public static func rootConnection() throws -> LDAPConnection {
        let slapd = try shared()
        return LDAPConnection(configuration: LDAPConfiguration(
            uri: slapd.uri, credentials: .simple(dn: slapd.rootDN, password: slapd.rootPassword)
        ))
    }

    /// Creates `ou=<unique name>` under the base for one test and returns its DN.
    public static func scratch(_ connection: LDAPConnection, _ label: String = "t") async throws -> DistinguishedName {
        let name = "\(label)-\(UUID().uuidString.prefix(8))"
        let dn = try DistinguishedName(baseDN).child(type: "ou", value: name)
        try await connection.add(dn: dn, attributes: [
            LDAPAttribute("objectClass", ["organizationalUnit"]),
            LDAPAttribute("ou", name),
        ])
        return dn
    }

    /// Registers a server to be stopped when the test process exits normally.
    public static func stopAtExit(_ instance: SlapdInstance) {
        registry.withLock { $0.append(instance) }
        _ = installExitHandler
    }

    private static let registry = LockedInstances()
    private static let installExitHandler: Void = {
        atexit {
            for instance in TestSlapd.registry.withLock({ $0 }) { instance.destroy() }
        }
    }()
}

final class LockedInstances: @unchecked Sendable {
    private let lock = NSLock()
    private var instances: [SlapdInstance] = []
    func withLock<T>(_ body: (inout [SlapdInstance]) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&instances)
    }
}

extension SlapdError {
    init(_ text: String) { self.init(description: text) }
}
