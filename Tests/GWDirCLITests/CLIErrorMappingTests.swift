import Directory
import LDAPClient
import Testing
@testable import gwdir

/// Every domain code's exit code, and every LDAP result code's through the domain mapping
/// (`DirectoryErrorMappingTests` holds the LDAP → domain rows).
@Suite struct CLIErrorMappingTests {
    @Test func everyDomainCodeHasAnExitCode() {
        let expected: [(DirectoryError.Code, gwdir.ExitStatus)] = [
            (.invalidArgument, .usage), (.notFound, .notFound), (.alreadyExists, .conflict),
            (.addressInUse, .conflict), (.limitReached, .conflict), (.notEmpty, .conflict),
            (.notAllowed, .conflict), (.permissionDenied, .permissionDenied),
            (.invalidCredentials, .permissionDenied), (.unavailable, .unavailable), (.failed, .failure),
        ]
        #expect(expected.map(\.0) == DirectoryError.Code.all)
        for (code, status) in expected {
            #expect(gwdir.ExitStatus(code) == status, "\(code)")
            #expect(CLIError(DirectoryError(code, "x")).status == status, "\(code)")
        }
    }

    /// A bare LDAPError and one wrapped by the Directory layer exit alike (a timeout included).
    @Test(arguments: LDAPError.Code.allKnown)
    func anLDAPErrorExitsAsItsDomainCode(_ code: LDAPError.Code) {
        let error = LDAPError(code: code, operation: .modify)
        let status = gwdir.ExitStatus(DirectoryError.Code(code))
        #expect(CLIError(error).status == status)
        #expect(CLIError(DirectoryError.ldap(error, "changing x")).status == status)
    }
}
