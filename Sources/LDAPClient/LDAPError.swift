import CLDAP

/// The one error every LDAPClient call throws: the server's (or libldap's) result code, its
/// diagnostic message, the matched DN, and which operation on which entry failed.
public struct LDAPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An LDAP result code (RFC 4511 §4.1.9) or one of libldap's negative client-side codes.
    /// A struct rather than an enum so codes a server invents still round-trip.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let success = Code(rawValue: 0)
        public static let operationsError = Code(rawValue: 1)
        public static let protocolError = Code(rawValue: 2)
        public static let timeLimitExceeded = Code(rawValue: 3)
        public static let sizeLimitExceeded = Code(rawValue: 4)
        public static let compareFalse = Code(rawValue: 5)
        public static let compareTrue = Code(rawValue: 6)
        public static let authMethodNotSupported = Code(rawValue: 7)
        public static let strongerAuthRequired = Code(rawValue: 8)
        public static let referral = Code(rawValue: 10)
        public static let adminLimitExceeded = Code(rawValue: 11)
        public static let unavailableCriticalExtension = Code(rawValue: 12)
        public static let confidentialityRequired = Code(rawValue: 13)
        public static let saslBindInProgress = Code(rawValue: 14)
        public static let noSuchAttribute = Code(rawValue: 16)
        public static let undefinedAttributeType = Code(rawValue: 17)
        public static let inappropriateMatching = Code(rawValue: 18)
        public static let constraintViolation = Code(rawValue: 19)
        public static let attributeOrValueExists = Code(rawValue: 20)
        public static let invalidAttributeSyntax = Code(rawValue: 21)
        public static let noSuchObject = Code(rawValue: 32)
        public static let invalidDNSyntax = Code(rawValue: 34)
        public static let inappropriateAuthentication = Code(rawValue: 48)
        public static let invalidCredentials = Code(rawValue: 49)
        public static let insufficientAccessRights = Code(rawValue: 50)
        public static let busy = Code(rawValue: 51)
        public static let unavailable = Code(rawValue: 52)
        public static let unwillingToPerform = Code(rawValue: 53)
        public static let namingViolation = Code(rawValue: 64)
        public static let objectClassViolation = Code(rawValue: 65)
        public static let notAllowedOnNonLeaf = Code(rawValue: 66)
        public static let notAllowedOnRDN = Code(rawValue: 67)
        public static let entryAlreadyExists = Code(rawValue: 68)
        public static let objectClassModsProhibited = Code(rawValue: 69)
        public static let other = Code(rawValue: 80)
        public static let cancelled = Code(rawValue: 118)
        public static let assertionFailed = Code(rawValue: 122)

        // libldap's client-side codes.
        public static let serverDown = Code(rawValue: -1)
        public static let localError = Code(rawValue: -2)
        public static let encodingError = Code(rawValue: -3)
        public static let decodingError = Code(rawValue: -4)
        public static let timeout = Code(rawValue: -5)
        public static let authUnknown = Code(rawValue: -6)
        public static let filterError = Code(rawValue: -7)
        public static let paramError = Code(rawValue: -9)
        public static let noMemory = Code(rawValue: -10)
        public static let connectError = Code(rawValue: -11)
        public static let notSupported = Code(rawValue: -12)
        public static let controlNotFound = Code(rawValue: -13)

        /// Every code named above, for the table tests that give each one an explicit mapping.
        public static let allKnown: [Code] = [
            .success, .operationsError, .protocolError, .timeLimitExceeded, .sizeLimitExceeded,
            .compareFalse, .compareTrue, .authMethodNotSupported, .strongerAuthRequired, .referral,
            .adminLimitExceeded, .unavailableCriticalExtension, .confidentialityRequired,
            .saslBindInProgress, .noSuchAttribute, .undefinedAttributeType, .inappropriateMatching,
            .constraintViolation, .attributeOrValueExists, .invalidAttributeSyntax, .noSuchObject,
            .invalidDNSyntax, .inappropriateAuthentication, .invalidCredentials,
            .insufficientAccessRights, .busy, .unavailable, .unwillingToPerform, .namingViolation,
            .objectClassViolation, .notAllowedOnNonLeaf, .notAllowedOnRDN, .entryAlreadyExists,
            .objectClassModsProhibited, .other, .cancelled, .assertionFailed,
            .serverDown, .localError, .encodingError, .decodingError, .timeout, .authUnknown,
            .filterError, .paramError, .noMemory, .connectError, .notSupported, .controlNotFound,
        ]

        /// libldap's own wording, e.g. "Constraint violation".
        public var description: String {
            String(cString: ldap_err2string(rawValue))
        }
    }

    /// What was being done when the error happened, for the one-line description.
    public struct Operation: RawRepresentable, Hashable, Sendable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let connect = Operation(rawValue: "connect")
        public static let bind = Operation(rawValue: "bind")
        public static let search = Operation(rawValue: "search")
        public static let compare = Operation(rawValue: "compare")
        public static let add = Operation(rawValue: "add")
        public static let modify = Operation(rawValue: "modify")
        public static let delete = Operation(rawValue: "delete")
        public static let modifyDN = Operation(rawValue: "modify DN")
        public static let extended = Operation(rawValue: "extended operation")
        public static let whoAmI = Operation(rawValue: "who am I")
        public static let passwordModify = Operation(rawValue: "password modify")
        public static let decode = Operation(rawValue: "decode")
    }

    public var code: Code
    /// The server's diagnostic message (may be empty).
    public var message: String
    /// The deepest existing entry the server matched, for `noSuchObject`.
    public var matchedDN: String?
    public var operation: Operation
    /// The entry the operation targeted, when there was one.
    public var dn: String?
    /// What ppolicy said, when a bind asked (`.passwordPolicy` control): tells a lockout from a wrong password.
    public var passwordPolicy: PasswordPolicyResponse?

    public init(code: Code, message: String = "", matchedDN: String? = nil, operation: Operation, dn: String? = nil) {
        self.code = code
        self.message = message
        self.matchedDN = matchedDN.flatMap { $0.isEmpty ? nil : $0 }
        self.operation = operation
        self.dn = dn
    }

    /// True when the connection, not the request, failed: the caller may reconnect, and may retry a read.
    public var isConnectionError: Bool {
        code == .serverDown || code == .connectError
    }

    public var description: String {
        var line = operation.rawValue
        if let dn, !dn.isEmpty { line += " \(dn)" }
        line += ": \(code) (\(code.rawValue))"
        if !message.isEmpty { line += ": \(message)" }
        if let matchedDN { line += " (matched \(matchedDN))" }
        return line
    }
}
