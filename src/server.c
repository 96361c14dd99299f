/* server: the inbound HTTP side. Each listen address is bound once (so a
 * second daemon on the port fails to start); each event-loop thread owns an
 * h2o context and its own dup() of every listen socket, so the loops all
 * accept from the one socket and no lock sits on the request path. A webhook's answer waits for
 * the queue's group commit: the handler hands the jobs to the writer thread and
 * returns; the writer wakes this loop through an h2o multithread queue, and the
 * loop sends the 202. The request may have gone away by then (client closed),
 * which the request pool's dispose callback tells us. */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/multithread.h>

#include "answer.h"
#include "intake.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

/* How long a loop sleeps in epoll at most, so a stop request is seen promptly. */
#define SERVER_LOOP_TICK_MS 100
#define SERVER_LISTEN_BACKLOG 1024
/* How long a stopping loop waits for idle keep-alive connections to close:
 * h2o closes them on its HTTP/1 request timeout, 10 s by default, plus a tick. */
#define SERVER_CLOSE_GRACE_MS (H2O_DEFAULT_HTTP1_REQ_TIMEOUT + 1000)
/* Once the listeners are closed, the HTTP/1 request timeout drops to this: an
 * idle keep-alive connection (a load balancer's pool) is closed after a second
 * of silence instead of ten, while a client still sending a body keeps its
 * grace between reads. h2o 2.2 has no HTTP/1 graceful shutdown of its own. */
#define SERVER_DRAIN_IDLE_MS 1000

typedef struct server_thread server_thread;

struct server {
    _Atomic(const config *) cfg; /* swapped by server_set_config on reload */
    _Atomic(SSL_CTX *) *tls;     /* per listener; NULL for plain HTTP */
    SSL_CTX **retired_tls;       /* replaced by reloads; freed with the server */
    size_t nretired_tls;
    queue *q;
    h2o_globalconf_t globalconf;
    int nthreads;
    server_thread *threads;
    atomic_int stopping;
};

/* What one listen socket of one loop needs at accept time. */
typedef struct listener_slot {
    listener_watch watch; /* accepts, backing off when out of descriptors */
    h2o_accept_ctx_t accept_ctx;
    server *srv;
    size_t index; /* into cfg->listeners and srv->tls */
} listener_slot;

struct server_thread {
    server *srv;
    pthread_t tid;
    h2o_context_t ctx;
    listener_slot *slots; /* one per listener */
    h2o_multithread_queue_t *mq;
    h2o_multithread_receiver_t committed;
    int *fds;     /* per listener: this loop's dup of the listen socket; -1 once watched */
    long waiting; /* webhooks waiting for their commit (loop thread only) */
};

/* The config in force. A request reads it once per use; a retired config stays
 * allocated until exit (main keeps it), so a request that began under it ends
 * under it safely. */
static const config *current_config(void *arg)
{
    return atomic_load(&((server *)arg)->cfg);
}

typedef struct pending_token pending_token;

/* One webhook waiting for the queue writer. Heap-allocated because it outlives
 * the request when the client disconnects first. */
typedef struct pending_webhook {
    h2o_multithread_message_t message; /* first: the receiver gets this pointer */
    server_thread *thread;
    h2o_req_t *req;       /* NULL once the request was disposed */
    pending_token *token; /* in req->pool; NULL once disposed */
    atomic_size_t remaining;
    intake_batch batch; /* the jobs, moved out of intake's outcome */
} pending_webhook;

struct pending_token {
    pending_webhook *pending;
};

/* ---- between h2o and intake ---- */

static const char *lookup_header(void *ctx, const char *name, size_t *len)
{
    h2o_req_t *req = ctx;
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

/* The request view intake decides on; borrows from req. */
static intake_request request_view(h2o_req_t *req, const config *cfg)
{
    int has_query = req->query_at != SIZE_MAX;
    return (intake_request){
        .method = req->method.base,
        .method_len = req->method.len,
        .query = has_query ? req->path.base + req->query_at + 1 : NULL,
        .query_len = has_query ? req->path.len - req->query_at - 1 : 0,
        .header = lookup_header,
        .header_ctx = req,
        .body = req->entity.base ? req->entity.base : "",
        .body_len = req->entity.base ? req->entity.len : 0,
        .client = answer_client(req, cfg),
        .request_id = answer_request_id(req).base,
        .now = time(NULL),
    };
}

/* Sends an outcome that is an answer (anything but INTAKE_SUBMIT). */
static void answer_outcome(h2o_req_t *req, const intake_outcome *out)
{
    switch (out->kind) {
    case INTAKE_ERROR:
        answer_error(req, out->status, out->reason, out->error, out->detail);
        break;
    case INTAKE_UNAVAILABLE:
        answer_unavailable(req, out->detail);
        break;
    case INTAKE_NOT_ALLOWED:
        answer_method_not_allowed(req, out->allow);
        break;
    case INTAKE_STATUS:
        answer_status(req, out->status, out->reason, out->state, out->key, out->key ? out->detail : NULL);
        break;
    case INTAKE_BODY:
        answer_body(req, out->status, out->reason, out->content_type, out->body ? out->body : "",
                    out->body_len);
        break;
    case INTAKE_SUBMIT:
        break;
    }
}

/* ---- the commit handoff ---- */

static void pending_free(pending_webhook *p)
{
    intake_batch_clear(&p->batch);
    free(p);
}

/* The request's pool is going away (answered, or the client left). */
static void on_token_dispose(void *mem)
{
    pending_token *token = mem;
    if (token->pending != NULL) {
        token->pending->req = NULL;
        token->pending->token = NULL;
    }
}

/* Writer thread: one job of the webhook is settled; the last one wakes the loop. */
static void on_job_done(queue_job *job)
{
    pending_webhook *p = job->owner;
    if (atomic_fetch_sub(&p->remaining, 1) == 1)
        h2o_multithread_send_message(&p->thread->committed, &p->message);
}

/* Loop thread: webhooks whose commit finished. */
static void on_committed(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        pending_webhook *p = (pending_webhook *)m;
        p->thread->waiting--;
        if (p->req != NULL) {
            p->token->pending = NULL; /* answered: the dispose must not touch p */
            intake_outcome out;
            intake_settle(&p->batch, answer_request_id(p->req).base, &out);
            answer_outcome(p->req, &out);
            intake_outcome_clear(&out);
        }
        pending_free(p);
    }
}

/* Hands intake's jobs to the writer (taking them out of *batch); the answer
 * comes from on_committed on this thread. */
static void submit_batch(server_thread *thread, h2o_req_t *req, intake_batch *batch)
{
    pending_webhook *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        answer_unavailable(req, "out of memory");
        return;
    }
    p->thread = thread;
    p->batch = *batch;
    memset(batch, 0, sizeof(*batch));
    p->req = req;
    p->token = h2o_mem_alloc_shared(&req->pool, sizeof(pending_token), on_token_dispose);
    p->token->pending = p;
    atomic_store(&p->remaining, p->batch.njobs);
    thread->waiting++;
    /* p stays alive until on_committed runs on this very thread, which cannot
     * happen before this function returns to the loop. */
    for (size_t i = 0; i < p->batch.njobs; i++) {
        p->batch.jobs[i].owner = p;
        p->batch.jobs[i].on_done = on_job_done;
        queue_submit(thread->srv->q, &p->batch.jobs[i]);
    }
}

/* POST /hooks/<route>: intake decides, this side answers or submits. */
static int handle_hook(server_thread *thread, h2o_req_t *req, const route *rt)
{
    const config *cfg = current_config(thread->srv);
    intake_request view = request_view(req, cfg);
    intake_outcome out;
    intake_handle(cfg, thread->srv->q, rt, &view, &out);
    if (out.kind == INTAKE_SUBMIT)
        submit_batch(thread, req, &out.batch);
    else
        answer_outcome(req, &out);
    intake_outcome_clear(&out);
    return 0;
}

/* RFC 9112 3.2.2: a server must accept the absolute-form request target
 * ("POST http://host/hooks/zoom"). h2o 2.2 keeps it whole in req->path, so no
 * route would match; the origin-form part is taken and normalised as h2o
 * normalises any other path (the authority is Host's business). */
static void accept_absolute_form(h2o_req_t *req)
{
    h2o_iovec_t p = req->path;
    size_t skip = 0;
    if (p.len > 7 && strncasecmp(p.base, "http://", 7) == 0)
        skip = 7;
    else if (p.len > 8 && strncasecmp(p.base, "https://", 8) == 0)
        skip = 8;
    else
        return;
    const char *slash = memchr(p.base + skip, '/', p.len - skip);
    if (slash == NULL)
        return; /* "http://host" alone: no route; h2o's 404 stands */
    req->path = h2o_iovec_init(slash, p.len - (size_t)(slash - p.base));
    size_t *norm_indexes = NULL;
    req->path_normalized =
        h2o_url_normalize_path(&req->pool, req->path.base, req->path.len, &req->query_at, &norm_indexes);
    req->norm_indexes = norm_indexes;
}

static int on_req(h2o_handler_t *handler, h2o_req_t *req)
{
    (void)handler;
    accept_absolute_form(req);
    server_thread *thread = H2O_STRUCT_FROM_MEMBER(server_thread, ctx, req->conn->ctx);
    h2o_iovec_t path = req->path_normalized;
    int is_get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
                 h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));

    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        if (!is_get)
            answer_method_not_allowed(req, "GET, HEAD");
        else
            answer_status(req, 200, "OK", "ok", NULL, NULL);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/readyz"))) {
        if (!is_get) {
            answer_method_not_allowed(req, "GET, HEAD");
        } else if (atomic_load(&thread->srv->stopping)) {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                           H2O_STRLIT(ANSWER_RETRY_AFTER));
            answer_status(req, 503, "Service Unavailable", "stopping", NULL, NULL);
        } else if (queue_store_lost(thread->srv->q)) {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                           H2O_STRLIT(ANSWER_RETRY_AFTER));
            answer_status(req, 503, "Service Unavailable", "store_lost", NULL, NULL);
        } else {
            answer_status(req, 200, "OK", "ready", NULL, NULL);
        }
        return 0;
    }
    size_t prefix = sizeof(HOOKS_PREFIX) - 1;
    if (path.len > prefix && memcmp(path.base, HOOKS_PREFIX, prefix) == 0) {
        const route *rt =
            config_find_route(current_config(thread->srv), path.base + prefix, path.len - prefix);
        if (rt != NULL)
            return handle_hook(thread, req, rt);
    }
    answer_error(req, 404, "Not Found", "not_found", NULL);
    return 0;
}

/* ---- sockets and loops ---- */

static void on_accept(listener_watch *watch, h2o_socket_t *sock)
{
    listener_slot *slot = watch->data;
    /* The TLS context in force now: a SIGHUP may have loaded a new certificate. */
    slot->accept_ctx.ssl_ctx = atomic_load(&slot->srv->tls[slot->index]);
    h2o_accept(&slot->accept_ctx, sock);
}

/* Fresh TLS contexts for every TLS listener of cfg into out (NULL for plain
 * ones). 0, or -1 with err (and nothing allocated) when any fails to load. */
static int load_tls(const config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const config_listener *l = &cfg->listeners[i];
        out[i] = NULL;
        if (l->tls_cert == NULL)
            continue;
        if ((out[i] = tls_context_new(l->tls_cert, l->tls_key, err, errlen)) == NULL) {
            while (i-- > 0)
                SSL_CTX_free(out[i]);
            return -1;
        }
    }
    return 0;
}

int server_set_config(server *s, const config *cfg, char *err, size_t errlen)
{
    size_t n = cfg->nlisteners;
    SSL_CTX **fresh = calloc(n, sizeof(*fresh));
    SSL_CTX **retired = realloc(s->retired_tls, (s->nretired_tls + n) * sizeof(*retired));
    if (retired != NULL)
        s->retired_tls = retired;
    if (fresh == NULL || retired == NULL) {
        snprintf(err, errlen, "out of memory");
        free(fresh);
        return -1;
    }
    if (load_tls(cfg, fresh, err, errlen) != 0) {
        free(fresh);
        return -1;
    }
    /* An accept may still hold an old context for a moment, so old ones are
     * kept until the server is freed rather than freed now. */
    for (size_t i = 0; i < n; i++) {
        SSL_CTX *old = atomic_exchange(&s->tls[i], fresh[i]);
        if (old != NULL)
            s->retired_tls[s->nretired_tls++] = old;
    }
    free(fresh);
    atomic_store(&s->cfg, cfg);
    return 0;
}

/* Binds every listener once and gives each thread its own descriptor of it
 * (the first thread the socket itself, the others dup()s). 0, or -1 with err;
 * what was opened is closed by server_free. */
static int open_listeners(server *s, const config *cfg, char *err, size_t errlen)
{
    for (int t = 0; t < s->nthreads; t++) {
        server_thread *thread = &s->threads[t];
        thread->srv = s;
        thread->fds = malloc(cfg->nlisteners * sizeof(int));
        thread->slots = calloc(cfg->nlisteners, sizeof(listener_slot));
        if (thread->fds == NULL || thread->slots == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < cfg->nlisteners; i++)
            thread->fds[i] = -1;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        int fd = listener_open(&cfg->listeners[i], SERVER_LISTEN_BACKLOG, "listen", err, errlen);
        if ((s->threads[0].fds[i] = fd) < 0)
            return -1;
        for (int t = 1; t < s->nthreads; t++)
            if ((s->threads[t].fds[i] = listener_dup(fd, "listen", err, errlen)) < 0)
                return -1;
    }
    return 0;
}

server *server_create(const config *cfg, queue *q, char *err, size_t errlen)
{
    server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    atomic_store(&s->cfg, cfg);
    s->q = q;
    s->nthreads = cfg->threads > 0 ? cfg->threads : 1;
    s->threads = calloc((size_t)s->nthreads, sizeof(*s->threads));
    s->tls = calloc(cfg->nlisteners, sizeof(*s->tls));
    SSL_CTX **initial = calloc(cfg->nlisteners, sizeof(*initial));
    if (s->threads == NULL || s->tls == NULL || initial == NULL || load_tls(cfg, initial, err, errlen) != 0) {
        if (s->threads == NULL || s->tls == NULL || initial == NULL)
            snprintf(err, errlen, "out of memory");
        free(initial);
        free(s->tls);
        free(s->threads);
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++)
        atomic_store(&s->tls[i], initial[i]);
    free(initial);
    h2o_config_init(&s->globalconf);
    /* h2o refuses larger bodies itself, before buffering them; its 413 goes
     * through answer_on_setup_ostream like ours. */
    s->globalconf.max_request_entity_size = cfg->body_limit;
    /* HTTP/1.1 only, as tls.c explains: no h2c upgrade either. */
    s->globalconf.http1.upgrade_to_http2 = 0;
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("closehook"));
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
    /* h2o's early errors are bound to the host's fallback path, ours to "/". */
    answer_register_filter(pathconf, current_config, s);
    answer_register_filter(&host->fallback_path, current_config, s);

    if (open_listeners(s, cfg, err, errlen) != 0) {
        server_free(s);
        return NULL;
    }
    return s;
}

/* This loop's descriptors only: the socket keeps listening (and the other
 * loops accepting) until every loop has closed its own. */
static void close_listeners(server_thread *thread)
{
    for (size_t i = 0; i < current_config(thread->srv)->nlisteners; i++)
        listener_watch_close(&thread->slots[i].watch);
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The stop sequence of one loop. /readyz has answered 503 since the stop
 * began; for drain_delay_ms the loop keeps serving webhooks normally, so the
 * load balancer sees the 503 and moves traffic before anyone is refused. Then
 * the listeners close, h2o closes each connection after its next answer, and
 * every webhook already handed to the queue is answered: its sender must learn
 * whether it was kept. Idle keep-alive connections close on h2o's request
 * timeout, shortened to SERVER_DRAIN_IDLE_MS; the loop waits for connections
 * at most SERVER_CLOSE_GRACE_MS. */
static void drain(server_thread *thread, h2o_evloop_t *loop)
{
    uint64_t until = monotonic_ms() + (uint64_t)current_config(thread->srv)->shutdown.drain_delay_ms;
    while (monotonic_ms() < until)
        h2o_evloop_run(loop, SERVER_LOOP_TICK_MS);
    close_listeners(thread);
    h2o_context_request_shutdown(&thread->ctx);
    /* h2o_timeout_run compares each entry with the timeout's current value,
     * so connections already waiting are cut short too. */
    if (thread->ctx.http1.req_timeout.timeout > SERVER_DRAIN_IDLE_MS)
        thread->ctx.http1.req_timeout.timeout = SERVER_DRAIN_IDLE_MS;
    while (thread->waiting > 0)
        h2o_evloop_run(loop, SERVER_LOOP_TICK_MS);
    /* request_shutdown arms an HTTP/2 GOAWAY timer whose default timeout is
     * "never"; with no HTTP/2 connection left it has nothing to do. */
    if (h2o_linklist_is_empty(&thread->ctx.http2._conns) &&
        h2o_timeout_is_linked(&thread->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&thread->ctx.http2._graceful_shutdown_timeout);
    until = monotonic_ms() + SERVER_CLOSE_GRACE_MS;
    while (listener_context_busy(&thread->ctx) && monotonic_ms() < until)
        h2o_evloop_run(loop, SERVER_LOOP_TICK_MS);
    h2o_evloop_run(loop, 0); /* flush the last answers */
}

static void *thread_main(void *arg)
{
    server_thread *thread = arg;
    server *s = thread->srv;
    h2o_evloop_t *loop = h2o_evloop_create();
    /* on_req finds its thread from req->conn->ctx, which is embedded here. */
    h2o_context_init(&thread->ctx, loop, &s->globalconf);
    for (size_t i = 0; i < current_config(s)->nlisteners; i++) {
        thread->slots[i].accept_ctx.ctx = &thread->ctx;
        thread->slots[i].accept_ctx.hosts = s->globalconf.hosts;
        thread->slots[i].srv = s;
        thread->slots[i].index = i;
    }
    thread->mq = h2o_multithread_create_queue(loop);
    h2o_multithread_register_receiver(thread->mq, &thread->committed, on_committed);

    for (size_t i = 0; i < current_config(s)->nlisteners; i++) {
        listener_watch_start(&thread->slots[i].watch, &thread->ctx, thread->fds[i], "webhook", on_accept,
                             &thread->slots[i]);
        thread->fds[i] = -1; /* the watch's now */
    }
    while (!atomic_load(&s->stopping))
        h2o_evloop_run(loop, SERVER_LOOP_TICK_MS);
    drain(thread, loop);

    h2o_multithread_unregister_receiver(thread->mq, &thread->committed);
    h2o_multithread_destroy_queue(thread->mq);
    if (!listener_context_busy(&thread->ctx)) {
        h2o_context_dispose(&thread->ctx);
        h2o_evloop_run(loop, 0); /* sockets closed above are freed on the next turn */
        h2o_evloop_destroy(loop);
    }
    /* else: h2o 2.2 cannot dispose a context with live connections (it asserts);
     * the process is exiting, so the loop is left to the kernel's cleanup. */
    return NULL;
}

int server_run(server *s)
{
    signal(SIGPIPE, SIG_IGN);
    int started = 0;
    for (; started < s->nthreads; started++)
        if (pthread_create(&s->threads[started].tid, NULL, thread_main, &s->threads[started]) != 0)
            break;
    if (started < s->nthreads)
        atomic_store(&s->stopping, 1);
    for (int t = 0; t < started; t++)
        pthread_join(s->threads[t].tid, NULL);
    return started == s->nthreads ? 0 : -1;
}

void server_stop(server *s)
{
    atomic_store(&s->stopping, 1);
}

void server_free(server *s)
{
    if (s == NULL)
        return;
    for (int t = 0; t < s->nthreads; t++) {
        server_thread *thread = &s->threads[t];
        for (size_t i = 0; thread->fds != NULL && i < current_config(s)->nlisteners; i++)
            if (thread->fds[i] >= 0)
                close(thread->fds[i]);
        free(thread->fds);
        free(thread->slots);
    }
    free(s->threads);
    for (size_t i = 0; s->tls != NULL && i < current_config(s)->nlisteners; i++)
        SSL_CTX_free(atomic_load(&s->tls[i]));
    for (size_t i = 0; i < s->nretired_tls; i++)
        SSL_CTX_free(s->retired_tls[i]);
    free(s->tls);
    free(s->retired_tls);
    h2o_config_dispose(&s->globalconf);
    free(s);
}
