# Errors: one factory turns a libuv status into the matching built-in OSError subclass;
# errors that do not come from the system are NetError with Node's code.

import errno as _errno_module
import os as _os


class NetError(RuntimeError):
    """An error that does not come from the system; `code` is Node's (ERR_SERVER_NOT_RUNNING...)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


_NET_ERROR_MESSAGES = {
    'ERR_SERVER_NOT_RUNNING': 'Server is not running.',
    'ERR_SERVER_ALREADY_LISTEN': 'Listen method has been called more than once without closing.',
    'ERR_STREAM_WRITE_AFTER_END': 'write after end',
    'ERR_STREAM_ALREADY_FINISHED': 'Cannot call end after a stream was finished',
    'ERR_STREAM_DESTROYED': 'Cannot call write after a stream was destroyed',
    'ERR_SOCKET_CLOSED_BEFORE_CONNECTION': 'Socket closed before the connection was established',
    'ERR_SOCKET_CLOSED': 'Socket is closed',
    'ERR_TLS_HANDSHAKE_TIMEOUT': 'TLS handshake timeout',
}


cdef object net_error(str code):
    return NetError(code, _NET_ERROR_MESSAGES[code])


# Resolver failures that mean "no such name" are ENOTFOUND, as in Node.
cdef int _is_not_found(int status) noexcept:
    return status == UV_EAI_NONAME or status == UV_EAI_NODATA or status == UV_EAI_ADDRFAMILY


cdef object uv_error(int status, str syscall, object address=None, object port=None,
                     object hostname=None):
    """The OSError for a negative libuv status, with code, syscall and where it happened."""
    cdef str code = 'ENOTFOUND' if _is_not_found(status) else uv_err_name(status).decode()
    cdef int err_no = -status
    cdef str text
    if code.startswith('EAI_') or code == 'ENOTFOUND':
        text = uv_strerror(status).decode()
    else:
        text = _os.strerror(err_no)
    exc = OSError(err_no, text)
    exc.code = code
    exc.syscall = syscall
    if hostname is not None:
        exc.hostname = hostname
    if address is not None:
        exc.address = address
    if port is not None:
        exc.port = port
    return exc
