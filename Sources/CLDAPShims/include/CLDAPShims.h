#ifndef GWDIR_CLDAP_SHIMS_H
#define GWDIR_CLDAP_SHIMS_H
// Only what Swift cannot call directly lives here: libldap's variadic BER encoder/decoder
// (ber_printf/ber_scanf) and pointer-valued macros such as LDAP_OPT_ON.
#include <lber.h>
#include <ldap.h>

/// LDAP_OPT_ON expands to the address of a private global; Swift cannot import that macro.
void *gw_ldap_opt_on(void);

/// Encodes the value of a pre/post-read request control (RFC 4527): a SEQUENCE OF attribute
/// names. `attrs` is NULL-terminated. On success `out->bv_val` must be freed with ber_memfree.
int gw_read_entry_control_value(char **attrs, struct berval *out);

/// Starts decoding the SearchResultEntry carried by a pre/post-read response control.
/// `dn` points into the returned BerElement, which the caller frees with ber_free(ber, 1).
BerElement *gw_read_entry_begin(const struct berval *value, struct berval *dn);

/// Reads the next attribute of that entry. Returns 1 with `type` (pointing into `ber`) and
/// `values` (free with ber_bvarray_free), 0 at the end, -1 on a decoding error.
int gw_read_entry_next(BerElement *ber, struct berval *type, BerVarray *values);

/// Adds liblber's read-ahead layer under the connection's socket buffer, so one read(2) brings in
/// many LDAP messages instead of two reads per message. Takes the address of a C global
/// (ber_sockbuf_io_readahead), which Swift cannot do safely. Returns 0 on success.
int gw_enable_readahead(LDAP *ld);

#endif
