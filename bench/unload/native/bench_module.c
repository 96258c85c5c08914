/*
 * bench_module.c - the unload benchmark's C module (module ABI:
 * native/include/uv_drain_module.h), named `uvd_bench_module`. Built by
 * bench/unload/native/binding.gyp; loaded by bench/unload/host.mjs through
 * uv-drain's UnloadCoordinator ({ native: path }).
 *
 * Read from the environment at init (the host sets them before load):
 *   UVD_BENCH_K       handles to hold (>= 4): 1 fs_event watcher on
 *                     UVD_BENCH_DIR, 1 TCP server on 127.0.0.1, C = (K-2)/4
 *                     loopback connections (2 sockets each: the connecting
 *                     one and the accepted one), and T = K-2-2C uv timers
 *                     (10 min, never fire during the benchmark). All tagged.
 *   UVD_BENCH_FILE    the commit file (created or truncated at init).
 *   UVD_BENCH_DIR     the directory the watcher watches.
 *   UVD_BENCH_MODE    "drain", "blocking" or "paced".
 *   UVD_BENCH_RECORD  "0x..." address of the probe's record (probe.c).
 * Read at cleanup (the host sets it right before unload):
 *   UVD_BENCH_P       commits accepted and not yet durable when the unload
 *                     starts. Commit n is the 9-byte line "%08llu\n" at offset
 *                     (n-1)*9, written and then fsync'ed on its own.
 *
 * drain mode: cleanup closes every handle and starts the commits on the
 *   threadpool, at most 4 in flight (uv_fs_write, then uv_fs_fsync); the file
 *   is closed once the last one is durable. deinit answers UV_EAGAIN until
 *   every handle's close callback and every request's callback has run.
 * blocking mode: cleanup closes every handle; the first deinit writes and
 *   fsyncs every pending commit synchronously (uv_fs_* with a NULL callback,
 *   on the loop thread), closes the file, and then answers like drain mode
 *   (the close callbacks are still module code: dlclose must wait for them).
 * paced mode (drain-aware, issue 15): cleanup stops accepting at once
 *   (uv_close of the watcher and of the server), then closes the sockets and
 *   the timers (same order as drain mode: connecting sockets, accepted ones,
 *   timers) in slices: one handle, then more while ctx->budget_left(ctx) > 0,
 *   and ctx->continue_later(ctx, wrap_up) for the rest, which does the same
 *   in a later iteration. Commits start in cleanup as in drain mode; deinit
 *   answers like drain mode (handles are counted until their close callback
 *   ran, so UV_EAGAIN while the slices go on). Needs a uv-drain whose ctx has
 *   budget_left and continue_later (UV_DRAIN_MODULE_CTX_HAS, checked at
 *   cleanup) and a header that declares them (checked when compiled): without
 *   either, paced mode behaves as drain mode (R_LATER stays 0).
 *
 * The end of cleanup writes its CLOCK_MONOTONIC time and the process's CPU
 * time (getrusage) into the record.
 * Every callback that may be the module's last (close callbacks, request
 * callbacks) ends by writing CLOCK_MONOTONIC and uv's loop_count into the
 * record, before request_end (after which the module may be removed).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <sys/resource.h>

#include <uv.h>

#include "uv_drain_module.h"

#define EXPORT __attribute__((visibility("default")))

#define WINDOW 4 /* commits in flight (libuv's default threadpool size) */
#define LINE 9
#define TIMER_MS 600000

/* Record slots: bench/unload/record.mjs has the same list. */
enum {
  R_LAST_NS = 0,
  R_LAST_LOOP = 1,
  R_ACKED = 2,
  R_CONNECTED = 3,
  R_ACCEPTED = 4,
  R_HANDLES = 5,
  R_ERROR = 6,
  R_P = 7,
  R_FLUSH_NS = 8,
  R_CALLBACKS = 9,
  R_STATE = 10,
  R_REQUESTS = 11,
  R_MADE = 12,
  R_CLEANUP_NS = 13,
  R_CLEANUP_CPU_US = 14,
  R_LATER = 15, /* paced mode: continuations uv-drain ran */
  R_SLOTS = 16
};

typedef struct st_s st_t;

typedef struct slot_s {
  uv_fs_t req;
  char line[24];
  uint64_t seq;
  st_t* st;
} slot_t;

struct st_s {
  uv_loop_t* loop;
  const uv_drain_api_t* api;
  uv_drain_owner_t owner;
  volatile uint64_t* rec;
  int blocking;
  int paced;

  unsigned T, C;
  uv_timer_t* timers;
  uv_tcp_t server;
  uv_tcp_t* clients;
  uv_connect_t* connects;
  uv_tcp_t* accepted;
  unsigned n_accepted;
  uv_fs_event_t watcher;
  int watching;

  unsigned handles;  /* initialised, close callback not run yet */
  unsigned requests; /* submitted, callback not run yet */

  uv_file file;
  uint64_t P, next, acked;
  unsigned inflight;
  slot_t slots[WINDOW];

  int cleaning;
  int flushed; /* blocking mode: the synchronous flush ran */
  unsigned close_pos; /* paced mode: handles of clients, accepted, timers closed so far */
};

static uint64_t g_dummy[R_SLOTS];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void note_error(st_t* st, int err) {
  if (err < 0 && st->rec[R_ERROR] == 0) st->rec[R_ERROR] = (uint64_t)(-err);
}

/* The end of every callback that may be the module's last. */
static void note_callback(st_t* st) {
  uv_metrics_t m;
  memset(&m, 0, sizeof(m));
  uv_metrics_info(st->loop, &m);
  st->rec[R_LAST_NS] = now_ns();
  st->rec[R_LAST_LOOP] = m.loop_count;
  st->rec[R_CALLBACKS]++;
  st->rec[R_HANDLES] = st->handles;
  st->rec[R_REQUESTS] = st->requests;
}

static void request_begin(st_t* st) {
  st->requests++;
  st->api->request_begin(st->loop, st->owner);
}

static void request_end(st_t* st) {
  st->requests--;
  st->api->request_end(st->loop, st->owner);
}

/* ---- handles ------------------------------------------------------------- */

static void on_closed(uv_handle_t* h) {
  st_t* st = (st_t*)h->data;
  st->handles--;
  note_callback(st);
}

static void close_handle(uv_handle_t* h) {
  if (!uv_is_closing(h)) uv_close(h, on_closed);
}

static void on_timer(uv_timer_t* t) { (void)t; }

static void on_fs_event(uv_fs_event_t* h, const char* name, int events, int status) {
  (void)h, (void)name, (void)events, (void)status;
}

static void on_connect(uv_connect_t* req, int status) {
  st_t* st = (st_t*)req->data;
  if (status == 0)
    st->rec[R_CONNECTED]++;
  else if (status != UV_ECANCELED)
    note_error(st, status);
  note_callback(st);
  request_end(st);
}

static void on_connection(uv_stream_t* server, int status) {
  st_t* st = (st_t*)server->data;
  uv_tcp_t* c;
  if (status < 0) {
    note_error(st, status);
    return;
  }
  if (st->n_accepted >= st->C || st->cleaning) return;
  c = &st->accepted[st->n_accepted];
  if (uv_tcp_init(st->loop, c) != 0) return;
  st->n_accepted++;
  c->data = st;
  st->handles++;
  st->api->tag((uv_handle_t*)c, st->owner);
  if (uv_accept(server, (uv_stream_t*)c) != 0) {
    close_handle((uv_handle_t*)c);
    return;
  }
  st->rec[R_ACCEPTED]++;
}

static void close_handles(st_t* st) {
  unsigned i;
  /* Sockets first: close callbacks run in reverse order of uv_close. */
  for (i = 0; i < st->C; i++) close_handle((uv_handle_t*)&st->clients[i]);
  for (i = 0; i < st->n_accepted; i++) close_handle((uv_handle_t*)&st->accepted[i]);
  for (i = 0; i < st->T; i++) close_handle((uv_handle_t*)&st->timers[i]);
  if (st->watching) close_handle((uv_handle_t*)&st->watcher);
  close_handle((uv_handle_t*)&st->server);
}

/* ---- paced closing (paced mode) ------------------------------------------ */

#ifdef UV_DRAIN_MODULE_CTX_HAS /* a header with budget_left and continue_later */
static unsigned paced_total(st_t* st) { return st->C + st->n_accepted + st->T; }

/* Closes the next of the sockets and timers, in close_handles' order. */
static void close_one(st_t* st) {
  unsigned i = st->close_pos++;
  if (i < st->C) {
    close_handle((uv_handle_t*)&st->clients[i]);
    return;
  }
  i -= st->C;
  if (i < st->n_accepted) {
    close_handle((uv_handle_t*)&st->accepted[i]);
    return;
  }
  i -= st->n_accepted;
  close_handle((uv_handle_t*)&st->timers[i]);
}

static int can_pace(uv_drain_module_ctx_t* ctx) {
  return UV_DRAIN_MODULE_CTX_HAS(ctx, budget_left) && UV_DRAIN_MODULE_CTX_HAS(ctx, continue_later) &&
         ctx->budget_left != NULL && ctx->continue_later != NULL;
}

static void wrap_up(uv_drain_module_ctx_t* ctx);

/* One slice: at least one handle, then more while the share is not spent;
 * the rest in a later iteration (or now, unpaced, if that cannot be asked).
 * It asks first: the question starts the iteration's clock if nothing has. */
static void slice_and_continue(uv_drain_module_ctx_t* ctx, st_t* st) {
  unsigned total = paced_total(st);
  (void)ctx->budget_left(ctx);
  if (st->close_pos < total) close_one(st);
  while (st->close_pos < total && ctx->budget_left(ctx) > 0) close_one(st);
  if (st->close_pos < total && ctx->continue_later(ctx, wrap_up) != 0) {
    while (st->close_pos < total) close_one(st);
  }
}

/* A continuation: module code, maybe its last. */
static void wrap_up(uv_drain_module_ctx_t* ctx) {
  st_t* st = (st_t*)ctx->data;
  if (st == NULL) return;
  st->rec[R_LATER]++;
  slice_and_continue(ctx, st);
  note_callback(st);
}
#endif

/* ---- commits ------------------------------------------------------------- */

static void close_file_sync(st_t* st) {
  uv_fs_t req;
  if (st->file < 0) return;
  uv_fs_close(st->loop, &req, st->file, NULL);
  uv_fs_req_cleanup(&req);
  st->file = -1;
}

static void on_commit_fs(uv_fs_t* req);

/* Starts the next commit on slot s, or retires the slot. */
static void commit_next(st_t* st, slot_t* s) {
  uv_buf_t buf;
  int r;
  if (st->next >= st->P) {
    if (st->inflight == 0) close_file_sync(st);
    return;
  }
  s->seq = ++st->next;
  snprintf(s->line, sizeof(s->line), "%08llu\n", (unsigned long long)s->seq);
  buf = uv_buf_init(s->line, LINE);
  st->inflight++;
  request_begin(st);
  r = uv_fs_write(st->loop, &s->req, st->file, &buf, 1, (int64_t)(s->seq - 1) * LINE, on_commit_fs);
  if (r != 0) {
    request_end(st);
    st->inflight--;
    note_error(st, r);
    st->next = st->P; /* give up the rest: counted as lost */
    if (st->inflight == 0) close_file_sync(st);
  }
}

static void on_commit_fs(uv_fs_t* req) {
  slot_t* s = (slot_t*)req->data;
  st_t* st = s->st;
  ssize_t result = req->result;
  uv_fs_type type = req->fs_type;
  int r;
  uv_fs_req_cleanup(req);
  if (type == UV_FS_WRITE) {
    if (result != LINE) {
      note_error(st, result < 0 ? (int)result : UV_EIO);
      st->inflight--;
      commit_next(st, s);
    } else {
      request_begin(st); /* same uv_fs_t, next step */
      r = uv_fs_fsync(st->loop, &s->req, st->file, on_commit_fs);
      if (r != 0) {
        request_end(st);
        note_error(st, r);
        st->inflight--;
        commit_next(st, s);
      }
    }
  } else { /* UV_FS_FSYNC */
    if (result < 0)
      note_error(st, (int)result);
    else
      st->rec[R_ACKED] = ++st->acked;
    st->inflight--;
    commit_next(st, s);
  }
  note_callback(st);
  request_end(st);
}

static void flush_blocking(st_t* st) {
  uint64_t t0 = now_ns();
  char line[24];
  uv_fs_t req;
  uv_buf_t buf;
  int r;
  while (st->next < st->P) {
    uint64_t seq = ++st->next;
    snprintf(line, sizeof(line), "%08llu\n", (unsigned long long)seq);
    buf = uv_buf_init(line, LINE);
    r = uv_fs_write(st->loop, &req, st->file, &buf, 1, (int64_t)(seq - 1) * LINE, NULL);
    uv_fs_req_cleanup(&req);
    if (r != LINE) {
      note_error(st, r < 0 ? r : UV_EIO);
      continue;
    }
    r = uv_fs_fsync(st->loop, &req, st->file, NULL);
    uv_fs_req_cleanup(&req);
    if (r < 0)
      note_error(st, r);
    else
      st->rec[R_ACKED] = ++st->acked;
  }
  close_file_sync(st);
  st->rec[R_FLUSH_NS] = now_ns() - t0;
  st->flushed = 1;
}

/* ---- the ABI ------------------------------------------------------------- */

EXPORT uint32_t uvd_bench_module_api(void) { return UV_DRAIN_MODULE_ABI; }

static unsigned env_uint(const char* name, unsigned fallback) {
  const char* v = getenv(name);
  return v != NULL && v[0] != '\0' ? (unsigned)strtoul(v, NULL, 10) : fallback;
}

static void free_state(st_t* st) {
  free(st->timers);
  free(st->clients);
  free(st->connects);
  free(st->accepted);
  free(st);
}

EXPORT int uvd_bench_module_init(uv_drain_module_ctx_t* ctx) {
  st_t* st;
  const char *file, *dir, *mode, *record;
  unsigned K, i;
  struct sockaddr_in addr;
  struct sockaddr_storage name;
  int namelen = sizeof(name);
  uv_fs_t req;
  int r;

  /* The fields every uv-drain fills in (a newer one fills in more: see
   * UV_DRAIN_MODULE_CTX_HAS). */
  if (ctx == NULL || ctx->abi != UV_DRAIN_MODULE_ABI || !UV_DRAIN_MODULE_CTX_HAS(ctx, data) ||
      ctx->data != NULL)
    return UV_EINVAL;
  file = getenv("UVD_BENCH_FILE");
  dir = getenv("UVD_BENCH_DIR");
  mode = getenv("UVD_BENCH_MODE");
  record = getenv("UVD_BENCH_RECORD");
  K = env_uint("UVD_BENCH_K", 0);
  if (file == NULL || dir == NULL || mode == NULL || K < 4) return UV_EINVAL;

  st = (st_t*)calloc(1, sizeof(*st));
  if (st == NULL) return UV_ENOMEM;
  st->loop = ctx->loop;
  st->api = ctx->api;
  st->owner = ctx->owner;
  st->rec = record != NULL ? (volatile uint64_t*)(uintptr_t)strtoull(record, NULL, 16) : NULL;
  if (st->rec == NULL) st->rec = g_dummy;
  st->blocking = strcmp(mode, "blocking") == 0;
  st->paced = strcmp(mode, "paced") == 0;
  st->C = (K - 2) / 4;
  st->T = K - 2 - 2 * st->C;
  st->file = -1;
  st->timers = (uv_timer_t*)calloc(st->T, sizeof(uv_timer_t));
  st->clients = (uv_tcp_t*)calloc(st->C ? st->C : 1, sizeof(uv_tcp_t));
  st->connects = (uv_connect_t*)calloc(st->C ? st->C : 1, sizeof(uv_connect_t));
  st->accepted = (uv_tcp_t*)calloc(st->C ? st->C : 1, sizeof(uv_tcp_t));
  if (st->timers == NULL || st->clients == NULL || st->connects == NULL || st->accepted == NULL) {
    free_state(st);
    return UV_ENOMEM;
  }
  for (i = 0; i < WINDOW; i++) {
    st->slots[i].st = st;
    st->slots[i].req.data = &st->slots[i];
  }

  r = uv_fs_open(st->loop, &req, file, O_WRONLY | O_CREAT | O_TRUNC, 0644, NULL);
  uv_fs_req_cleanup(&req);
  if (r < 0) {
    free_state(st);
    return r;
  }
  st->file = r;
  ctx->data = st;

  /* From here on, a failure closes what exists; deinit returns 0 once gone. */
  r = uv_tcp_init(st->loop, &st->server);
  if (r != 0) goto fail_nohandle;
  st->server.data = st;
  st->handles++;
  st->api->tag((uv_handle_t*)&st->server, st->owner);
  uv_ip4_addr("127.0.0.1", 0, &addr);
  r = uv_tcp_bind(&st->server, (const struct sockaddr*)&addr, 0);
  if (r == 0) r = uv_listen((uv_stream_t*)&st->server, 4096, on_connection);
  if (r == 0) r = uv_tcp_getsockname(&st->server, (struct sockaddr*)&name, &namelen);
  if (r != 0) goto fail;

  r = uv_fs_event_init(st->loop, &st->watcher);
  if (r != 0) goto fail;
  st->watcher.data = st;
  st->handles++;
  st->watching = 1;
  st->api->tag((uv_handle_t*)&st->watcher, st->owner);
  r = uv_fs_event_start(&st->watcher, on_fs_event, dir, 0);
  if (r != 0) goto fail;

  for (i = 0; i < st->T; i++) {
    uv_timer_init(st->loop, &st->timers[i]);
    st->timers[i].data = st;
    st->handles++;
    st->api->tag((uv_handle_t*)&st->timers[i], st->owner);
    uv_timer_start(&st->timers[i], on_timer, TIMER_MS, 0);
  }
  for (i = 0; i < st->C; i++) {
    uv_tcp_init(st->loop, &st->clients[i]);
    st->clients[i].data = st;
    st->handles++;
    st->api->tag((uv_handle_t*)&st->clients[i], st->owner);
    st->connects[i].data = st;
    request_begin(st);
    r = uv_tcp_connect(&st->connects[i], &st->clients[i], (const struct sockaddr*)&name, on_connect);
    if (r != 0) {
      request_end(st);
      goto fail;
    }
  }
  st->rec[R_MADE] = st->handles;
  st->rec[R_HANDLES] = st->handles;
  st->rec[R_STATE] = 1;
  return 0;

fail:
  note_error(st, r);
  st->cleaning = 1;
  close_handles(st);
  close_file_sync(st);
  return r;
fail_nohandle:
  close_file_sync(st);
  ctx->data = NULL;
  free_state(st);
  return r;
}

EXPORT int uvd_bench_module_cleanup(uv_drain_module_ctx_t* ctx) {
  st_t* st = ctx != NULL ? (st_t*)ctx->data : NULL;
  unsigned i;
  if (st == NULL || st->cleaning) return 0;
  st->cleaning = 1;
  st->P = env_uint("UVD_BENCH_P", 0);
  st->rec[R_P] = st->P;
  st->rec[R_STATE] = 2;
  st->rec[R_LATER] = 0;
#ifdef UV_DRAIN_MODULE_CTX_HAS
  if (st->paced && can_pace(ctx)) {
    /* Stop accepting at once; then the sockets and timers in slices. */
    if (st->watching) close_handle((uv_handle_t*)&st->watcher);
    close_handle((uv_handle_t*)&st->server);
    slice_and_continue(ctx, st);
  } else
#endif
    close_handles(st);
  if (!st->blocking) {
    for (i = 0; i < WINDOW; i++) commit_next(st, &st->slots[i]);
    if (st->P == 0) close_file_sync(st);
  }
  {
    /* The end of cleanup, for "CPU while draining" (process.cpuUsage() is
     * getrusage(RUSAGE_SELF) too). */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    st->rec[R_CLEANUP_CPU_US] = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                                (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    st->rec[R_CLEANUP_NS] = now_ns();
  }
  return 0;
}

EXPORT int uvd_bench_module_deinit(uv_drain_module_ctx_t* ctx) {
  st_t* st = ctx != NULL ? (st_t*)ctx->data : NULL;
  if (st == NULL) return 0;
  if (!st->cleaning) return UV_EBUSY;
  if (st->blocking && !st->flushed) flush_blocking(st);
  st->rec[R_HANDLES] = st->handles;
  st->rec[R_REQUESTS] = st->requests;
  if (st->handles != 0 || st->requests != 0 || st->file >= 0) return UV_EAGAIN;
  st->rec[R_STATE] = 3;
  ctx->data = NULL;
  free_state(st);
  return 0;
}
