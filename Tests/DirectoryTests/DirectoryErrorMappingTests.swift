import Directory
import LDAPClient
import Testing

/// The reviewed table of every LDAP result code: its domain code, the HTTP status and exit
/// code that follow from it (the exit codes are `CLIErrorMappingTests`'), and the login reason
/// a bind failing with it gets. A new constant in `LDAPError.Code` fails `coversEveryCode`
/// until it has a row here.
@Suite struct DirectoryErrorMappingTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var code: LDAPError.Code
        var domain: DirectoryError.Code
        var http: Int
        var login: LoginFailureReason?
        init(_ code: LDAPError.Code, _ domain: DirectoryError.Code, _ http: Int, _ login: LoginFailureReason?) {
            (self.code, self.domain, self.http, self.login) = (code, domain, http, login)
        }
        var testDescription: String { "\(code.rawValue) \(code) → \(domain)" }
    }

    static let rows: [Row] = [
        Row(.success, .failed, 500, nil),
        Row(.operationsError, .failed, 500, .mailServerError),
        Row(.protocolError, .failed, 500, .mailServerError),
        Row(.timeLimitExceeded, .unavailable, 503, .timeout),
        Row(.sizeLimitExceeded, .limitReached, 422, .cannotProcess),
        Row(.compareFalse, .failed, 500, .mailServerError),
        Row(.compareTrue, .failed, 500, .mailServerError),
        Row(.authMethodNotSupported, .invalidCredentials, 401, .cannotProcess),
        Row(.strongerAuthRequired, .permissionDenied, 403, .cannotProcess),
        Row(.referral, .failed, 500, .mailServerError),
        Row(.adminLimitExceeded, .limitReached, 422, .cannotProcess),
        Row(.unavailableCriticalExtension, .failed, 500, .mailServerError),
        Row(.confidentialityRequired, .permissionDenied, 403, .cannotProcess),
        Row(.saslBindInProgress, .failed, 500, .mailServerError),
        Row(.noSuchAttribute, .notFound, 404, .cannotProcess),
        Row(.undefinedAttributeType, .invalidArgument, 400, .cannotProcess),
        Row(.inappropriateMatching, .invalidArgument, 400, .cannotProcess),
        Row(.constraintViolation, .alreadyExists, 409, .cannotProcess),
        Row(.attributeOrValueExists, .alreadyExists, 409, .cannotProcess),
        Row(.invalidAttributeSyntax, .invalidArgument, 400, .cannotProcess),
        Row(.noSuchObject, .notFound, 404, .unauthorizedUser),
        Row(.invalidDNSyntax, .invalidArgument, 400, .cannotProcess),
        Row(.inappropriateAuthentication, .invalidCredentials, 401, .cannotProcess),
        Row(.invalidCredentials, .invalidCredentials, 401, .wrongPassword),
        Row(.insufficientAccessRights, .permissionDenied, 403, .cannotProcess),
        Row(.busy, .unavailable, 503, .mailServerError),
        Row(.unavailable, .unavailable, 503, .mailServerError),
        Row(.unwillingToPerform, .notAllowed, 422, .cannotProcess),
        Row(.namingViolation, .invalidArgument, 400, .cannotProcess),
        Row(.objectClassViolation, .invalidArgument, 400, .cannotProcess),
        Row(.notAllowedOnNonLeaf, .notEmpty, 409, .cannotProcess),
        Row(.notAllowedOnRDN, .notAllowed, 422, .cannotProcess),
        Row(.entryAlreadyExists, .alreadyExists, 409, .cannotProcess),
        Row(.objectClassModsProhibited, .notAllowed, 422, .cannotProcess),
        Row(.other, .failed, 500, .mailServerError),
        Row(.cancelled, .failed, 500, .mailServerError),
        Row(.assertionFailed, .alreadyExists, 409, .cannotProcess),
        Row(.serverDown, .unavailable, 503, .mailServerError),
        Row(.localError, .failed, 500, .mailServerError),
        Row(.encodingError, .failed, 500, .mailServerError),
        Row(.decodingError, .failed, 500, .mailServerError),
        Row(.timeout, .unavailable, 503, .timeout),
        Row(.authUnknown, .failed, 500, .mailServerError),
        Row(.filterError, .invalidArgument, 400, .cannotProcess),
        Row(.paramError, .invalidArgument, 400, .cannotProcess),
        Row(.noMemory, .failed, 500, .mailServerError),
        Row(.connectError, .unavailable, 503, .mailServerError),
        Row(.notSupported, .failed, 500, .mailServerError),
        Row(.controlNotFound, .failed, 500, .mailServerError),
    ]

    @Test func coversEveryCode() {
        #expect(LDAPError.Code.allKnown.count == 49)
        #expect(Set(LDAPError.Code.allKnown).count == LDAPError.Code.allKnown.count)
        #expect(Self.rows.map(\.code) == LDAPError.Code.allKnown)
    }

    @Test(arguments: rows)
    func mapsEveryCode(_ row: Row) {
        let domain = DirectoryError.Code(row.code)
        #expect(domain == row.domain)
        #expect(domain.httpStatus == row.http)
        #expect(LDAPBindReasonMapper.reason(row.code, passwordPolicy: nil) == row.login)
        // DirectoryError.ldap classifies by the same mapping.
        #expect(DirectoryError.ldap(LDAPError(code: row.code, operation: .modify), "changing x").code == row.domain)
    }

    @Test func unknownCodesAreFailures() {
        #expect(DirectoryError.Code(LDAPError.Code(rawValue: 4242)) == .failed)
        #expect(DirectoryError.Code.failed.httpStatus == 500)
    }

    @Test func everyDomainCodeHasAnHTTPStatus() {
        let statuses = DirectoryError.Code.all.map { ($0, $0.httpStatus) }
        #expect(statuses.map(\.1) == [400, 404, 409, 409, 422, 409, 422, 403, 401, 503, 500])
    }
}
