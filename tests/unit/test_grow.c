/* Tests for grow.c: doubling from the first capacity, no change while there
 * is room, and a size that would overflow refused with the array untouched. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "grow.h"

Test(grow, starts_at_first_then_doubles_only_when_full)
{
    int *items = NULL;
    size_t cap = 0;
    for (size_t n = 0; n < 40; n++) {
        int *grown = grow_for_one_more(items, &cap, n, sizeof(*grown), 8);
        cr_assert_not_null(grown);
        items = grown;
        items[n] = (int)n;
        cr_expect(cap == 8 || cap == 16 || cap == 32 || cap == 64, "cap %zu", cap);
        cr_expect_gt(cap, n);
    }
    cr_expect_eq(cap, 64);
    for (int i = 0; i < 40; i++)
        cr_expect_eq(items[i], i, "kept across reallocs");
    free(items);
}

Test(grow, room_left_returns_the_same_array)
{
    char buf[4];
    size_t cap = 4;
    cr_expect_eq(grow_for_one_more(buf, &cap, 3, 1, 8), buf);
    cr_expect_eq(cap, 4);
}

Test(grow, an_overflowing_size_is_refused_and_nothing_changes)
{
    size_t cap = SIZE_MAX / 2 + 1;
    char token;
    cr_expect_null(grow_for_one_more(&token, &cap, cap, 1, 8), "doubling would wrap");
    cr_expect_eq(cap, SIZE_MAX / 2 + 1);
    cap = 4;
    cr_expect_null(grow_for_one_more(&token, &cap, 4, SIZE_MAX / 4, 8), "bytes would overflow");
    cr_expect_eq(cap, 4);
}
