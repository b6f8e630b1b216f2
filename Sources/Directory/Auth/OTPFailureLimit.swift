import Foundation

/// Wrong OTP codes counted per account (security issue 11), as pure decisions.
///
/// The IP auto-block alone lets an attacker who knows a password spread guesses of the
/// six-digit code over many addresses. So wrong codes also count per account, from any IP:
/// after ``standard``'s 5 wrong codes within 15 minutes (the ppolicy lockout's numbers) the
/// account's OTP logins fail with `login_blocked` for 15 minutes, even with the right code.
///
/// The counting is the IP auto-block's fixed window (``IPBlockPolicy``, same state
/// ``IPFailureState``), so the storage and its race-free increment are shared too: the state
/// lives in a `gwIPBlock` entry under `ou=ipblocks,ou=audit` whose RDN value is
/// ``key(accountUUID:)``, `otp.<entryUUID>`, which no IP address can spell. Decided over a
/// counter on the account entry because that needs no new schema or ACL (the audit database
/// already holds this high-churn bookkeeping, written by the service only), keeps login
/// writes out of the main database, and the entryUUID key survives moves and renames.
public struct OTPFailureLimit: Sendable, Hashable {
    public var counter: IPBlockPolicy

    public init(maxFailures: Int, window: Duration, lockDuration: Duration) {
        counter = IPBlockPolicy(maxFailures: maxFailures, window: window, blockDuration: lockDuration)
    }

    /// 5 wrong codes within 15 minutes lock OTP logins for 15 minutes.
    public static let standard = OTPFailureLimit(maxFailures: 5, window: .seconds(900), lockDuration: .seconds(900))

    /// Why an OTP attempt of an account in `state` fails before its code is looked at:
    /// `login_blocked` while locked, nil otherwise (then the code decides).
    public func refusal(_ state: IPFailureState?, at time: Date) -> LoginFailureReason? {
        counter.isBlocked(state, at: time) ? .loginBlocked : nil
    }

    /// The state after a wrong code at `time`, and whether the account is locked afterwards.
    public func record(wrongCodeAt time: Date, state: IPFailureState?) -> (state: IPFailureState, locked: Bool) {
        let (next, blocked) = counter.record(failureAt: time, state: state)
        return (next, blocked)
    }

    /// Whether a refused code counts: a wrong or malformed one does; a replayed one, or the
    /// loser of two concurrent uses of one code, was right, and is no guess.
    public static func countsAsWrongCode(_ verification: TOTPVerification) -> Bool {
        switch verification {
        case .mismatch, .malformed: true
        case .accepted, .replayed: false
        }
    }

    public static let keyPrefix = "otp."

    /// The RDN value of an account's bookkeeping entry, nil for anything that is not an
    /// entryUUID (the value must be IA5 and can never look like an IP address).
    public static func key(accountUUID: String) -> String? {
        let uuid = accountUUID.lowercased()
        guard uuid.count == 36, uuid.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) || $0 == "-" }) else {
            return nil
        }
        return keyPrefix + uuid
    }

    /// Whether an `ou=ipblocks` RDN value is an account's OTP bookkeeping rather than an IP's.
    public static func isAccountKey(_ value: String) -> Bool { value.lowercased().hasPrefix(keyPrefix) }
}
