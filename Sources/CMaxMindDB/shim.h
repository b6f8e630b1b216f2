#ifndef GWDIR_CMAXMINDDB_SHIM_H
#define GWDIR_CMAXMINDDB_SHIM_H
// libmaxminddb (Debian: libmaxminddb-dev). GeoIP calls only the non-variadic API
// (MMDB_lookup_sockaddr, MMDB_aget_value), so no C shim functions are needed.
#include <netinet/in.h>
#include <sys/socket.h>
#include <maxminddb.h>
#endif
