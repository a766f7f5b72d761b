/* Debug-build counters of live libuv handles, requests and heap buffers owned by iotnet, and
 * the check that the GIL is held where Python is touched. The release build compiles every
 * IOTNET_COUNT_*() and IOTNET_ASSERT_GIL() away; `make debug` defines IOTNET_DEBUG. */
#ifndef IOTNET_DEBUG_H
#define IOTNET_DEBUG_H

typedef struct {
    long handles;   /* uv_tcp_t, uv_pipe_t, uv_timer_t blocks owned by Sockets/Servers/Timers */
    long requests;  /* write, connect, shutdown and getaddrinfo requests in flight */
    long buffers;   /* heap blocks outside the loop's one read buffer */
} iotnet_counters_t;

static iotnet_counters_t iotnet_counters = {0, 0, 0};

#ifdef IOTNET_DEBUG
#include <assert.h>
#define IOTNET_DEBUG_BUILD 1
#define IOTNET_COUNT(field, delta) (iotnet_counters.field += (delta))
#define IOTNET_COUNT_HANDLES(delta) IOTNET_COUNT(handles, delta)
#define IOTNET_COUNT_REQUESTS(delta) IOTNET_COUNT(requests, delta)
#define IOTNET_COUNT_BUFFERS(delta) IOTNET_COUNT(buffers, delta)
#define IOTNET_ASSERT_GIL() assert(PyGILState_Check())
#else
#define IOTNET_DEBUG_BUILD 0
#define IOTNET_COUNT_HANDLES(delta) ((void)0)
#define IOTNET_COUNT_REQUESTS(delta) ((void)0)
#define IOTNET_COUNT_BUFFERS(delta) ((void)0)
#define IOTNET_ASSERT_GIL() ((void)0)
#endif

#endif
