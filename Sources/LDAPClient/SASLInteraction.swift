import CLDAP
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SASL mechanisms other than EXTERNAL (PLAIN, SCRAM-*) run through Cyrus SASL, which asks
/// for the user name, password and realm through a C callback.
enum SASLInteraction {
    /// The answers the callback hands to Cyrus SASL; C strings live as long as the bind call.
    private final class Answers {
        let authenticationID: UnsafeMutablePointer<CChar>
        let password: UnsafeMutablePointer<CChar>
        let authorizationID: UnsafeMutablePointer<CChar>
        let realm: UnsafeMutablePointer<CChar>?

        init(authenticationID: String, password: String, authorizationID: String?, realm: String?) {
            self.authenticationID = strdup(authenticationID)
            self.password = strdup(password)
            self.authorizationID = strdup(authorizationID ?? "")
            self.realm = realm.map { strdup($0) }
        }

        deinit {
            free(authenticationID)
            // Overwrite the password before the memory goes back to the allocator.
            memset(password, 0, strlen(password))
            free(password)
            free(authorizationID)
            free(realm)
        }
    }

    /// Runs on the connection's own thread, so the blocking `_s` call never stalls Swift tasks.
    static func bind(
        _ ld: OpaquePointer, mechanism: String, authenticationID: String, password: String,
        authorizationID: String?, realm: String?
    ) throws(LDAPError) {
        let answers = Answers(authenticationID: authenticationID, password: password, authorizationID: authorizationID, realm: realm)
        let rc = withExtendedLifetime(answers) {
            ldap_sasl_interactive_bind_s(
                ld, nil, mechanism, nil, nil, UInt32(LDAP_SASL_QUIET),
                { _, _, defaults, interactions in
                    guard let defaults, let interactions else { return LDAP_PARAM_ERROR }
                    let answers = Unmanaged<Answers>.fromOpaque(defaults).takeUnretainedValue()
                    var item = interactions.assumingMemoryBound(to: sasl_interact_t.self)
                    while item.pointee.id != UInt(SASL_CB_LIST_END) {
                        let answer: UnsafeMutablePointer<CChar>?
                        switch Int32(item.pointee.id) {
                        case SASL_CB_AUTHNAME: answer = answers.authenticationID
                        case SASL_CB_PASS: answer = answers.password
                        case SASL_CB_USER: answer = answers.authorizationID
                        case SASL_CB_GETREALM: answer = answers.realm
                        default: answer = nil
                        }
                        if let answer {
                            item.pointee.result = UnsafeRawPointer(answer)
                            item.pointee.len = UInt32(strlen(answer))
                        } else {
                            item.pointee.result = UnsafeRawPointer(item.pointee.defresult)
                            item.pointee.len = item.pointee.defresult.map { UInt32(strlen($0)) } ?? 0
                        }
                        item += 1
                    }
                    return LDAP_SUCCESS
                },
                Unmanaged.passUnretained(answers).toOpaque()
            )
        }
        guard rc == LDAP_SUCCESS else {
            var diagnostic: UnsafeMutablePointer<CChar>?
            ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic)
            let message = diagnostic.map { String(cString: $0) } ?? ""
            if let diagnostic { ldap_memfree(diagnostic) }
            throw LDAPError(code: .init(rawValue: rc), message: "SASL \(mechanism): \(message)", operation: .bind, dn: authenticationID)
        }
    }
}
