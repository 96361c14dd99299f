/* grow: doubling growth for append-only arrays (see grow.h). */
#include "grow.h"

#include <stdint.h>
#include <stdlib.h>

void *grow_for_one_more(void *items, size_t *cap, size_t count, size_t elem, size_t first)
{
    if (count < *cap)
        return items;
    size_t next = *cap ? *cap * 2 : first;
    if (next < *cap || elem == 0 || next > SIZE_MAX / elem)
        return NULL;
    void *grown = realloc(items, next * elem);
    if (grown != NULL)
        *cap = next;
    return grown;
}
