import Foundation
import LDAPClient

/// TOTP second factor (RFC 6238) for web and app logins.
///
/// Storage on the account: `gwOtpSecret` holds the secret as Base32 text (what the sample
/// data and authenticator apps use), `gwOtpEnabled` turns the check on, `gwOtpLastStep` is the
/// last accepted time step. Enrolment is two steps: `enrol` stores a new secret with OTP still
/// off, `confirm` turns it on only after a valid code proves the user's app has the secret,
/// so a half-finished enrolment never locks anyone out.
///
/// Each code is accepted once: the step is stored with an assertion-controlled modify
/// (`gwOtpLastStep` absent or below the step), so of two concurrent uses of one code exactly
/// one passes.
public struct OTPService: Sendable {
    public var context: DirectoryContext
    /// The `issuer` of the `otpauth://` URI: the name authenticator apps show.
    public var issuer: String
    /// Steps of clock drift accepted either side.
    public var tolerance: Int

    public init(context: DirectoryContext, issuer: String = "gwdir", tolerance: Int = 1) {
        self.context = context
        self.issuer = issuer
        self.tolerance = tolerance
    }

    /// What the user needs once, to add the account to an authenticator app.
    public struct Enrolment: Sendable, Hashable {
        public var accountDN: DistinguishedName
        /// Base32, no padding.
        public var secret: String
        public var uri: String
    }

    public struct Status: Sendable, Hashable {
        public var enrolled: Bool
        public var enabled: Bool
    }

    private static let attributes = ["mail", AttributeName.otpSecret, AttributeName.otpEnabled, AttributeName.otpLastStep]

    /// Generates and stores a new 20-byte secret; OTP stays off until ``confirm(_:code:)``.
    /// Refused while OTP is enabled: disable it first, so a stolen session cannot silently
    /// swap the second factor.
    public func enrol(_ address: MailAddress) async throws -> Enrolment {
        let entry = try await AuthLookup.account(address, context: context, attributes: Self.attributes)
        let dn = try DistinguishedName(entry.dn)
        guard entry.string(AttributeName.otpEnabled)?.uppercased() != "TRUE" else {
            throw DirectoryError(.notAllowed, "OTP is already enabled for \(address); disable it before enrolling again")
        }
        let totp = TOTP(secret: TOTP.generateSecret())
        _ = try await ldapCall("storing the OTP secret of \(address)") {
            try await context.ldap.modify(dn: dn, [
                .replace(AttributeName.otpSecret, [totp.base32Secret]),
                .replace(AttributeName.otpEnabled, ["FALSE"]),
                .replace(AttributeName.otpLastStep, []),
            ])
        }
        return Enrolment(accountDN: dn, secret: totp.base32Secret, uri: totp.provisioningURI(issuer: issuer, account: address.description))
    }

    /// Turns OTP on after checking `code` against the enrolled secret; the code is used up.
    public func confirm(_ address: MailAddress, code: String) async throws {
        let entry = try await AuthLookup.account(address, context: context, attributes: Self.attributes)
        let dn = try DistinguishedName(entry.dn)
        guard entry.string(AttributeName.otpEnabled)?.uppercased() != "TRUE" else {
            throw DirectoryError(.notAllowed, "OTP is already enabled for \(address)")
        }
        guard let secret = entry.string(AttributeName.otpSecret).flatMap(Base32.decode), !secret.isEmpty else {
            throw DirectoryError(.notAllowed, "\(address) has no pending OTP enrolment; run enrol first")
        }
        let lastStep = entry.string(AttributeName.otpLastStep).flatMap { Int64($0) }
        guard try await consume(code, secret: secret, lastStep: lastStep, accountDN: dn, also: [.replace(AttributeName.otpEnabled, ["TRUE"])]).isAccepted else {
            throw DirectoryError(.invalidCredentials, "wrong OTP code for \(address)")
        }
    }

    /// Turns OTP off and forgets the secret.
    public func disable(_ address: MailAddress) async throws {
        let dn = try await AuthLookup.accountDN(address, context: context)
        _ = try await ldapCall("disabling OTP of \(address)") {
            try await context.ldap.modify(dn: dn, [
                .replace(AttributeName.otpSecret, []), .replace(AttributeName.otpEnabled, []), .replace(AttributeName.otpLastStep, []),
            ])
        }
    }

    public func status(_ address: MailAddress) async throws -> Status {
        let entry = try await AuthLookup.account(address, context: context, attributes: Self.attributes)
        return Status(enrolled: entry.string(AttributeName.otpSecret) != nil, enabled: entry.string(AttributeName.otpEnabled)?.uppercased() == "TRUE")
    }

    /// Checks `code` and, when it matches a step newer than `lastStep`, stores that step
    /// (with `also`) atomically. Accepted only then; `.replayed` for a used code and for the
    /// loser of two concurrent uses of one code (a right code, which the per-account limit on
    /// wrong codes does not count), `.mismatch` or `.malformed` otherwise.
    func consume(
        _ code: String, secret: [UInt8], lastStep: Int64?, accountDN: DistinguishedName,
        also: [LDAPModification] = []
    ) async throws -> TOTPVerification {
        let totp = TOTP(secret: secret)
        let verification = totp.verify(code, at: context.now(), lastAcceptedStep: lastStep, tolerance: tolerance)
        guard let step = verification.acceptedStep else { return verification }
        let unused: LDAPFilter = .or([.not(.present("gwOtpLastStep")), .lessOrEqual("gwOtpLastStep", String(step - 1))])
        do {
            _ = try await context.ldap.modify(
                dn: accountDN, [.replace(AttributeName.otpLastStep, [String(step)])] + also, controls: [.assertion(unused)]
            )
            return verification
        } catch let error as LDAPError where error.code == .assertionFailed {
            return .replayed(step: step)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "storing the OTP step of \(accountDN)")
        }
    }
}
