// Raw libldap baselines for gwdir-bench. Plain C, no wrapper: this is the floor LDAPClient is
// measured against. Synchronous ldap_*_s where the work is sequential; ldap_*_ext +
// ldap_result with msgid bookkeeping where it is pipelined.
#define LDAP_DEPRECATED 0
#include "CBenchBaseline.h"

#include <lber.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gwb_line_buffer_stdout(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}

struct gwb_conn {
    LDAP *ld;
};

static void set_error(char *error, int size, const char *what, LDAP *ld, int rc) {
    if (!error || size <= 0) return;
    char *diagnostic = NULL;
    if (ld) ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic);
    snprintf(error, (size_t)size, "%s: %s (%d)%s%s", what, ldap_err2string(rc), rc,
             diagnostic && *diagnostic ? ": " : "", diagnostic ? diagnostic : "");
    if (diagnostic) ldap_memfree(diagnostic);
}

gwb_conn *gwb_open(const char *uri, const char *dn, const char *password, char *error, int error_size) {
    LDAP *ld = NULL;
    int rc = ldap_initialize(&ld, uri);
    if (rc != LDAP_SUCCESS) {
        set_error(error, error_size, "ldap_initialize", NULL, rc);
        return NULL;
    }
    int version = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    if (dn) {
        struct berval credential = { password ? strlen(password) : 0, (char *)password };
        rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &credential, NULL, NULL, NULL);
    } else {
        rc = ldap_connect(ld);
    }
    if (rc != LDAP_SUCCESS) {
        set_error(error, error_size, "bind", ld, rc);
        ldap_unbind_ext(ld, NULL, NULL);
        return NULL;
    }
    gwb_conn *conn = calloc(1, sizeof *conn);
    conn->ld = ld;
    return conn;
}

void gwb_close(gwb_conn *conn) {
    if (!conn) return;
    ldap_unbind_ext(conn->ld, NULL, NULL);
    free(conn);
}

int gwb_bind_loop(gwb_conn *conn, const char *dn, const char *password, long n, char *error, int error_size) {
    struct berval credential = { strlen(password), (char *)password };
    for (long i = 0; i < n; i++) {
        int rc = ldap_sasl_bind_s(conn->ld, dn, LDAP_SASL_SIMPLE, &credential, NULL, NULL, NULL);
        if (rc != LDAP_SUCCESS) {
            set_error(error, error_size, "ldap_sasl_bind_s", conn->ld, rc);
            return rc;
        }
    }
    return LDAP_SUCCESS;
}

/// Reads every attribute and value of an entry, as a client that uses the entry would.
static int decode_entry(LDAP *ld, LDAPMessage *entry) {
    BerElement *ber = NULL;
    struct berval dn;
    int rc = ldap_get_dn_ber(ld, entry, &ber, &dn);
    if (rc != LDAP_SUCCESS) return rc;
    size_t bytes = dn.bv_len;
    for (;;) {
        struct berval type;
        struct berval *values = NULL;
        rc = ldap_get_attribute_ber(ld, entry, ber, &type, &values);
        if (rc != LDAP_SUCCESS || type.bv_val == NULL) break;
        if (values) {
            for (int i = 0; values[i].bv_val != NULL; i++) bytes += values[i].bv_len;
            ber_memfree(values);
        }
    }
    ber_free(ber, 0);
    return bytes > 0 ? LDAP_SUCCESS : LDAP_DECODING_ERROR;
}

static int check_result(LDAP *ld, LDAPMessage *message, const char *what, char *error, int error_size) {
    int code = 0;
    int rc = ldap_parse_result(ld, message, &code, NULL, NULL, NULL, NULL, 0);
    if (rc != LDAP_SUCCESS) code = rc;
    if (code != LDAP_SUCCESS) set_error(error, error_size, what, ld, code);
    return code;
}

static void mail_filter(char *buffer, size_t size, uint64_t *state, long users, const char *domain) {
    uint64_t k = gwb_lcg_next(state, (uint64_t)users);
    snprintf(buffer, size, "(mail=u%llu@%s)", (unsigned long long)k, domain);
}

int gwb_search_loop(gwb_conn *conn, const char *base, const char *domain, long users, long n,
                    uint64_t seed, long *entries, char *error, int error_size) {
    uint64_t state = seed;
    char filter[256];
    long count = 0;
    for (long i = 0; i < n; i++) {
        mail_filter(filter, sizeof filter, &state, users, domain);
        LDAPMessage *result = NULL;
        int rc = ldap_search_ext_s(conn->ld, base, LDAP_SCOPE_SUBTREE, filter, NULL, 0, NULL, NULL, NULL, 0, &result);
        if (rc != LDAP_SUCCESS) {
            set_error(error, error_size, "ldap_search_ext_s", conn->ld, rc);
            if (result) ldap_msgfree(result);
            return rc;
        }
        for (LDAPMessage *entry = ldap_first_entry(conn->ld, result); entry; entry = ldap_next_entry(conn->ld, entry)) {
            decode_entry(conn->ld, entry);
            count++;
        }
        ldap_msgfree(result);
    }
    *entries = count;
    return LDAP_SUCCESS;
}

int gwb_search_pipelined(gwb_conn *conn, const char *base, const char *domain, long users, long n,
                         int window, uint64_t seed, long *entries, char *error, int error_size) {
    LDAP *ld = conn->ld;
    uint64_t state = seed;
    char filter[256];
    long sent = 0, done = 0, count = 0;
    int outstanding = 0;
    // msgid bookkeeping: the set of outstanding message ids (window is small: a linear scan).
    int *ids = calloc((size_t)window, sizeof *ids);
    int rc = LDAP_SUCCESS;
    while (done < n) {
        while (outstanding < window && sent < n) {
            mail_filter(filter, sizeof filter, &state, users, domain);
            int msgid = 0;
            rc = ldap_search_ext(ld, base, LDAP_SCOPE_SUBTREE, filter, NULL, 0, NULL, NULL, NULL, 0, &msgid);
            if (rc != LDAP_SUCCESS) {
                set_error(error, error_size, "ldap_search_ext", ld, rc);
                goto out;
            }
            for (int slot = 0; slot < window; slot++) if (ids[slot] == 0) { ids[slot] = msgid; break; }
            outstanding++;
            sent++;
        }
        LDAPMessage *message = NULL;
        int type = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ONE, NULL, &message);
        if (type <= 0) {
            rc = type == 0 ? LDAP_TIMEOUT : LDAP_SERVER_DOWN;
            set_error(error, error_size, "ldap_result", ld, rc);
            goto out;
        }
        int msgid = ldap_msgid(message);
        int slot = 0;
        while (slot < window && ids[slot] != msgid) slot++;
        if (slot == window) {
            ldap_msgfree(message);
            continue;  // not ours
        }
        if (type == LDAP_RES_SEARCH_ENTRY) {
            decode_entry(ld, message);
            count++;
        } else if (type == LDAP_RES_SEARCH_RESULT) {
            rc = check_result(ld, message, "search", error, error_size);
            if (rc != LDAP_SUCCESS) {
                ldap_msgfree(message);
                goto out;
            }
            ids[slot] = 0;
            outstanding--;
            done++;
        }
        ldap_msgfree(message);
    }
out:
    free(ids);
    *entries = count;
    return rc;
}

int gwb_paged(gwb_conn *conn, const char *base, int page_size, long *entries, char *error, int error_size) {
    LDAP *ld = conn->ld;
    struct berval cookie = { 0, NULL };
    long count = 0;
    int rc;
    for (;;) {
        LDAPControl *page = NULL;
        rc = ldap_create_page_control(ld, (ber_int_t)page_size, &cookie, 0, &page);
        if (rc != LDAP_SUCCESS) {
            set_error(error, error_size, "ldap_create_page_control", ld, rc);
            break;
        }
        LDAPControl *controls[2] = { page, NULL };
        int msgid = 0;
        rc = ldap_search_ext(ld, base, LDAP_SCOPE_SUBTREE, "(objectClass=*)", NULL, 0, controls, NULL, NULL, 0, &msgid);
        ldap_control_free(page);
        if (rc != LDAP_SUCCESS) {
            set_error(error, error_size, "ldap_search_ext", ld, rc);
            break;
        }
        int more = 0;
        for (;;) {
            LDAPMessage *message = NULL;
            int type = ldap_result(ld, msgid, LDAP_MSG_ONE, NULL, &message);
            if (type <= 0) {
                rc = LDAP_SERVER_DOWN;
                set_error(error, error_size, "ldap_result", ld, rc);
                goto out;
            }
            if (type == LDAP_RES_SEARCH_ENTRY) {
                decode_entry(ld, message);
                count++;
            } else if (type == LDAP_RES_SEARCH_RESULT) {
                int code = 0;
                LDAPControl **response = NULL;
                rc = ldap_parse_result(ld, message, &code, NULL, NULL, NULL, &response, 0);
                if (rc == LDAP_SUCCESS) rc = code;
                if (rc != LDAP_SUCCESS) {
                    set_error(error, error_size, "paged search", ld, rc);
                    if (response) ldap_controls_free(response);
                    ldap_msgfree(message);
                    goto out;
                }
                if (cookie.bv_val) ber_memfree(cookie.bv_val);
                cookie.bv_val = NULL;
                cookie.bv_len = 0;
                LDAPControl *control = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, response, NULL);
                if (control) {
                    ber_int_t estimate = 0;
                    ldap_parse_pageresponse_control(ld, control, &estimate, &cookie);
                }
                if (response) ldap_controls_free(response);
                more = cookie.bv_len > 0;
                ldap_msgfree(message);
                break;
            }
            ldap_msgfree(message);
        }
        if (!more) break;
    }
out:
    if (cookie.bv_val) ber_memfree(cookie.bv_val);
    *entries = count;
    return rc;
}

int gwb_add_pipelined(gwb_conn *conn, const char *parent, const char *prefix, const char *domain,
                      long n, int window, char *error, int error_size) {
    LDAP *ld = conn->ld;
    long sent = 0, done = 0;
    int outstanding = 0;
    int rc = LDAP_SUCCESS;
    while (done < n) {
        while (outstanding < window && sent < n) {
            char dn[512], uid[128], cn[160], mail[256];
            snprintf(uid, sizeof uid, "%s%ld", prefix, sent);
            snprintf(dn, sizeof dn, "uid=%s,%s", uid, parent);
            snprintf(cn, sizeof cn, "Bench %s", uid);
            snprintf(mail, sizeof mail, "%s@%s", uid, domain);
            char *oc_values[] = { "inetOrgPerson", "gwAccount", NULL };
            char *uid_values[] = { uid, NULL };
            char *cn_values[] = { cn, NULL };
            char *sn_values[] = { "Bench", NULL };
            char *mail_values[] = { mail, NULL };
            LDAPMod oc = { LDAP_MOD_ADD, "objectClass", { .modv_strvals = oc_values } };
            LDAPMod uidm = { LDAP_MOD_ADD, "uid", { .modv_strvals = uid_values } };
            LDAPMod cnm = { LDAP_MOD_ADD, "cn", { .modv_strvals = cn_values } };
            LDAPMod snm = { LDAP_MOD_ADD, "sn", { .modv_strvals = sn_values } };
            LDAPMod mailm = { LDAP_MOD_ADD, "mail", { .modv_strvals = mail_values } };
            LDAPMod *mods[] = { &oc, &uidm, &cnm, &snm, &mailm, NULL };
            int msgid = 0;
            rc = ldap_add_ext(ld, dn, mods, NULL, NULL, &msgid);
            if (rc != LDAP_SUCCESS) {
                set_error(error, error_size, "ldap_add_ext", ld, rc);
                return rc;
            }
            outstanding++;
            sent++;
        }
        LDAPMessage *message = NULL;
        int type = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ONE, NULL, &message);
        if (type <= 0) {
            rc = LDAP_SERVER_DOWN;
            set_error(error, error_size, "ldap_result", ld, rc);
            return rc;
        }
        if (type == LDAP_RES_ADD) {
            rc = check_result(ld, message, "add", error, error_size);
            ldap_msgfree(message);
            if (rc != LDAP_SUCCESS) return rc;
            outstanding--;
            done++;
        } else {
            ldap_msgfree(message);
        }
    }
    return LDAP_SUCCESS;
}

int gwb_increment_loop(gwb_conn *conn, const char *dn, const char *attribute, long n, char *error, int error_size) {
    char *values[] = { "1", NULL };
    LDAPMod increment = { LDAP_MOD_INCREMENT, (char *)attribute, { .modv_strvals = values } };
    LDAPMod *mods[] = { &increment, NULL };
    for (long i = 0; i < n; i++) {
        int rc = ldap_modify_ext_s(conn->ld, dn, mods, NULL, NULL);
        if (rc != LDAP_SUCCESS) {
            set_error(error, error_size, "ldap_modify_ext_s", conn->ld, rc);
            return rc;
        }
    }
    return LDAP_SUCCESS;
}

// MARK: audit

/// A request of the audit loop in flight: which event, and what it was.
enum { AUDIT_OP_ADD, AUDIT_OP_INCREMENT, AUDIT_OP_WIDEN, AUDIT_OP_LAST_LOGIN };

static int audit_send_add(LDAP *ld, const char *dn, const gwb_audit_event *e, int sync, int *msgid) {
    char *oc[] = { "gwLoginEvent", NULL };
    const char *id_start = strchr(dn, '=') + 1;
    char id[128];
    size_t id_length = (size_t)(strchr(id_start, ',') - id_start);
    if (id_length >= sizeof id) id_length = sizeof id - 1;
    memcpy(id, id_start, id_length);
    id[id_length] = 0;
    char *idv[] = { id, NULL }, *account[] = { (char *)e->account_dn, NULL }, *login[] = { (char *)e->login, NULL };
    char *type[] = { (char *)e->type, NULL }, *client[] = { (char *)e->client, NULL }, *ip[] = { (char *)e->ip, NULL };
    char *country[] = { "unknown", NULL }, *result[] = { (char *)e->result, NULL }, *reason[] = { (char *)e->reason, NULL };
    char *time[] = { (char *)e->time, NULL }, *count[] = { "1", NULL }, *workspace[] = { (char *)e->workspace_dn, NULL };
    LDAPMod m[14] = {
        { LDAP_MOD_ADD, "objectClass", { .modv_strvals = oc } },
        { LDAP_MOD_ADD, "gwEventId", { .modv_strvals = idv } },
        { LDAP_MOD_ADD, "gwAccountRef", { .modv_strvals = account } },
        { LDAP_MOD_ADD, "gwLoginName", { .modv_strvals = login } },
        { LDAP_MOD_ADD, "gwLoginType", { .modv_strvals = type } },
        { LDAP_MOD_ADD, "gwLoginClient", { .modv_strvals = client } },
        { LDAP_MOD_ADD, "gwClientIP", { .modv_strvals = ip } },
        { LDAP_MOD_ADD, "gwCountry", { .modv_strvals = country } },
        { LDAP_MOD_ADD, "gwLoginResult", { .modv_strvals = result } },
        { LDAP_MOD_ADD, "gwFirstTime", { .modv_strvals = time } },
        { LDAP_MOD_ADD, "gwLastTime", { .modv_strvals = time } },
        { LDAP_MOD_ADD, "gwEventCount", { .modv_strvals = count } },
        { LDAP_MOD_ADD, "gwWorkspaceRef", { .modv_strvals = workspace } },
        { LDAP_MOD_ADD, "gwFailureReason", { .modv_strvals = reason } },
    };
    LDAPMod *mods[15];
    int k = 0;
    for (int i = 0; i < 13; i++) mods[k++] = &m[i];
    if (e->reason) mods[k++] = &m[13];
    mods[k] = NULL;
    if (sync) return ldap_add_ext_s(ld, dn, mods, NULL, NULL);
    return ldap_add_ext(ld, dn, mods, NULL, NULL, msgid);
}

/// A modify with an RFC 4528 assertion `(!(<attribute>>=<time>))` when `asserted` is set.
static int audit_send_modify(LDAP *ld, const char *dn, LDAPMod **mods, const char *asserted, const char *time, int *msgid) {
    if (!asserted) return ldap_modify_ext(ld, dn, mods, NULL, NULL, msgid);
    char filter[160];
    snprintf(filter, sizeof filter, "(!(%s>=%s))", asserted, time);
    struct berval value = { 0, NULL };
    int rc = ldap_create_assertion_control_value(ld, filter, &value);
    if (rc != LDAP_SUCCESS) return rc;
    LDAPControl control = { LDAP_CONTROL_ASSERT, value, 1 };
    LDAPControl *controls[] = { &control, NULL };
    rc = ldap_modify_ext(ld, dn, mods, controls, NULL, msgid);
    ldap_memfree(value.bv_val);
    return rc;
}

static int audit_send_increment(LDAP *ld, const char *dn, int count, const char *widen_time, int *msgid) {
    char amount[16], *amountv[] = { amount, NULL }, *time[] = { (char *)widen_time, NULL };
    snprintf(amount, sizeof amount, "%d", count);
    LDAPMod increment = { LDAP_MOD_INCREMENT, "gwEventCount", { .modv_strvals = amountv } };
    LDAPMod last = { LDAP_MOD_REPLACE, "gwLastTime", { .modv_strvals = time } };
    LDAPMod *mods[] = { &increment, widen_time ? &last : NULL, NULL };
    return audit_send_modify(ld, dn, mods, widen_time ? "gwLastTime" : NULL, widen_time, msgid);
}

static int audit_send_last_login(LDAP *ld, const gwb_audit_event *e, int *msgid) {
    char *time[] = { (char *)e->time, NULL }, *type[] = { (char *)e->type, NULL };
    char *ip[] = { (char *)e->ip, NULL }, *country[] = { "unknown", NULL };
    LDAPMod m[4] = {
        { LDAP_MOD_REPLACE, "gwLastLoginTime", { .modv_strvals = time } },
        { LDAP_MOD_REPLACE, "gwLastLoginType", { .modv_strvals = type } },
        { LDAP_MOD_REPLACE, "gwLastLoginIP", { .modv_strvals = ip } },
        { LDAP_MOD_REPLACE, "gwLastLoginCountry", { .modv_strvals = country } },
    };
    LDAPMod *mods[] = { &m[0], &m[1], &m[2], &m[3], NULL };
    return audit_send_modify(ld, e->account_dn, mods, "gwLastLoginTime", e->time, msgid);
}

/// Events waiting on one write: a singly linked list through `link`.
typedef struct { long head, tail; int count; } audit_list;

static void audit_list_push(audit_list *list, long *link, long event) {
    link[event] = -1;
    if (list->tail >= 0) link[list->tail] = event; else list->head = event;
    list->tail = event;
    list->count++;
}

typedef struct {
    int in_flight;
    audit_list open;      // repeats waiting for the next batch
    audit_list sent;      // the batch in flight
    int widen;            // the open batch moves gwLastTime
    const char *widen_time;
    const char *sent_widen_time;
    char dn[256];
} audit_key;

typedef struct {
    int in_flight;
    audit_list open;      // logins waiting; the last one (newest) is written
    audit_list sent;
} audit_account;

typedef struct { int op; int index; } audit_request;

int gwb_audit_pipelined(gwb_conn *conn, const char *events_base, const char *id_prefix,
                        const gwb_audit_event *events, long n, int window, char *error, int error_size) {
    LDAP *ld = conn->ld;
    enum { SLOTS = 1 << 16 };
    int keys = 0, accounts = 0;
    for (long i = 0; i < n; i++) {
        if (events[i].key + 1 > keys) keys = events[i].key + 1;
        if (events[i].account + 1 > accounts) accounts = events[i].account + 1;
    }
    audit_key *key = calloc((size_t)keys + 1, sizeof *key);
    audit_account *account = calloc((size_t)accounts + 1, sizeof *account);
    audit_request *request = calloc(SLOTS, sizeof *request);
    int *pending = calloc((size_t)n, sizeof *pending);
    long *entry_link = malloc((size_t)n * sizeof *entry_link);
    long *login_link = malloc((size_t)n * sizeof *login_link);
    audit_list empty = { -1, -1, 0 };
    for (int k = 0; k < keys; k++) key[k].open = key[k].sent = empty;
    for (int a = 0; a < accounts; a++) account[a].open = account[a].sent = empty;
    int rc = LDAP_SUCCESS;
    long next = 0, done = 0;
    int in_flight = 0;
    char dn[512];
#define FAIL(what) do { set_error(error, error_size, what, ld, rc); goto out; } while (0)
#define TRACK(operation, i) do { request[msgid & (SLOTS - 1)].op = (operation); request[msgid & (SLOTS - 1)].index = (i); } while (0)
#define SETTLE(event) do { if (--pending[event] == 0) { in_flight--; done++; } } while (0)
    while (done < n) {
        while (in_flight < window && next < n) {
            const gwb_audit_event *e = &events[next];
            int msgid = 0;
            long i = next++;
            snprintf(dn, sizeof dn, "gwEventId=%s%ld,%s", id_prefix, i, events_base);
            pending[i] = 1 + (e->last_login ? 1 : 0);
            in_flight++;
            if (e->kind == 0) {
                if ((rc = audit_send_add(ld, dn, e, 0, &msgid)) != LDAP_SUCCESS) FAIL("ldap_add_ext");
                TRACK(AUDIT_OP_ADD, (int)i);
            } else if (e->kind == 1) {
                char filter[512];
                snprintf(filter, sizeof filter, "(&(objectClass=gwLoginEvent)(gwAccountRef=%s)(gwLastTime>=%s))", e->account_dn, e->since);
                char *attributes[] = { "gwLoginType", "gwClientIP", "gwLoginResult", "gwFailureReason", "gwFirstTime", "gwLastTime", NULL };
                LDAPMessage *found = NULL;
                rc = ldap_search_ext_s(ld, events_base, LDAP_SCOPE_ONELEVEL, filter, attributes, 0, NULL, NULL, NULL, 0, &found);
                if (found) ldap_msgfree(found);
                if (rc != LDAP_SUCCESS) FAIL("ldap_search_ext_s");
                if ((rc = audit_send_add(ld, dn, e, 1, NULL)) != LDAP_SUCCESS) FAIL("ldap_add_ext_s");
                snprintf(key[e->key].dn, sizeof key[e->key].dn, "%s", dn);
                SETTLE(i);
            } else {
                audit_key *k = &key[e->key];
                audit_list_push(&k->open, entry_link, i);
                if (e->widen) { k->widen = 1; k->widen_time = e->time; }
            }
            if (e->last_login) audit_list_push(&account[e->account].open, login_link, i);
            // Start the writes nobody is waiting behind.
            if (e->kind == 2 && !key[e->key].in_flight) {
                audit_key *k = &key[e->key];
                k->sent = k->open; k->open = empty;
                k->sent_widen_time = k->widen ? k->widen_time : NULL;
                k->widen = 0;
                if ((rc = audit_send_increment(ld, k->dn, k->sent.count, k->sent_widen_time, &msgid)) != LDAP_SUCCESS) FAIL("ldap_modify_ext");
                TRACK(k->sent_widen_time ? AUDIT_OP_WIDEN : AUDIT_OP_INCREMENT, e->key);
                k->in_flight = 1;
            }
            if (e->last_login && !account[e->account].in_flight) {
                audit_account *a = &account[e->account];
                a->sent = a->open; a->open = empty;
                if ((rc = audit_send_last_login(ld, &events[a->sent.tail], &msgid)) != LDAP_SUCCESS) FAIL("ldap_modify_ext");
                TRACK(AUDIT_OP_LAST_LOGIN, e->account);
                a->in_flight = 1;
            }
            if (pending[i] == 0) { /* settled synchronously */ }
        }
        if (in_flight == 0) continue;
        LDAPMessage *message = NULL;
        int type = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ONE, NULL, &message);
        if (type <= 0) {
            rc = LDAP_SERVER_DOWN;
            FAIL("ldap_result");
        }
        int msgid = ldap_msgid(message);
        audit_request req = request[msgid & (SLOTS - 1)];
        int code = 0;
        rc = ldap_parse_result(ld, message, &code, NULL, NULL, NULL, NULL, 1);
        if (rc != LDAP_SUCCESS) FAIL("ldap_parse_result");
        if (req.op == AUDIT_OP_ADD) {
            if (code != LDAP_SUCCESS) { rc = code; FAIL("add"); }
            SETTLE(req.index);
        } else if (req.op == AUDIT_OP_WIDEN || req.op == AUDIT_OP_INCREMENT) {
            audit_key *k = &key[req.index];
            if (code == LDAP_ASSERTION_FAILED && req.op == AUDIT_OP_WIDEN) {
                // Overtaken by a newer time: count the batch alone, as gwdir does.
                if ((rc = audit_send_increment(ld, k->dn, k->sent.count, NULL, &msgid)) != LDAP_SUCCESS) FAIL("ldap_modify_ext");
                TRACK(AUDIT_OP_INCREMENT, req.index);
                continue;
            }
            if (code != LDAP_SUCCESS) { rc = code; FAIL("increment"); }
            for (long e = k->sent.head; e >= 0; e = (e == k->sent.tail) ? -1 : entry_link[e]) SETTLE(e);
            k->sent = empty;
            k->in_flight = 0;
            if (k->open.count > 0) {
                k->sent = k->open; k->open = empty;
                k->sent_widen_time = k->widen ? k->widen_time : NULL;
                k->widen = 0;
                if ((rc = audit_send_increment(ld, k->dn, k->sent.count, k->sent_widen_time, &msgid)) != LDAP_SUCCESS) FAIL("ldap_modify_ext");
                TRACK(k->sent_widen_time ? AUDIT_OP_WIDEN : AUDIT_OP_INCREMENT, req.index);
                k->in_flight = 1;
            }
        } else {
            audit_account *a = &account[req.index];
            if (code != LDAP_SUCCESS && code != LDAP_ASSERTION_FAILED) { rc = code; FAIL("last login"); }
            for (long e = a->sent.head; e >= 0; e = (e == a->sent.tail) ? -1 : login_link[e]) SETTLE(e);
            a->sent = empty;
            a->in_flight = 0;
            if (a->open.count > 0) {
                a->sent = a->open; a->open = empty;
                if ((rc = audit_send_last_login(ld, &events[a->sent.tail], &msgid)) != LDAP_SUCCESS) FAIL("ldap_modify_ext");
                TRACK(AUDIT_OP_LAST_LOGIN, req.index);
                a->in_flight = 1;
            }
        }
    }
    rc = LDAP_SUCCESS;
out:
#undef FAIL
#undef TRACK
#undef SETTLE
    free(key);
    free(account);
    free(request);
    free(pending);
    free(entry_link);
    free(login_link);
    return rc;
}

int gwb_audit_last_logins(gwb_conn *conn, const gwb_audit_event *events, const long *indexes, long n, int window,
                          char *error, int error_size) {
    LDAP *ld = conn->ld;
    int rc = LDAP_SUCCESS, in_flight = 0;
    long next = 0, done = 0;
    while (done < n) {
        while (in_flight < window && next < n) {
            int msgid = 0;
            if ((rc = audit_send_last_login(ld, &events[indexes[next++]], &msgid)) != LDAP_SUCCESS) {
                set_error(error, error_size, "ldap_modify_ext", ld, rc);
                return rc;
            }
            in_flight++;
        }
        LDAPMessage *message = NULL;
        if (ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ONE, NULL, &message) <= 0) {
            rc = LDAP_SERVER_DOWN;
            set_error(error, error_size, "ldap_result", ld, rc);
            return rc;
        }
        int code = 0;
        if ((rc = ldap_parse_result(ld, message, &code, NULL, NULL, NULL, NULL, 1)) != LDAP_SUCCESS) {
            set_error(error, error_size, "ldap_parse_result", ld, rc);
            return rc;
        }
        if (code != LDAP_SUCCESS && code != LDAP_ASSERTION_FAILED) {
            set_error(error, error_size, "last login", ld, code);
            return code;
        }
        in_flight--;
        done++;
    }
    return LDAP_SUCCESS;
}
