/// Where authentication reports each attempt. The audit log implements it; the authenticator
/// and the Dovecot policy endpoint only see this, so they stay independent of storage.
public protocol LoginRecorder: Sendable {
    /// Records one attempt (and, on success, the account's last-login attributes).
    /// `event.country` may be nil: the recorder resolves it from `event.ip` when it can.
    func record(_ event: LoginEvent) async throws
}
