import ArgumentParser
import Foundation
import LDAPClient

/// `gwdir whoami`: binds as the configured identity and prints what slapd sees (RFC 4532), the
/// quickest check that URI, base and credentials are right.
struct WhoAmI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami",
        abstract: "Bind with the configured identity and print its authorization id."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let target = try connection.resolve(.service)
        let identity: String
        do {
            identity = try await Self.identity(target)
        } catch {
            throw target.error(error)
        }
        if output.format == .table {
            print(identity.isEmpty ? "anonymous" : identity)
        } else {
            output.print(.record([
                "uri": .string(target.uriDescription), "base": OutputValue(target.baseDN),
                "authzId": .string(identity),
            ]))
        }
    }

    /// With --as, the admin's own connection answers; without, no base DN is needed.
    private static func identity(_ target: DirectoryTarget) async throws -> String {
        if target.actingAdmin == nil {
            let ldap = try await target.connect()
            defer { ldap.close() }
            return try await ldap.whoAmI()
        }
        let session = try await target.openDirectory()
        defer { session.close() }
        return try await session.context.ldap.whoAmI()
    }
}
