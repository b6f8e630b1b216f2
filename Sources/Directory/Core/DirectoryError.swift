import LDAPClient

/// The one error of the directory layer: a code callers switch on (stable, extensible, like
/// postgres-nio's `PSQLError.Code`) and a one-line message a user understands.
public struct DirectoryError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidArgument, notFound, alreadyExists, addressInUse, limitReached, notEmpty,
                 notAllowed, permissionDenied, invalidCredentials, unavailable, failed
        }
        private let base: Base
        private init(base: Base) { self.base = base }

        /// Malformed input: an address, a name, a unit path, a quota.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// No such workspace, unit, account, alias, group or admin.
        public static let notFound = Code(base: .notFound)
        /// An entry of that name exists (login id, unit, workspace).
        public static let alreadyExists = Code(base: .alreadyExists)
        /// The mail address belongs to another account, alias, group or shared mailbox.
        public static let addressInUse = Code(base: .addressInUse)
        /// A limit of the product (five aliases per account).
        public static let limitReached = Code(base: .limitReached)
        /// A unit still holds entries.
        public static let notEmpty = Code(base: .notEmpty)
        /// A rule of the product refuses the request (an alias on a group mail).
        public static let notAllowed = Code(base: .notAllowed)
        /// slapd's ACLs refused the operation for the bound identity.
        public static let permissionDenied = Code(base: .permissionDenied)
        /// The bind (or the acting admin's bind) was refused.
        public static let invalidCredentials = Code(base: .invalidCredentials)
        /// The directory could not be reached.
        public static let unavailable = Code(base: .unavailable)
        /// Anything else; the message says what.
        public static let failed = Code(base: .failed)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The LDAP failure behind this error, when there was one.
    public var underlying: LDAPError?

    public init(_ code: Code, _ message: String, underlying: LDAPError? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }

    /// Classifies an LDAP failure that the caller had no more specific words for, by
    /// `Code(_: LDAPError.Code)` (ResultCodeMapping.swift).
    public static func ldap(_ error: LDAPError, _ doing: String) -> DirectoryError {
        let code = Code(error.code)
        let reason: String
        switch code {
        case .permissionDenied: reason = "permission denied"
        case .unavailable: reason = "directory unreachable (\(error.code))"
        default: reason = error.message.isEmpty ? "\(error.code)" : error.message
        }
        return DirectoryError(code, "\(doing): \(reason)", underlying: error)
    }
}

extension DirectoryError.Code {
    /// Exhaustive list, for tests and documentation.
    public static let all: [DirectoryError.Code] = [
        .invalidArgument, .notFound, .alreadyExists, .addressInUse, .limitReached, .notEmpty,
        .notAllowed, .permissionDenied, .invalidCredentials, .unavailable, .failed,
    ]
}

/// Runs an LDAP call and turns its failure into a ``DirectoryError`` that says what was being done.
@inlinable
func ldapCall<T>(_ doing: @autoclosure () -> String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as LDAPError {
        throw DirectoryError.ldap(error, doing())
    }
}
