import ArgumentParser
import Directory
import Foundation
import LDAPClient
import LocalSlapd

/// The exit codes of `gwdir`; scripts depend on them, so values never change.
enum ExitStatus: Int32, Sendable {
    case success = 0
    /// Anything not covered below.
    case failure = 1
    /// Bad flags, arguments or option values.
    case usage = 2
    /// No such entry; for `local status`, the local directory is stopped.
    case notFound = 3
    /// Wrong credentials, or slapd's ACLs refused the operation.
    case permissionDenied = 4
    /// The entry exists already, or a uniqueness or constraint rule refused the change.
    case conflict = 5
    /// The directory could not be reached, or none is configured.
    case unavailable = 6
}

extension ExitStatus {
    /// The exit code of a domain error; `CLIErrorMappingTests` lists every row.
    init(_ code: DirectoryError.Code) {
        switch code {
        case .invalidArgument: self = .usage
        case .notFound: self = .notFound
        case .alreadyExists, .addressInUse, .limitReached, .notEmpty, .notAllowed: self = .conflict
        case .permissionDenied, .invalidCredentials: self = .permissionDenied
        case .unavailable: self = .unavailable
        default: self = .failure
        }
    }
}

/// A failure reported as one line on stderr with a documented exit code.
struct CLIError: Error, CustomStringConvertible {
    var status: ExitStatus
    var message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { message }

    static let notConfigured = CLIError(.unavailable, "no directory configured: run `gwdir local start` or pass --uri")

    /// Classifies errors from the lower layers.
    init(_ error: any Error, uri: String? = nil, hint: String? = nil) {
        switch error {
        case let error as CLIError:
            self = error
            return
        case let error as LDAPError:
            self.init(Self.status(of: error), Self.message(of: error, uri: uri))
        case let error as SlapdError:
            self.init(.failure, error.description)
        case let error as LDIFError:
            self.init(.failure, error.description)
        case let error as DistinguishedNameError:
            self.init(.usage, error.description)
        case let error as DirectoryError:
            if let underlying = error.underlying, underlying.code == .timeout {
                // Said as for a bare LDAPError: which server did not answer, and in how long.
                self.init(.unavailable, Self.message(of: underlying, uri: uri))
            } else {
                self.init(Self.status(of: error), error.message)
            }
        default:
            self.init(.failure, String(describing: error))
        }
        if let hint { message += " (\(hint))" }
    }

    /// An LDAP failure exits as its domain code does (`DirectoryError.Code(_: LDAPError.Code)`).
    static func status(of error: LDAPError) -> ExitStatus {
        ExitStatus(DirectoryError.Code(error.code))
    }

    static func status(of error: DirectoryError) -> ExitStatus {
        ExitStatus(error.code)
    }

    static func message(of error: LDAPError, uri: String?) -> String {
        switch error.code {
        case .serverDown, .connectError:
            return "cannot connect to \(uri ?? "the directory"): \(error.code)"
        case .timeout:
            // LDAPClient words a timeout as a predicate for the server: "did not answer within
            // 3 s", with "; the add may or may not have been applied" for a change.
            let predicate = error.message.isEmpty ? "did not answer in time" : error.message
            return "\(uri ?? "the directory") \(predicate)"
        case .invalidCredentials:
            return "invalid credentials" + (error.dn.map { " for \($0)" } ?? "")
        default:
            return error.description
        }
    }
}
