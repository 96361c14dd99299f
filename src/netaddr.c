/* netaddr: who sent a request, believing forwarding headers only from the
 * proxies an operator trusts; anyone else could write any X-Forwarded-For. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest textual IPv6 address plus a little slack for brackets and ports. */
#define NETADDR_TEXT_MAX 64
/* A forwarding chain longer than this is not one our proxies produce. */
#define NETADDR_MAX_HOPS 32

static void map_v4(const unsigned char v4[4], netaddr *out)
{
    memset(out->bytes, 0, 10);
    out->bytes[10] = 0xff;
    out->bytes[11] = 0xff;
    memcpy(out->bytes + 12, v4, 4);
}

static int is_mapped_v4(const netaddr *a)
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->bytes, prefix, sizeof(prefix)) == 0;
}

int netaddr_parse(const char *text, size_t len, netaddr *out)
{
    char buf[NETADDR_TEXT_MAX];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    unsigned char v4[4];
    if (inet_pton(AF_INET, buf, v4) == 1) {
        map_v4(v4, out);
        return 0;
    }
    return inet_pton(AF_INET6, buf, out->bytes) == 1 ? 0 : -1;
}

int netaddr_parse_cidr(const char *text, netaddr_cidr *out)
{
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);
    if (netaddr_parse(text, len, &out->addr) != 0)
        return -1;
    int v4 = is_mapped_v4(&out->addr) && strchr(text, ':') == NULL;
    int max = v4 ? 32 : 128;
    int prefix = max;
    if (slash != NULL) {
        char *end = NULL;
        long p = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || p < 0 || p > max)
            return -1;
        prefix = (int)p;
    }
    out->prefix = v4 ? prefix + 96 : prefix;
    return 0;
}

int netaddr_list_add(netaddr_list *list, const char *text)
{
    netaddr_cidr c;
    if (netaddr_parse_cidr(text, &c) != 0)
        return -1;
    netaddr_cidr *grown = realloc(list->items, (list->count + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    list->items = grown;
    list->items[list->count++] = c;
    return 0;
}

void netaddr_list_free(netaddr_list *list)
{
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static int cidr_contains(const netaddr_cidr *c, const netaddr *a)
{
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr.bytes, a->bytes, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (c->addr.bytes[full] & mask) == (a->bytes[full] & mask);
}

int netaddr_list_contains(const netaddr_list *list, const netaddr *a)
{
    for (size_t i = 0; list != NULL && i < list->count; i++)
        if (cidr_contains(&list->items[i], a))
            return 1;
    return 0;
}

int netaddr_from_sockaddr(const struct sockaddr *sa, netaddr *out)
{
    if (sa->sa_family == AF_INET) {
        map_v4((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr, out);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

void netaddr_format(const netaddr *a, char *out, size_t outlen)
{
    if (is_mapped_v4(a))
        inet_ntop(AF_INET, a->bytes + 12, out, (socklen_t)outlen);
    else
        inet_ntop(AF_INET6, a->bytes, out, (socklen_t)outlen);
}

/* One hop of a chain: trims spaces and quotes, a Forwarded "[v6]:port" or
 * "v4:port". -1 when it is not an address ("unknown", an obfuscated id). */
static int parse_hop(const char *s, size_t len, netaddr *out)
{
    while (len > 0 && (*s == ' ' || *s == '"'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '"'))
        len--;
    if (len > 0 && *s == '[') {
        const char *close = memchr(s, ']', len);
        return close ? netaddr_parse(s + 1, (size_t)(close - s - 1), out) : -1;
    }
    const char *colon = memchr(s, ':', len);
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) == NULL)
        len = (size_t)(colon - s); /* v4:port */
    return netaddr_parse(s, len, out);
}

/* The hops of "a, b, c" (XFF) or of the for= parameters of a Forwarded
 * header, in order. Returns the count, or -1 when any hop is malformed. */
static int chain_hops(const char *v, size_t len, int forwarded, netaddr *hops, int max)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && v[i] != ',' && (!forwarded || v[i] != ';'))
            continue;
        const char *part = v + start;
        size_t plen = i - start;
        start = i + 1;
        if (forwarded) {
            while (plen > 0 && *part == ' ')
                part++, plen--;
            if (plen < 4 || strncasecmp(part, "for=", 4) != 0)
                continue; /* by=, proto=, host= */
            part += 4, plen -= 4;
        }
        if (n == max || parse_hop(part, plen, &hops[n]) != 0)
            return -1;
        n++;
    }
    return n;
}

netaddr netaddr_client(const netaddr *peer, const netaddr_list *trusted, const char *forwarded,
                       size_t forwarded_len, const char *xff, size_t xff_len)
{
    if (!netaddr_list_contains(trusted, peer))
        return *peer;
    netaddr hops[NETADDR_MAX_HOPS];
    int n = forwarded != NULL ? chain_hops(forwarded, forwarded_len, 1, hops, NETADDR_MAX_HOPS)
            : xff != NULL     ? chain_hops(xff, xff_len, 0, hops, NETADDR_MAX_HOPS)
                              : 0;
    if (n <= 0)
        return *peer;
    /* Right to left: each trusted proxy vouches for the hop before it. */
    for (int i = n - 1; i >= 0; i--)
        if (!netaddr_list_contains(trusted, &hops[i]))
            return hops[i];
    return hops[0];
}
