/* Tests for netaddr: CIDR matching and the client behind trusted proxies. */
#include <criterion/criterion.h>
#include <string.h>

#include "netaddr.h"

static netaddr ip(const char *s)
{
    netaddr a;
    cr_assert_eq(netaddr_parse(s, strlen(s), &a), 0, "%s", s);
    return a;
}

static int contains(const netaddr_list *l, const char *s)
{
    netaddr a = ip(s);
    return netaddr_list_contains(l, &a);
}

static const char *text(netaddr a)
{
    static char buf[64];
    netaddr_format(&a, buf, sizeof(buf));
    return buf;
}

static netaddr_list trusted_list(void)
{
    netaddr_list l = {0};
    cr_assert_eq(netaddr_list_add(&l, "10.0.0.0/8"), 0);
    cr_assert_eq(netaddr_list_add(&l, "127.0.0.1"), 0);
    cr_assert_eq(netaddr_list_add(&l, "fd00::/8"), 0);
    return l;
}

Test(netaddr, cidr_matching_with_boundaries_in_both_families)
{
    netaddr_list l = trusted_list();
    cr_expect(contains(&l, "10.0.0.0"));
    cr_expect(contains(&l, "10.255.255.255"));
    cr_expect_not(contains(&l, "11.0.0.0"));
    cr_expect_not(contains(&l, "9.255.255.255"));
    cr_expect(contains(&l, "127.0.0.1"));
    cr_expect_not(contains(&l, "127.0.0.2"), "a bare address is a /32");
    cr_expect(contains(&l, "fd12::1"));
    cr_expect_not(contains(&l, "fe80::1"));
    cr_expect(contains(&l, "::ffff:10.1.2.3"), "IPv4-mapped peers of a dual-stack socket match IPv4 ranges");
    netaddr_list_free(&l);
}

Test(netaddr, odd_prefixes_and_bad_input)
{
    netaddr_list l = {0};
    cr_assert_eq(netaddr_list_add(&l, "3.7.35.0/25"), 0); /* a Zoom range */
    cr_expect(contains(&l, "3.7.35.127"));
    cr_expect_not(contains(&l, "3.7.35.128"));
    const char *bad[] = {"",  "10.0.0.0/33", "10.0.0.0/",   "10.0.0/8",
                         "x", "::1/129",     "10.0.0.0/8x", "1.2.3.4 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(netaddr_list_add(&l, bad[i]), -1, "\"%s\" must be refused", bad[i]);
    cr_expect_eq(l.count, 1);
    netaddr_list_free(&l);
}

Test(netaddr, forwarding_headers_from_an_untrusted_peer_are_ignored)
{
    netaddr_list l = trusted_list();
    netaddr peer = ip("198.51.100.7");
    const char *xff = "203.0.113.9";
    cr_expect_str_eq(text(netaddr_client(&peer, &l, NULL, 0, xff, strlen(xff))), "198.51.100.7");
    netaddr_list_free(&l);
}

Test(netaddr, client_is_the_rightmost_untrusted_hop)
{
    netaddr_list l = trusted_list();
    netaddr peer = ip("10.0.0.5");
    /* a client may prepend anything; only what our proxies appended counts */
    const char *xff = "1.1.1.1, 203.0.113.9, 10.0.0.9";
    cr_expect_str_eq(text(netaddr_client(&peer, &l, NULL, 0, xff, strlen(xff))), "203.0.113.9");
    const char *fwd = "for=1.1.1.1, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.9";
    cr_expect_str_eq(text(netaddr_client(&peer, &l, fwd, strlen(fwd), xff, strlen(xff))), "2001:db8::7",
                     "Forwarded wins over X-Forwarded-For");
    const char *v4port = "for=203.0.113.44:5555";
    cr_expect_str_eq(text(netaddr_client(&peer, &l, v4port, strlen(v4port), NULL, 0)), "203.0.113.44");
    netaddr_list_free(&l);
}

Test(netaddr, malformed_chain_leaves_the_peer)
{
    netaddr_list l = trusted_list();
    netaddr peer = ip("10.0.0.5");
    const char *xff = "203.0.113.9, not-an-ip";
    cr_expect_str_eq(text(netaddr_client(&peer, &l, NULL, 0, xff, strlen(xff))), "10.0.0.5");
    cr_expect_str_eq(text(netaddr_client(&peer, &l, NULL, 0, NULL, 0)), "10.0.0.5");
    netaddr_list_free(&l);
}
