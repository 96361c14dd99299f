/* grow: the one way closehook grows an array it appends to, doubling its
 * capacity, so the overflow check and the first size are written once.
 *
 * Pure, any thread (the caller owns the array and its lock). */
#ifndef CLOSEHOOK_GROW_H
#define CLOSEHOOK_GROW_H

#include <stddef.h>

/* Makes room for one more element after count elements of elem bytes in
 * items (capacity *cap; NULL and 0 when empty). Returns the array to use from
 * now on (items itself when there was room) with *cap updated, or NULL when
 * out of memory or the size would overflow; items is then unchanged and
 * still the caller's. first: the capacity of a new array. */
void *grow_for_one_more(void *items, size_t *cap, size_t count, size_t elem, size_t first);

#endif
