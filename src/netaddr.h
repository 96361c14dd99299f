/* netaddr: IP addresses and CIDR lists, for the two questions closehook asks
 * about a request's origin: which client sent it (X-Forwarded-For / Forwarded
 * are believed only from configured trusted proxies), and whether a route
 * accepts that client (a per-route allow-list, e.g. Zoom's published ranges).
 * Pure functions over bytes; safe from any thread. */
#ifndef CLOSEHOOK_NETADDR_H
#define CLOSEHOOK_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* An address: IPv4 is kept as an IPv4-mapped IPv6 address (::ffff:a.b.c.d), so
 * one comparison covers both families and a dual-stack socket's peers. */
typedef struct netaddr {
    unsigned char bytes[16];
} netaddr;

typedef struct netaddr_cidr {
    netaddr addr;
    int prefix; /* 0..128, over the mapped form */
} netaddr_cidr;

typedef struct netaddr_list {
    netaddr_cidr *items;
    size_t count;
} netaddr_list;

/* "192.0.2.1", "2001:db8::1" (len bytes, no brackets). 0, or -1 if not an IP. */
int netaddr_parse(const char *text, size_t len, netaddr *out);
/* "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or /128). */
int netaddr_parse_cidr(const char *text, netaddr_cidr *out);
/* Appends a parsed CIDR; -1 when text is not one (or out of memory). */
int netaddr_list_add(netaddr_list *list, const char *text);
void netaddr_list_free(netaddr_list *list);
int netaddr_list_contains(const netaddr_list *list, const netaddr *a);

/* The address of a socket peer; -1 for non-IP families. */
int netaddr_from_sockaddr(const struct sockaddr *sa, netaddr *out);
/* Text form: dotted quad for IPv4, RFC 5952 for IPv6. out needs 46 bytes. */
void netaddr_format(const netaddr *a, char *out, size_t outlen);

/* The client behind a peer: when the peer is a trusted proxy, the right-most
 * address of the forwarding chain that is not itself trusted (the Forwarded
 * header's for= values when present, else X-Forwarded-For); otherwise the peer
 * itself. A chain with a malformed entry is ignored (the peer stands).
 * Header values may be NULL (absent). */
netaddr netaddr_client(const netaddr *peer, const netaddr_list *trusted, const char *forwarded,
                       size_t forwarded_len, const char *xff, size_t xff_len);

#endif
