# EventEmitter: Node's listener semantics, with listener lists kept as tuples so that an emit
# walks a snapshot without copying (a listener removed during an emit still runs for it), and
# storage methods a Stream overrides to keep its 'data' listeners where the read path looks.


cdef class _OnceListener:
    """Wraps a once() listener: removes itself, then calls the user's function."""

    def __call__(self, *args):
        if self.fired:
            return None
        self.fired = True
        (<EventEmitter>self.emitter)._remove(self.name, self)
        return self.listener(*args)


cdef inline object _check_listener(object listener):
    if not callable(listener):
        raise TypeError(f'the listener must be callable, not {type(listener).__name__}')
    return listener


cdef inline object _unwrap(object listener):
    if type(listener) is _OnceListener:
        return (<_OnceListener>listener).listener
    return listener


# Listener storage, small because every connection has one. An entry is the one listener
# itself or a tuple of two or more (a listener is callable, so never a tuple). With listeners
# for one name only, _event_name is that name and _events its entry; else _event_name is None
# and _events is None or one flat tuple (name, entry, name, entry, ...) in the order the names
# were first added. A dict and a tuple per name cost a connection about 250 bytes more; the
# one-name case saves the flat tuple (72 bytes). A Stream keeps 'data' in a field of its own.

cdef extern from "Python.h":
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    unsigned int PyUnicode_CHECK_INTERNED(object text)
    Py_hash_t PyObject_Hash(object o) except -1
    int PyUnicode_Compare(object left, object right) except? -1


cdef inline bint _same_name(object a, object b) except -1:
    """a == b for event names, cheaply: names are nearly always interned str (literals), which
    are equal only if identical; other str compare by length and cached hash first (the
    generic == of two different names costs a full string comparison)."""
    if a is b:
        return True
    if type(a) is str and type(b) is str:
        if PyUnicode_CHECK_INTERNED(a) and PyUnicode_CHECK_INTERNED(b):
            return False            # two interned strings are equal only if identical
        return (PyUnicode_GET_LENGTH(a) == PyUnicode_GET_LENGTH(b)
                and PyObject_Hash(a) == PyObject_Hash(b) and PyUnicode_Compare(a, b) == 0)
    return a == b


cdef inline Py_ssize_t _name_index(tuple events, object name) except -2:
    cdef Py_ssize_t i
    for i in range(0, len(events), 2):
        if _same_name(events[i], name):
            return i
    return -1


cdef inline object _entry_of(tuple listeners):
    if not listeners:
        return None
    return listeners[0] if len(listeners) == 1 else listeners


cdef inline tuple _as_tuple(object entry):
    if entry is None:
        return ()
    if type(entry) is tuple:
        return <tuple>entry
    return (entry,)


cdef inline void _call_reported0(object listener):
    try:
        listener()
    except BaseException as exc:
        _loop.report(exc)


cdef inline void _call_reported1(object listener, object arg):
    try:
        listener(arg)
    except BaseException as exc:
        _loop.report(exc)


cdef class EventEmitter:
    """Node's EventEmitter: on/once/prependListener/off/emit/listeners/listenerCount/eventNames.

    Server and Socket emit their events from C, straight to the listeners: a subclass that
    overrides emit() does not see them (add listeners to observe every event).
    """

    def __init__(self, *args, **kwargs):
        pass

    cdef object _entry(self, object name):
        """The listeners of `name`: None, the one listener, or a tuple of them."""
        if self._event_name is not None:
            key = self._event_name
            return self._events if _same_name(key, name) else None
        if self._events is None:
            return None
        cdef Py_ssize_t i = _name_index(<tuple>self._events, name)
        return None if i < 0 else (<tuple>self._events)[i + 1]

    cdef tuple _event_pairs(self):
        """The storage as one flat tuple (name, entry, ...)."""
        if self._event_name is not None:
            return (self._event_name, self._events)
        return <tuple>self._events if self._events is not None else ()

    cdef list _names(self):
        return list(self._event_pairs()[::2])

    cdef tuple _get(self, object name):
        return _as_tuple(self._entry(name))

    cdef void _set_listeners(self, object name, tuple listeners) except *:
        """Stores the listeners of `name` (none: the name goes). Stream keeps 'data' apart."""
        entry = _entry_of(listeners)
        if self._events is None and entry is not None and name is not None:
            self._event_name = name         # the first listener: no tuple built
            self._events = entry
            return
        cdef tuple events = self._event_pairs()
        cdef Py_ssize_t i = _name_index(events, name)
        if i >= 0:
            events = (events[:i] + events[i + 2:] if entry is None
                      else events[:i + 1] + (entry,) + events[i + 2:])
        elif entry is not None:
            events = events + (name, entry)
        if len(events) == 2 and events[0] is not None:
            self._event_name, self._events = events
        else:
            self._event_name = None
            self._events = events if events else None

    cdef _add(self, object name, object listener, bint prepend):
        _check_loop_thread()
        _check_listener(listener)
        if self._entry(u'newListener') is not None:
            # Node emits it before the listener is added, with the user's function.
            self._emit(u'newListener', (name, _unwrap(listener)))
        current = self._get(name)
        self._set_listeners(name, (listener,) + current if prepend else current + (listener,))

    cdef bint _remove(self, object name, object listener) except -1:
        """Removes the most recently added occurrence of `listener` (or its once() wrapper)."""
        cdef tuple current = self._get(name)
        cdef Py_ssize_t i
        for i in range(len(current) - 1, -1, -1):
            item = current[i]
            if item is listener or item == listener or _unwrap(item) == listener:
                self._remove_at(name, current, i)
                return True
        return False

    cdef _remove_at(self, object name, tuple current, Py_ssize_t i):
        item = current[i]
        self._set_listeners(name, current[:i] + current[i + 1:])
        if self._entry(u'removeListener') is not None:
            # Node emits it after the listener is gone, with the user's function.
            self._emit(u'removeListener', (name, _unwrap(item)))

    cdef _remove_all(self, object name):
        """Removes the listeners of `name` newest first, each with its 'removeListener'."""
        cdef tuple current = self._get(name)
        while current:
            if self._entry(u'removeListener') is None:
                self._set_listeners(name, ())
                return
            self._remove_at(name, current, len(current) - 1)
            current = self._get(name)

    cdef _once_wrapper(self, object name, object listener):
        cdef _OnceListener wrapper = _OnceListener.__new__(_OnceListener)
        wrapper.emitter = self
        wrapper.name = name
        wrapper.listener = _check_listener(listener)
        return wrapper

    cdef bint _emit(self, object name, tuple args) except -1:
        """emit(): a listener's exception propagates to the caller, as in Node."""
        cdef tuple listeners = self._get(name)
        if not listeners:
            if name == 'error':
                raise _unhandled_error(args)
            return False
        for listener in listeners:
            listener(*args)
        return True

    # The events the core emits: a listener that raises is reported to the loop (raised from
    # run() or given to on_uncaught_exception) and the other listeners, and the core's own work
    # after the emit, go on. An 'error' nobody listens to is reported the same way.

    cdef void _emit_event(self, object name, tuple args):
        cdef tuple listeners = self._get(name)
        if not listeners:
            if name == 'error':
                _loop.report(_unhandled_error(args))
            return
        for listener in listeners:
            try:
                listener(*args)
            except BaseException as exc:
                _loop.report(exc)

    cdef void _emit_event0(self, object name):
        entry = self._entry(name)
        if type(entry) is tuple:
            for listener in <tuple>entry:
                _call_reported0(listener)
        elif entry is not None:
            _call_reported0(entry)

    cdef void _emit_event1(self, object name, object arg):
        entry = self._entry(name)
        if entry is None:
            if name == 'error':
                _loop.report(_unhandled_error((arg,)))
        elif type(entry) is tuple:
            for listener in <tuple>entry:
                _call_reported1(listener, arg)
        else:
            _call_reported1(entry, arg)

    def on(self, name, listener):
        """Adds `listener` for event `name`; returns self."""
        self._add(name, listener, False)
        return self

    def prependListener(self, name, listener):
        """Adds `listener` before the others for `name`; returns self."""
        self._add(name, listener, True)
        return self

    def once(self, name, listener):
        """Adds a listener that is removed before its first call; returns self."""
        self._add(name, self._once_wrapper(name, listener), False)
        return self

    def prependOnceListener(self, name, listener):
        self._add(name, self._once_wrapper(name, listener), True)
        return self

    def off(self, name, listener):
        """Removes the most recently added `listener` for `name`; returns self."""
        _check_loop_thread()
        _check_listener(listener)
        self._remove(name, listener)
        return self

    def removeAllListeners(self, name=None):
        """Removes the listeners of `name` (of every event when None); returns self."""
        _check_loop_thread()
        if name is not None:
            self._remove_all(name)
        else:
            # As in Node: 'removeListener' listeners go last, so they hear the others go.
            for each in [n for n in self._names() if n != 'removeListener']:
                self._remove_all(each)
            self._remove_all(u'removeListener')
        return self

    def emit(self, name, *args):
        """Calls the listeners of `name` in order with `args`; True if there was one."""
        _check_loop_thread()
        return self._emit(name, args)

    def listeners(self, name):
        return [_unwrap(listener) for listener in self._get(name)]

    def rawListeners(self, name):
        return list(self._get(name))

    def listenerCount(self, name):
        return len(self._get(name))

    def eventNames(self):
        return self._names()

    addListener = on
    removeListener = off
    add_listener = on
    remove_listener = off
    prepend_listener = prependListener
    prepend_once_listener = prependOnceListener
    remove_all_listeners = removeAllListeners
    raw_listeners = rawListeners
    listener_count = listenerCount
    event_names = eventNames


cdef object _unhandled_error(tuple args):
    """What an 'error' with no listener raises: the error itself, as in Node."""
    err = args[0] if args else None
    if isinstance(err, BaseException):
        return err
    return NetError('ERR_UNHANDLED_ERROR', f"Unhandled error. ({err!r})")


from cpython.object cimport PyObject, PyTypeObject
from cpython.type cimport PyType_Modified


cdef _alias_properties(type cls, dict aliases):
    """Gives each property of an extension type its PEP 8 name: the same descriptor object
    (a cdef class body cannot name its own properties)."""
    cdef dict namespace = <dict>(<PyTypeObject*>cls).tp_dict
    for alias, name in aliases.items():
        namespace[alias] = namespace[name]
    PyType_Modified(cls)
