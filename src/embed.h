/* For iotnet.aio, which runs libuv one UV_RUN_NOWAIT pass at a time inside an asyncio loop:
 * whether the last pass left watcher changes that only the next pass applies.
 *
 * libuv (unix) queues a new or changed fd watcher (a write that waits for POLLOUT, a
 * uv_shutdown, a read started again) in loop->watcher_queue, and hands it to epoll at the
 * start of its next poll. Until then the backend fd cannot become readable for it, and
 * uv_backend_timeout() does not count it, so the embedder must run another pass at once. The
 * queue is a private field; its first word is the "next" pointer, which points back at the
 * queue itself when it is empty, both in the void*[2] queues of libuv before 1.45 and in the
 * struct uv__queue of later versions. */
#ifndef IOTNET_EMBED_H
#define IOTNET_EMBED_H

#include <uv.h>

static inline int iotnet_uv_watchers_pending(uv_loop_t* loop) {
    void** queue = (void**)&loop->watcher_queue;
    return queue[0] != (void*)queue;
}

#endif
