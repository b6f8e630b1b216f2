#ifndef GWDIR_CBENCHBASELINE_H
#define GWDIR_CBENCHBASELINE_H
// The raw libldap loops gwdir-bench compares LDAPClient against. Each loop runs on an
// already-bound handle (connecting is not timed) and returns an LDAP result code
// (0 = success); `error` receives a message on failure.
#include <stdint.h>
// For the policy benchmark's load generator (ClosedLoopHTTPLoad): it waits on 256 sockets,
// which poll(2) scans whole on every call; Swift's Glibc module does not export epoll(7).
#include <sys/epoll.h>

typedef struct gwb_conn gwb_conn;

/// ldap_initialize + LDAPv3 + simple bind (dn NULL = anonymous). NULL on failure.
gwb_conn *gwb_open(const char *uri, const char *dn, const char *password, char *error, int error_size);
void gwb_close(gwb_conn *conn);

/// n synchronous simple binds (ldap_sasl_bind_s) as dn.
int gwb_bind_loop(gwb_conn *conn, const char *dn, const char *password, long n, char *error, int error_size);

/// n synchronous searches (ldap_search_ext_s) for (mail=u<k>@<domain>), k from the shared LCG;
/// every attribute of every entry is decoded (ldap_get_attribute_ber + values).
int gwb_search_loop(gwb_conn *conn, const char *base, const char *domain, long users, long n,
                    uint64_t seed, long *entries, char *error, int error_size);

/// The same searches with `window` requests outstanding (ldap_search_ext + ldap_result).
int gwb_search_pipelined(gwb_conn *conn, const char *base, const char *domain, long users, long n,
                         int window, uint64_t seed, long *entries, char *error, int error_size);

/// RFC 2696 paged subtree listing of base (filter objectClass=*), streaming
/// each page with ldap_result(LDAP_MSG_ONE) and decoding every attribute.
int gwb_paged(gwb_conn *conn, const char *base, int page_size, long *entries, char *error, int error_size);

/// n adds of uid=<prefix><i>,<parent> (inetOrgPerson + gwAccount) with `window` outstanding.
int gwb_add_pipelined(gwb_conn *conn, const char *parent, const char *prefix, const char *domain,
                      long n, int window, char *error, int error_size);

/// n synchronous modify-increment (RFC 4525) of attribute on dn.
int gwb_increment_loop(gwb_conn *conn, const char *dn, const char *attribute, long n, char *error, int error_size);

/// One login event of the audit benchmark, with the LDAP writes gwdir's AuditLog makes for it
/// decided in advance (gwdir-bench derives them with the same rules).
typedef struct gwb_audit_event {
    /// 0: a new entry (web or app login); 1: the first event of a folding key — an indexed
    /// search for an entry to fold into, then the add; 2: an increment of the key's entry.
    int kind;
    /// The folding key (kinds 1 and 2), else -1.
    int key;
    /// The account, 0 ..< number of accounts (for coalescing its last-login writes).
    int account;
    /// Kind 2: also move gwLastTime forward (replace with the assertion !(gwLastTime>=time)).
    int widen;
    /// Also move the account's gwLastLogin* forward (assertion !(gwLastLoginTime>=time)).
    int last_login;
    const char *account_dn;
    const char *login;
    const char *type;
    const char *client;
    const char *ip;
    const char *result;
    /// NULL for a success.
    const char *reason;
    const char *time;
    /// Kind 1: the oldest gwLastTime the search accepts.
    const char *since;
    const char *workspace_dn;
} gwb_audit_event;

/// Records the events with up to `window` events in flight (ldap_*_ext + ldap_result), with
/// AuditLog's group commit: one increment per key in flight, the repeats arriving meanwhile
/// sent next as one `increment by n`; one last-login write per account in flight, the newest
/// waiting login written next. The search and add that open a folding key are synchronous.
/// Entries are gwEventId=<id_prefix><i>,<events_base>.
int gwb_audit_pipelined(gwb_conn *conn, const char *events_base, const char *id_prefix,
                        const gwb_audit_event *events, long n, int window, char *error, int error_size);

/// The last logins AuditLog deferred (a newer login inside the account's interval) and writes
/// when it flushes: one last-login modify per listed event, up to `window` in flight.
int gwb_audit_last_logins(gwb_conn *conn, const gwb_audit_event *events, const long *indexes, long n, int window,
                          char *error, int error_size);

/// Line-buffers stdout, so progress shows when it is a pipe (Swift 6 cannot touch `stdout`).
void gwb_line_buffer_stdout(void);

/// The pseudo-random user index sequence shared by the Swift, C and Python sides.
static inline uint64_t gwb_lcg_next(uint64_t *state, uint64_t users) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (*state >> 33) % users;
}

#endif
