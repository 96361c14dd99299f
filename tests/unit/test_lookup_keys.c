/* Tests for lookup_keys.c: the keys resolve finds a meeting by are copied
 * deeply (an event and its update free their own), emails stay unique in any
 * case, and clear leaves a struct ready for reuse. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "lookup_keys.h"
#include "update.h"

static void fill(lookup_keys *k)
{
    lookup_keys_init(k);
    k->zoom_meeting_id = strdup("85746065432");
    k->join_url = strdup("https://zoom.us/j/85746065432");
    k->calendar_event_id = strdup("AAMkAGI2TAAA=");
    k->ical_uid = strdup("040000008200E00074C5B7101A82E008");
    k->start_time = strdup("2026-11-25T09:00:00Z");
    k->calendar_type = strdup("microsoft");
    cr_assert_eq(lookup_keys_add_email(k, "dana@acme.example"), 0);
    cr_assert_eq(lookup_keys_add_email(k, "host@seller.example"), 0);
}

static void expect_same_but_not_shared(const char *got, const char *want)
{
    cr_assert_not_null(got);
    cr_expect_str_eq(got, want);
    cr_expect_neq((void *)got, (void *)want, "the copy must own its own string");
}

Test(lookup_keys, init_is_all_null)
{
    lookup_keys k;
    memset(&k, 0xab, sizeof(k));
    lookup_keys_init(&k);
    cr_expect_null(k.zoom_meeting_id);
    cr_expect_null(k.join_url);
    cr_expect_null(k.calendar_event_id);
    cr_expect_null(k.ical_uid);
    cr_expect_null(k.start_time);
    cr_expect_null(k.calendar_type);
    cr_expect_null(k.attendee_emails);
    cr_expect_eq(k.nattendee_emails, 0);
}

Test(lookup_keys, add_email_skips_empty_and_duplicates_in_any_case)
{
    lookup_keys k = {0};
    cr_assert_eq(lookup_keys_add_email(&k, "Dana@Acme.example"), 0);
    cr_assert_eq(lookup_keys_add_email(&k, "dana@acme.EXAMPLE"), 0);
    cr_assert_eq(lookup_keys_add_email(&k, ""), 0);
    cr_assert_eq(lookup_keys_add_email(&k, NULL), 0);
    cr_assert_eq(lookup_keys_add_email(&k, "host@seller.example"), 0);
    cr_assert_eq(k.nattendee_emails, 2);
    cr_expect_str_eq(k.attendee_emails[0], "Dana@Acme.example", "the first spelling is kept");
    cr_expect_str_eq(k.attendee_emails[1], "host@seller.example");
    lookup_keys_clear(&k);
}

Test(lookup_keys, copy_is_deep_and_complete)
{
    lookup_keys src, dst = {0};
    fill(&src);
    cr_assert_eq(lookup_keys_copy(&dst, &src), 0);
    expect_same_but_not_shared(dst.zoom_meeting_id, src.zoom_meeting_id);
    expect_same_but_not_shared(dst.join_url, src.join_url);
    expect_same_but_not_shared(dst.calendar_event_id, src.calendar_event_id);
    expect_same_but_not_shared(dst.ical_uid, src.ical_uid);
    expect_same_but_not_shared(dst.start_time, src.start_time);
    expect_same_but_not_shared(dst.calendar_type, src.calendar_type);
    cr_assert_eq(dst.nattendee_emails, 2);
    expect_same_but_not_shared(dst.attendee_emails[0], src.attendee_emails[0]);
    expect_same_but_not_shared(dst.attendee_emails[1], src.attendee_emails[1]);
    lookup_keys_clear(&src);
    cr_expect_str_eq(dst.ical_uid, "040000008200E00074C5B7101A82E008", "the copy outlives the original");
    lookup_keys_clear(&dst);
}

Test(lookup_keys, copy_of_empty_keys_replaces_what_dst_held)
{
    lookup_keys src = {0}, dst;
    fill(&dst);
    cr_assert_eq(lookup_keys_copy(&dst, &src), 0);
    cr_expect_null(dst.zoom_meeting_id);
    cr_expect_null(dst.calendar_type);
    cr_expect_eq(dst.nattendee_emails, 0);
    cr_expect_null(dst.attendee_emails);
}

Test(lookup_keys, clear_frees_and_reinitializes)
{
    lookup_keys k;
    fill(&k);
    lookup_keys_clear(&k);
    cr_expect_null(k.zoom_meeting_id);
    cr_expect_null(k.attendee_emails);
    cr_expect_eq(k.nattendee_emails, 0);
    lookup_keys_clear(&k); /* twice is harmless */
    cr_assert_eq(lookup_keys_add_email(&k, "again@acme.example"), 0, "reusable after clear");
    cr_expect_eq(k.nattendee_emails, 1);
    lookup_keys_clear(&k);
}

Test(lookup_keys, update_clear_frees_its_keys)
{
    close_update u = {0};
    u.keys.zoom_meeting_id = strdup("85746065432");
    cr_assert_eq(lookup_keys_add_email(&u.keys, "dana@acme.example"), 0);
    cr_expect_eq(u.keys.nattendee_emails, 1);
    update_clear(&u);
    cr_expect_null(u.keys.zoom_meeting_id);
    cr_expect_eq(u.keys.nattendee_emails, 0);
}

Test(lookup_keys, event_clear_frees_its_keys)
{
    meeting_event ev = {.sender = "zoom"};
    fill(&ev.keys);
    ev.event_type = strdup("meeting.ended");
    meeting_event_clear(&ev);
    cr_expect_null(ev.keys.zoom_meeting_id);
    cr_expect_eq(ev.keys.nattendee_emails, 0);
}
