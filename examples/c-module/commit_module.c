/*
 * commit_module.c - a real C module for uv-drain's unload coordinator
 * (ABI: native/include/uv_drain_module.h), named `commit_module`.
 *
 * What it does on the loop, all tagged with ctx->owner:
 *  - a uv_timer that every COMMIT_INTERVAL_MS "commits" a record: it appends
 *    the line "<seq>\n" to the commit file with uv_fs_write, then makes it
 *    durable with uv_fs_fsync. One commit is in flight at a time (seq is
 *    strictly increasing in the file); a commit is *acknowledged* once its
 *    fsync completed. Every uv_fs_t (the one open, each write and fsync, the
 *    final close) is counted with ctx->api->request_begin/request_end.
 *  - a raw uv_tcp server on 127.0.0.1 (ephemeral port): each connection is
 *    answered with "<acked>\n" (one counted uv_write) and closed.
 *  No idle handle, ever: an idle handle makes the loop poll with timeout 0.
 *
 * The commit file: the path in the environment variable UV_DRAIN_COMMIT_FILE,
 * read by init (init returns UV_EINVAL when it is unset or empty). The file
 * is created or truncated at init.
 *
 * Lifecycle:
 *  - init: opens the file (asynchronously), starts the server and the timer.
 *  - cleanup: closes the timer (no new commit), the server and the open
 *    connections; the commit in flight, if any, finishes (write, fsync) and
 *    then the file is closed with uv_fs_close. All asynchronous.
 *  - deinit: UV_EAGAIN while a handle is open or closing or a request is in
 *    flight, UV_EBUSY if cleanup was never called, 0 once all is done (the
 *    module's memory is then freed; further deinit calls return 0).
 *  Every callback libuv will call (timer, connection, write, fs and close
 *  callbacks) is a function of this shared object, so unloading it with
 *  anything still on the loop crashes the process.
 *
 * Extra exports for tests and demos (look them up with dlsym):
 *   uint64_t commit_module_acked(void)  commits whose fsync completed
 *   int      commit_module_port(void)   the server's port (0 if not listening)
 *   int      commit_module_error(void)  first fs/tcp error seen (0 if none)
 *
 * Build: the `commit_module` target of binding.gyp (build/Release/commit_module.so).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>

#include <uv.h>

#include "uv_drain_module.h"

#define EXPORT __attribute__((visibility("default")))

#define COMMIT_INTERVAL_MS 2

typedef struct client_s client_t;

typedef struct commit_state_s {
  uv_loop_t* loop;
  const uv_drain_api_t* api;
  uv_drain_owner_t owner;

  uv_timer_t timer;
  uv_tcp_t server;
  client_t* clients; /* open or closing connections */

  unsigned handles; /* handles initialised and not yet through their close callback */
  unsigned requests; /* requests submitted and not yet through their callback */

  char* path;
  uv_file file; /* -1 until opened, and again once closed */
  uv_fs_t open_req, commit_req, close_req;
  int committing; /* a write or fsync is in flight */
  int closing_file; /* uv_fs_close submitted */
  uint64_t seq; /* last commit started */
  char line[32];
  int line_len;
  int64_t offset;

  int cleaning; /* cleanup was called */
  int failed; /* an fs error stopped committing */
} commit_state_t;

struct client_s {
  uv_tcp_t tcp;
  uv_write_t write_req;
  char buf[32];
  commit_state_t* st;
  client_t* next;
};

/* The module's only statics: read by the query exports, reset by init. A
 * fresh dlopen gets fresh copies. */
static uint64_t g_acked;
static int g_port;
static int g_error;

EXPORT uint64_t commit_module_acked(void) { return g_acked; }
EXPORT int commit_module_port(void) { return g_port; }
EXPORT int commit_module_error(void) { return g_error; }

static void note_error(commit_state_t* st, int err) {
  if (err != 0 && g_error == 0) g_error = err;
}

/* ---- requests: counted in the module and with uv-drain ------------------- */

static void request_begin(commit_state_t* st) {
  st->requests++;
  st->api->request_begin(st->loop, st->owner);
}

/* Called as the last thing touching uv-drain in a request callback. */
static void request_end(commit_state_t* st) {
  st->requests--;
  st->api->request_end(st->loop, st->owner);
}

/* ---- the commit file ----------------------------------------------------- */

static void maybe_close_file(commit_state_t* st);
static void on_fs(uv_fs_t* req);

static void on_fs(uv_fs_t* req) {
  commit_state_t* st = (commit_state_t*)req->data;
  ssize_t result = req->result;
  uv_fs_type type = req->fs_type;
  uv_fs_req_cleanup(req);

  switch (type) {
    case UV_FS_OPEN:
      if (result < 0) {
        note_error(st, (int)result);
        st->failed = 1;
      } else {
        st->file = (uv_file)result;
      }
      break;
    case UV_FS_WRITE:
      if (result < 0 || result != st->line_len) {
        note_error(st, result < 0 ? (int)result : UV_EIO);
        st->failed = 1;
        st->committing = 0;
        break;
      }
      st->offset += result;
      /* Same uv_fs_t, next step: the write's request ends, the fsync's begins. */
      request_begin(st);
      {
        int r = uv_fs_fsync(st->loop, &st->commit_req, st->file, on_fs);
        if (r != 0) {
          request_end(st);
          note_error(st, r);
          st->failed = 1;
          st->committing = 0;
        }
      }
      break;
    case UV_FS_FSYNC:
      if (result < 0) {
        note_error(st, (int)result);
        st->failed = 1;
      } else {
        g_acked = st->seq; /* one commit in flight at a time: in order */
      }
      st->committing = 0;
      break;
    case UV_FS_CLOSE:
      if (result < 0) note_error(st, (int)result);
      st->file = -1;
      break;
    default:
      break;
  }
  if (st->cleaning) maybe_close_file(st);
  request_end(st);
}

static void commit(commit_state_t* st) {
  uv_buf_t buf;
  int r;
  if (st->committing || st->failed || st->cleaning || st->file < 0) return;
  st->seq++;
  st->line_len = snprintf(st->line, sizeof(st->line), "%llu\n", (unsigned long long)st->seq);
  buf = uv_buf_init(st->line, (unsigned)st->line_len);
  st->committing = 1;
  request_begin(st);
  r = uv_fs_write(st->loop, &st->commit_req, st->file, &buf, 1, st->offset, on_fs);
  if (r != 0) {
    request_end(st);
    note_error(st, r);
    st->failed = 1;
    st->committing = 0;
    st->seq--;
  }
}

/* During cleanup: once neither the open nor a commit is in flight, close the
 * file (once). */
static void maybe_close_file(commit_state_t* st) {
  int r;
  if (st->closing_file || st->committing || st->file < 0) return;
  /* The open may still be in flight: on_fs(UV_FS_OPEN) calls us again. */
  st->closing_file = 1;
  request_begin(st);
  r = uv_fs_close(st->loop, &st->close_req, st->file, on_fs);
  if (r != 0) {
    request_end(st);
    note_error(st, r);
    st->file = -1;
  }
}

/* ---- handles ------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t* h) {
  commit_state_t* st = (commit_state_t*)h->data;
  st->handles--;
}

static void on_timer(uv_timer_t* t) { commit((commit_state_t*)t->data); }

static void on_client_closed(uv_handle_t* h) {
  client_t* c = (client_t*)h->data;
  commit_state_t* st = c->st;
  client_t** p = &st->clients;
  while (*p != NULL && *p != c) p = &(*p)->next;
  if (*p == c) *p = c->next;
  free(c);
  st->handles--;
}

static void close_client(client_t* c) {
  if (!uv_is_closing((uv_handle_t*)&c->tcp)) uv_close((uv_handle_t*)&c->tcp, on_client_closed);
}

static void on_written(uv_write_t* req, int status) {
  client_t* c = (client_t*)req->data;
  commit_state_t* st = c->st;
  close_client(c); /* also after UV_ECANCELED (closed by cleanup) */
  request_end(st);
}

static void on_connection(uv_stream_t* server, int status) {
  commit_state_t* st = (commit_state_t*)server->data;
  client_t* c;
  uv_buf_t buf;
  int r;
  if (status < 0) {
    note_error(st, status);
    return;
  }
  c = (client_t*)calloc(1, sizeof(*c));
  if (c == NULL) return; /* the connection waits in the backlog */
  c->st = st;
  if (uv_tcp_init(st->loop, &c->tcp) != 0) {
    free(c);
    return;
  }
  c->tcp.data = c;
  c->write_req.data = c;
  c->next = st->clients;
  st->clients = c;
  st->handles++;
  st->api->tag((uv_handle_t*)&c->tcp, st->owner);
  if (uv_accept(server, (uv_stream_t*)&c->tcp) != 0) {
    close_client(c);
    return;
  }
  buf = uv_buf_init(c->buf, (unsigned)snprintf(c->buf, sizeof(c->buf), "%llu\n", (unsigned long long)g_acked));
  request_begin(st);
  r = uv_write(&c->write_req, (uv_stream_t*)&c->tcp, &buf, 1, on_written);
  if (r != 0) {
    request_end(st);
    close_client(c);
  }
}

/* ---- the ABI ------------------------------------------------------------- */

EXPORT uint32_t commit_module_api(void) { return UV_DRAIN_MODULE_ABI; }

static void close_handles(commit_state_t* st) {
  client_t* c;
  if (!uv_is_closing((uv_handle_t*)&st->timer)) uv_close((uv_handle_t*)&st->timer, on_handle_closed);
  if (!uv_is_closing((uv_handle_t*)&st->server)) uv_close((uv_handle_t*)&st->server, on_handle_closed);
  for (c = st->clients; c != NULL; c = c->next) close_client(c);
}

EXPORT int commit_module_init(uv_drain_module_ctx_t* ctx) {
  commit_state_t* st;
  const char* path;
  struct sockaddr_in addr;
  struct sockaddr_storage name;
  int namelen = sizeof(name);
  int r;

  if (ctx == NULL || ctx->abi != UV_DRAIN_MODULE_ABI || !UV_DRAIN_MODULE_CTX_HAS(ctx, data) || ctx->data != NULL)
    return UV_EINVAL;
  path = getenv("UV_DRAIN_COMMIT_FILE");
  if (path == NULL || path[0] == '\0') return UV_EINVAL;

  st = (commit_state_t*)calloc(1, sizeof(*st));
  if (st == NULL) return UV_ENOMEM;
  st->path = strdup(path);
  if (st->path == NULL) {
    free(st);
    return UV_ENOMEM;
  }
  st->loop = ctx->loop;
  st->api = ctx->api;
  st->owner = ctx->owner;
  st->file = -1;
  st->open_req.data = st;
  st->commit_req.data = st;
  st->close_req.data = st;
  g_acked = 0;
  g_port = 0;
  g_error = 0;
  ctx->data = st;

  /* Both handles exist from here on; a failure below closes them, and the
   * host waits for their close callbacks (the owner's counts) as after a
   * cleanup. deinit then returns 0 once they are gone. */
  uv_timer_init(st->loop, &st->timer);
  st->timer.data = st;
  st->handles++;
  st->api->tag((uv_handle_t*)&st->timer, st->owner);
  r = uv_tcp_init(st->loop, &st->server);
  if (r != 0) {
    st->cleaning = 1;
    close_handles(st); /* only the timer exists */
    return r;
  }
  st->server.data = st;
  st->handles++;
  st->api->tag((uv_handle_t*)&st->server, st->owner);

  uv_ip4_addr("127.0.0.1", 0, &addr);
  r = uv_tcp_bind(&st->server, (const struct sockaddr*)&addr, 0);
  if (r == 0) r = uv_listen((uv_stream_t*)&st->server, 16, on_connection);
  if (r == 0 && uv_tcp_getsockname(&st->server, (struct sockaddr*)&name, &namelen) == 0)
    g_port = ntohs(((struct sockaddr_in*)&name)->sin_port);
  if (r == 0) {
    request_begin(st);
    r = uv_fs_open(st->loop, &st->open_req, st->path, O_WRONLY | O_CREAT | O_TRUNC, 0644, on_fs);
    if (r != 0) request_end(st);
  }
  if (r == 0) r = uv_timer_start(&st->timer, on_timer, COMMIT_INTERVAL_MS, COMMIT_INTERVAL_MS);
  if (r != 0) {
    note_error(st, r);
    st->cleaning = 1;
    close_handles(st);
    maybe_close_file(st);
    return r;
  }
  return 0;
}

EXPORT int commit_module_cleanup(uv_drain_module_ctx_t* ctx) {
  commit_state_t* st = ctx != NULL ? (commit_state_t*)ctx->data : NULL;
  if (st == NULL) return 0; /* already done */
  if (st->cleaning) return 0;
  st->cleaning = 1;
  close_handles(st);
  maybe_close_file(st); /* now, or when the commit or open in flight ends */
  return 0;
}

EXPORT int commit_module_deinit(uv_drain_module_ctx_t* ctx) {
  commit_state_t* st = ctx != NULL ? (commit_state_t*)ctx->data : NULL;
  if (st == NULL) return 0; /* already done */
  if (!st->cleaning) return UV_EBUSY;
  if (st->handles != 0 || st->requests != 0 || st->file >= 0) return UV_EAGAIN;
  free(st->path);
  free(st);
  ctx->data = NULL;
  return 0;
}
