#ifndef GWDIR_CLDAP_SHIM_H
#define GWDIR_CLDAP_SHIM_H
// Deprecated entry points (ldap_get_values etc.) stay hidden; the wrapper uses only the _ext/_len API.
#include <lber.h>
#include <ldap.h>
#include <sasl/sasl.h>
#include <pthread.h>

// A GNU extension glibc declares only under _GNU_SOURCE, which Swift's Glibc module is not
// built with: declared here so LDAPClient's connection thread can name itself (ps, top, perf).
int pthread_setname_np(pthread_t thread, const char *name);
#endif
