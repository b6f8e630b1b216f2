import Foundation
import LDAPClient
import LocalSlapd
import Testing
import TestSupport

/// StartTLS and ldaps:// against a CA and server certificate generated for the test.
@Suite(.serialized) struct TLSTests {
    struct Certificates {
        let directory: URL
        var caCertificate: String { directory.appendingPathComponent("ca.crt").path }
        var otherCACertificate: String { directory.appendingPathComponent("other-ca.crt").path }
        var serverCertificate: String { directory.appendingPathComponent("server.crt").path }
        var serverKey: String { directory.appendingPathComponent("server.key").path }
    }

    /// A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA.
    static func makeCertificates() throws -> Certificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = Certificates(directory: directory)
        let openssl = "/usr/bin/openssl"
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        for ca in ["ca", "other-ca"] {
            try SlapdInstance.run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(ca).key"), "-out", path("\(ca).crt"), "-days", "2", "-subj", "/CN=gwdir test \(ca)"])
        }
        try SlapdInstance.run(openssl, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=127.0.0.1"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: path("san.ext"), atomically: true, encoding: .utf8)
        try SlapdInstance.run(openssl, ["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-CAcreateserial", "-out", path("server.crt"), "-days", "2", "-extfile", path("san.ext")])
        return certificates
    }

    static let server: Result<(SlapdInstance, Certificates, Int), any Error> = Result {
        let certificates = try makeCertificates()
        let ldapsPort = try SlapdInstance.freeLoopbackPort()
        let slapd = try SlapdInstance.startTemporary(
            seed: SlapdInstance.baseEntriesLDIF(baseDN: TestSlapd.baseDN),
            configurationChanges: ["""
            dn: cn=config
            changetype: modify
            replace: olcTLSCACertificateFile
            olcTLSCACertificateFile: \(certificates.caCertificate)
            -
            replace: olcTLSCertificateFile
            olcTLSCertificateFile: \(certificates.serverCertificate)
            -
            replace: olcTLSCertificateKeyFile
            olcTLSCertificateKeyFile: \(certificates.serverKey)
            """],
            ldapsPort: ldapsPort
        )
        TestSlapd.stopAtExit(slapd)
        return (slapd, certificates, ldapsPort)
    }

    private func root(_ slapd: SlapdInstance) -> LDAPCredentials {
        .simple(dn: slapd.rootDN, password: slapd.rootPassword)
    }

    @Test func startTLSWithTheRightCA() async throws {
        let (slapd, certificates, _) = try Self.server.get()
        let connection = try await LDAPConnection.connect(configuration: LDAPConfiguration(
            uri: slapd.uri, credentials: root(slapd), tls: .init(startTLS: true, caCertificateFile: certificates.caCertificate)
        ))
        #expect(try await connection.whoAmI() == "dn:\(slapd.rootDN)")
    }

    @Test func ldapsWithTheRightCA() async throws {
        let (slapd, certificates, ldapsPort) = try Self.server.get()
        let connection = try await LDAPConnection.connect(configuration: LDAPConfiguration(
            uri: "ldaps://127.0.0.1:\(ldapsPort)", credentials: root(slapd), tls: .init(caCertificateFile: certificates.caCertificate)
        ))
        #expect(try await connection.whoAmI() == "dn:\(slapd.rootDN)")
    }

    @Test func wrongCAIsRefusedWhileAnotherConnectionKeepsItsOwnCA() async throws {
        let (slapd, certificates, ldapsPort) = try Self.server.get()
        let refused = await #expect(throws: LDAPError.self) {
            _ = try await LDAPConnection.connect(configuration: LDAPConfiguration(
                uri: slapd.uri, credentials: root(slapd), tls: .init(startTLS: true, caCertificateFile: certificates.otherCACertificate)
            ))
        }
        #expect(refused?.operation == .connect)
        await #expect(throws: LDAPError.self) {
            _ = try await LDAPConnection.connect(configuration: LDAPConfiguration(
                uri: "ldaps://127.0.0.1:\(ldapsPort)", credentials: root(slapd), tls: .init(caCertificateFile: certificates.otherCACertificate)
            ))
        }
        // Settings are per connection: the right CA still works in the same process afterwards.
        let good = try await LDAPConnection.connect(configuration: LDAPConfiguration(
            uri: slapd.uri, credentials: root(slapd), tls: .init(startTLS: true, caCertificateFile: certificates.caCertificate)
        ))
        #expect(try await good.whoAmI() == "dn:\(slapd.rootDN)")
    }
}
