#include "CLDAPShims.h"

void *gw_ldap_opt_on(void) { return LDAP_OPT_ON; }

int gw_read_entry_control_value(char **attrs, struct berval *out) {
    BerElement *ber = ber_alloc_t(LBER_USE_DER);
    if (ber == NULL) return LDAP_NO_MEMORY;
    if (ber_printf(ber, "{v}", attrs) == -1 || ber_flatten2(ber, out, 1) == -1) {
        ber_free(ber, 1);
        return LDAP_ENCODING_ERROR;
    }
    ber_free(ber, 1);
    return LDAP_SUCCESS;
}

BerElement *gw_read_entry_begin(const struct berval *value, struct berval *dn) {
    BerElement *ber = ber_init((struct berval *)value);
    if (ber == NULL) return NULL;
    if (ber_scanf(ber, "{m{", dn) == LBER_ERROR) {
        ber_free(ber, 1);
        return NULL;
    }
    return ber;
}

int gw_read_entry_next(BerElement *ber, struct berval *type, BerVarray *values) {
    ber_len_t len;
    ber_tag_t tag = ber_peek_tag(ber, &len);
    if (tag == LBER_ERROR || tag == LBER_DEFAULT || tag != LBER_SEQUENCE) return 0;
    *values = NULL;
    if (ber_scanf(ber, "{m[W]}", type, values) == LBER_ERROR) return -1;
    return 1;
}

int gw_enable_readahead(LDAP *ld) {
    Sockbuf *sb = NULL;
    if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL) return -1;
    return ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER, NULL);
}
