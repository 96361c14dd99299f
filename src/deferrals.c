/* deferrals: delivery's memory of rows its pacing put back, kept apart from
 * the rate limiter so that the shaper knows credentials and the queue's rows
 * are known only to delivery, which owns them. */
#include "deferrals.h"

#include <pthread.h>
#include <stdlib.h>

/* Hash buckets: a backlog of thousands of rows paused at once still means
 * short chains. */
#define DEFERRAL_BUCKETS 1024

typedef struct deferral {
    struct deferral *next;
    int64_t row_id;
    int count;
    int booked; /* the row was put back holding a booked slot */
} deferral;

struct deferrals {
    pthread_mutex_t lock;
    deferral *chains[DEFERRAL_BUCKETS];
};

deferrals *deferrals_new(void)
{
    deferrals *d = calloc(1, sizeof(*d));
    if (d != NULL)
        pthread_mutex_init(&d->lock, NULL);
    return d;
}

void deferrals_free(deferrals *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < DEFERRAL_BUCKETS; i++) {
        for (deferral *e = d->chains[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* The list head for row_id's hash chain. Called locked. */
static deferral **chain_of(deferrals *d, int64_t row_id)
{
    return &d->chains[(uint64_t)row_id % DEFERRAL_BUCKETS];
}

/* The row's entry, created when create is set. Called locked. */
static deferral *find(deferrals *d, int64_t row_id, int create)
{
    deferral **chain = chain_of(d, row_id);
    deferral *e = *chain;
    while (e != NULL && e->row_id != row_id)
        e = e->next;
    if (e == NULL && create && (e = calloc(1, sizeof(*e))) != NULL) {
        e->row_id = row_id;
        e->next = *chain;
        *chain = e;
    }
    return e;
}

void deferrals_note(deferrals *d, int64_t row_id, int booked)
{
    pthread_mutex_lock(&d->lock);
    deferral *e = find(d, row_id, 1);
    if (e != NULL) {
        e->count++;
        e->booked = booked;
    }
    pthread_mutex_unlock(&d->lock);
}

int deferrals_count(deferrals *d, int64_t row_id)
{
    pthread_mutex_lock(&d->lock);
    deferral *e = find(d, row_id, 0);
    int n = e != NULL ? e->count : 0;
    pthread_mutex_unlock(&d->lock);
    return n;
}

int deferrals_take_booking(deferrals *d, int64_t row_id)
{
    pthread_mutex_lock(&d->lock);
    deferral *e = find(d, row_id, 0);
    int booked = e != NULL && e->booked;
    if (e != NULL)
        e->booked = 0;
    pthread_mutex_unlock(&d->lock);
    return booked;
}

void deferrals_forget(deferrals *d, int64_t row_id)
{
    pthread_mutex_lock(&d->lock);
    for (deferral **p = chain_of(d, row_id); *p != NULL; p = &(*p)->next) {
        if ((*p)->row_id == row_id) {
            deferral *gone = *p;
            *p = gone->next;
            free(gone);
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
}
