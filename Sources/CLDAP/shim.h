#ifndef GWDIR_CLDAP_SHIM_H
#define GWDIR_CLDAP_SHIM_H
// Deprecated entry points (ldap_get_values etc.) stay hidden; the wrapper uses only the _ext/_len API.
#include <lber.h>
#include <ldap.h>
#include <sasl/sasl.h>
#endif
