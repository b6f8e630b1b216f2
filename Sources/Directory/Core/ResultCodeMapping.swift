import LDAPClient

/// The one classification of LDAP result codes. `DirectoryError.ldap`, the CLI's exit codes,
/// the HTTP statuses of `gwdir serve` and `LDAPBindReasonMapper` all derive from it, so a code
/// is never a permission error in one layer and a usage error in another.
/// `DirectoryErrorMappingTests` holds the reviewed row of every code of `LDAPError.Code.allKnown`.
extension DirectoryError.Code {
    /// The domain code of an LDAP result code. Codes a server invents map to `.failed`.
    public init(_ code: LDAPError.Code) {
        switch code {
        // The connection, or a server too busy or too slow to answer: try again later.
        case .serverDown, .connectError, .timeout, .timeLimitExceeded, .busy, .unavailable:
            self = .unavailable
        // ACLs, or a transport the identity may not use.
        case .insufficientAccessRights, .strongerAuthRequired, .confidentialityRequired:
            self = .permissionDenied
        case .invalidCredentials, .inappropriateAuthentication, .authMethodNotSupported:
            self = .invalidCredentials
        // noSuchAttribute: the value to delete is not there (an alias already removed).
        case .noSuchObject, .noSuchAttribute:
            self = .notFound
        // The slapd unique overlay answers constraintViolation; an assertion that no longer
        // holds is a concurrent change. All are "something already there is in the way".
        case .entryAlreadyExists, .attributeOrValueExists, .constraintViolation, .assertionFailed:
            self = .alreadyExists
        // The request does not fit the schema or the syntax: the input was wrong.
        case .invalidDNSyntax, .invalidAttributeSyntax, .undefinedAttributeType, .inappropriateMatching,
             .namingViolation, .objectClassViolation, .filterError, .paramError:
            self = .invalidArgument
        case .notAllowedOnNonLeaf:
            self = .notEmpty
        // A rule of the server, not an ACL, refuses the request (a read-only database, an
        // unauthenticated bind, a structural class change): the same request will keep failing.
        case .unwillingToPerform, .notAllowedOnRDN, .objectClassModsProhibited:
            self = .notAllowed
        case .sizeLimitExceeded, .adminLimitExceeded:
            self = .limitReached
        // Not errors (success, compare results, a SASL step), the client's own failures, or
        // the server's: nothing the caller can fix by changing the request.
        case .success, .compareFalse, .compareTrue, .saslBindInProgress, .referral,
             .operationsError, .protocolError, .unavailableCriticalExtension, .other, .cancelled,
             .localError, .encodingError, .decodingError, .authUnknown, .noMemory, .notSupported,
             .controlNotFound:
            self = .failed
        default:
            self = .failed
        }
    }

    /// The HTTP status `gwdir serve` answers with for this code.
    public var httpStatus: Int {
        switch self {
        case .invalidArgument: 400
        case .invalidCredentials: 401
        case .permissionDenied: 403
        case .notFound: 404
        case .alreadyExists, .addressInUse, .notEmpty: 409
        // The request is well formed but a rule refuses it: repeating it will not help.
        case .limitReached, .notAllowed: 422
        case .unavailable: 503
        default: 500
        }
    }
}
