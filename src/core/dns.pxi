# Addresses: IP literals to sockaddr and back, and name resolution with uv_getaddrinfo (in
# libuv's thread pool, so the loop never blocks on DNS).

import os as _os_for_paths


cdef int _parse_ip(str host, int port, sockaddr_storage* out) except -1:
    """4 or 6 when host is an IP literal (filling *out), else 0."""
    cdef bytes raw = host.encode('utf-8', 'replace')
    if uv_ip4_addr(raw, port, <sockaddr_in*>out) == 0:
        return 4
    if uv_ip6_addr(raw, port, <sockaddr_in6*>out) == 0:
        return 6
    return 0


cdef int _ip_family(str host) except -1:
    cdef sockaddr_storage scratch
    return _parse_ip(host, 0, &scratch)


cdef tuple _sockaddr_tuple(const sockaddr* addr):
    """(address, 'IPv4'|'IPv6', port) for an AF_INET/AF_INET6 sockaddr, else None."""
    cdef char name[64]
    if addr.sa_family == AF_INET:
        uv_ip_name(addr, name, sizeof(name))
        return (name.decode(), 'IPv4', ntohs((<const sockaddr_in*>addr).sin_port))
    if addr.sa_family == AF_INET6:
        uv_ip_name(addr, name, sizeof(name))
        return (name.decode(), 'IPv6', ntohs((<const sockaddr_in6*>addr).sin6_port))
    return None


cdef class _Lookup:
    """One name resolution for `owner`, whose _lookup_done() gets the answer.

    The owner keeps the lookup it is waiting for and ignores any other, so the answer to an
    abandoned lookup never acts on the owner's next attempt.
    """


cdef _Lookup _lookup(Handle owner, str host, int family):
    """Resolves host in libuv's thread pool; an IP literal answers itself on a later tick
    (whatever `family` says, as in Node)."""
    cdef _Lookup lookup = _Lookup.__new__(_Lookup)
    lookup.owner = owner
    cdef int literal = _ip_family(host)
    if literal:
        _call_later(_later_lookup_answer, lookup, [(literal, host)])
        return lookup
    cdef addrinfo hints
    memset(&hints, 0, sizeof(hints))
    hints.ai_family = AF_INET if family == 4 else AF_INET6 if family == 6 else AF_UNSPEC
    hints.ai_socktype = SOCK_STREAM
    cdef bytes name = host.encode('utf-8', 'replace')
    cdef uv_getaddrinfo_t* req = <uv_getaddrinfo_t*>_new_request(sizeof(uv_getaddrinfo_t))
    req.data = <void*>lookup
    Py_INCREF(lookup)
    cdef int status = uv_getaddrinfo(_uv_loop, req, _on_getaddrinfo, name, NULL, &hints)
    if status < 0:
        Py_DECREF(lookup)
        _free_request(req)
        _call_later(_later_lookup_failure, lookup, status)
    return lookup


cdef int _later_lookup_answer(object lookup, object addresses) except -1:
    (<_Lookup>lookup).owner._lookup_done(<_Lookup>lookup, 0, <list>addresses)
    return 0


cdef int _later_lookup_failure(object lookup, object status) except -1:
    (<_Lookup>lookup).owner._lookup_done(<_Lookup>lookup, <int>status, [])
    return 0


cdef list _addresses(addrinfo* result):
    """[(family, address)] of a getaddrinfo result, in its order, without repeats."""
    addresses = []
    cdef addrinfo* item = result
    while item != NULL:
        info = _sockaddr_tuple(item.ai_addr)
        if info is not None:
            entry = (4 if info[1] == 'IPv4' else 6, info[0])
            if entry not in addresses:
                addresses.append(entry)
        item = item.ai_next
    return addresses


cdef void _on_getaddrinfo(uv_getaddrinfo_t* req, int status, addrinfo* result) noexcept:
    _enter_callback()
    lookup = <_Lookup>req.data
    Py_DECREF(lookup)           # the reference libuv held; `lookup` keeps its own
    _free_request(req)
    try:
        addresses = _addresses(result)
        (<_Lookup>lookup).owner._lookup_done(<_Lookup>lookup, status, addresses)
    except BaseException as exc:
        _loop.report(exc)
    finally:
        if result != NULL:
            uv_freeaddrinfo(result)
    _loop.after_callback()
