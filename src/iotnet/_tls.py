"""TLS for iotnet.tls: SSLContexts from Node's options, the settings a TLSSocket keeps, and
Node's error codes for what OpenSSL reports (the one map of them).

Every check runs at the call (createServer, connect, TLSSocket()), so a bad option fails there.
"""
import errno
import os
import ssl
import tempfile

from . import _args

DEFAULT_MIN_VERSION = "TLSv1.2"
DEFAULT_HANDSHAKE_TIMEOUT_MS = 120000     # Node's default

TLS_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}

# OpenSSL's X509_V_ERR_* numbers -> Node's codes. 20 ("unable to get local issuer
# certificate") is what a lone leaf with an unknown issuer gives; Node calls that
# UNABLE_TO_VERIFY_LEAF_SIGNATURE.
VERIFY_CODES = {
    2: "UNABLE_TO_GET_ISSUER_CERT",
    4: "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
    6: "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
    7: "CERT_SIGNATURE_FAILURE",
    9: "CERT_NOT_YET_VALID",
    10: "CERT_HAS_EXPIRED",
    13: "ERROR_IN_CERT_NOT_BEFORE_FIELD",
    14: "ERROR_IN_CERT_NOT_AFTER_FIELD",
    18: "DEPTH_ZERO_SELF_SIGNED_CERT",
    19: "SELF_SIGNED_CERT_IN_CHAIN",
    20: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    21: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    22: "CERT_CHAIN_TOO_LONG",
    23: "CERT_REVOKED",
    24: "INVALID_CA",
    25: "PATH_LENGTH_EXCEEDED",
    26: "INVALID_PURPOSE",
    27: "CERT_UNTRUSTED",
    28: "CERT_REJECTED",
    62: "ERR_TLS_CERT_ALTNAME_INVALID",     # host name mismatch
    64: "ERR_TLS_CERT_ALTNAME_INVALID",     # IP address mismatch
}

# snake_case spellings of the TLS options.
_ALIASES = {
    "request_cert": "requestCert",
    "reject_unauthorized": "rejectUnauthorized",
    "alpn_protocols": "ALPNProtocols",
    "sni_callback": "SNICallback",
    "min_version": "minVersion",
    "handshake_timeout": "handshakeTimeout",
    "check_server_identity": "checkServerIdentity",
}


def error(err):
    """An ssl.SSLError with Node's `code`: a verify result's name, else ERR_SSL_<reason>."""
    if isinstance(err, ssl.SSLCertVerificationError):
        code = VERIFY_CODES.get(err.verify_code)
        if code is None:
            code = "ERR_SSL_" + (err.reason or "CERTIFICATE_VERIFY_FAILED")
    else:
        code = "ERR_SSL_" + (err.reason or "UNKNOWN").upper()
    err.code = code
    return err


def disconnected_error():
    """The peer closed the TCP connection before the handshake ended (Node's message)."""
    err = ConnectionResetError(errno.ECONNRESET, "Client network socket disconnected before "
                               "secure TLS connection was established")
    err.code = "ECONNRESET"
    return err


def _options(options, kwargs, what):
    opts = _args.merge(options, kwargs, what)
    return {_ALIASES.get(key, key): value for key, value in opts.items()}


def socket_options(options, kwargs):
    """The Socket constructor's options within a TLSSocket's."""
    opts = _options(options, kwargs, "TLSSocket")
    return {key: opts[key] for key in ("allowHalfOpen", "highWaterMark", "onread") if key in opts}


def server_net_options(options, kwargs):
    """The net Server's options within tls.createServer's."""
    opts = _options(options, kwargs, "Server")
    return {key: value for key, value in opts.items()
            if key in ("allowHalfOpen", "pauseOnConnect", "noDelay", "keepAlive",
                       "keepAliveInitialDelay", "highWaterMark", "onread", "proxyProtocol",
                       "headerTimeout")}


# -- certificates, keys and CAs -----------------------------------------------------------------

def _is_pem(value):
    return isinstance(value, bytes) or (isinstance(value, str) and "-----BEGIN" in value)


def _pem_text(value, name):
    if isinstance(value, bytes):
        return value.decode("ascii")
    if _is_pem(value):
        return value
    if isinstance(value, (str, os.PathLike)):
        try:
            with open(value, encoding="ascii") as f:
                return f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{name}: cannot read {value!r}: {exc}") from None
    raise TypeError(f"{name} must be PEM text (str or bytes) or a file path, "
                    f"not {type(value).__name__}")


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _load_ca(context, ca):
    pem = "\n".join(_pem_text(each, "ca") for each in _as_list(ca))
    try:
        context.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"ca: not a usable PEM certificate: {exc}") from None


def _load_cert_chain(context, cert, key, passphrase):
    """load_cert_chain() reads files only: PEM text goes through a private temporary folder
    that is removed at once."""
    if passphrase is not None and not isinstance(passphrase, (str, bytes)):
        raise TypeError(f"passphrase must be a str, not {type(passphrase).__name__}")
    cert_pem = "\n".join(_pem_text(each, "cert") for each in _as_list(cert))
    key_pem = None if key is None else _pem_text(key, "key")
    with tempfile.TemporaryDirectory(prefix="iotnet-tls-") as folder:
        cert_path = os.path.join(folder, "cert.pem")
        with open(os.open(cert_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(cert_pem)
        key_path = None
        if key_pem is not None:
            key_path = os.path.join(folder, "key.pem")
            with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(key_pem)
        try:
            context.load_cert_chain(cert_path, key_path, passphrase)
        except ssl.SSLError as exc:
            raise ValueError(f"cert/key: not a usable certificate and private key: {exc}") \
                from None


def _min_version(opts):
    name = opts.get("minVersion", DEFAULT_MIN_VERSION)
    if name not in TLS_VERSIONS:
        raise ValueError(f"minVersion must be one of {', '.join(TLS_VERSIONS)}, not {name!r}")
    return TLS_VERSIONS[name]


def _alpn(opts):
    protocols = opts.get("ALPNProtocols")
    if protocols is None:
        return None
    if isinstance(protocols, (str, bytes)) or not all(isinstance(p, str) for p in protocols):
        raise TypeError("ALPNProtocols must be a list of str")
    return list(protocols)


def _context_option(opts, purpose):
    context = opts.get("context")
    if context is None:
        return None
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"context must be an ssl.SSLContext, not {type(context).__name__}")
    wrong = ssl.PROTOCOL_TLS_SERVER if purpose == "client" else ssl.PROTOCOL_TLS_CLIENT
    if context.protocol == wrong:
        raise ValueError(f"context must be a {purpose}-side ssl.SSLContext")
    return context


# -- the client -----------------------------------------------------------------------------------

class ClientSettings:
    """What a client TLSSocket needs beyond its SSLContext."""

    def __init__(self, context, servername, reject_unauthorized, check_server_identity):
        self.context = context
        self.servername = servername
        self.reject_unauthorized = reject_unauthorized
        self.check_server_identity = check_server_identity
        self.request_cert = False
        self.handshake_timeout_ms = 0

    def check_identity(self, ssl_object, hostname):
        """After the handshake: the error of a given checkServerIdentity, or None."""
        if self.check_server_identity is None or not self.reject_unauthorized:
            return None
        result = self.check_server_identity(hostname, ssl_object.getpeercert() or {})
        if result is None:
            return None
        if not isinstance(result, BaseException):
            result = ssl.SSLCertVerificationError(f"checkServerIdentity rejected {hostname}: "
                                                  f"{result!r}")
        if getattr(result, "code", None) is None:
            result.code = "ERR_TLS_CERT_ALTNAME_INVALID"
        return result

    def authorization_error(self, ssl_object):
        return None     # Python's ssl reports nothing when verification was off


def client_settings(options, kwargs):
    opts = _options(options, kwargs, "TLS connect")
    reject = _args.boolean(opts.get("rejectUnauthorized", True), "rejectUnauthorized")
    check = _args.callable_or_none(opts.get("checkServerIdentity"), "checkServerIdentity")
    servername = opts.get("servername")
    if servername is not None and not isinstance(servername, str):
        raise TypeError(f"servername must be a str, not {type(servername).__name__}")
    context = _context_option(opts, "client")
    if context is None:
        if opts.get("ca") is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)     # ca replaces the system's
            _load_ca(context, opts["ca"])
        else:
            context = ssl.create_default_context()
        context.minimum_version = _min_version(opts)
        if opts.get("cert") is not None:
            _load_cert_chain(context, opts["cert"], opts.get("key"), opts.get("passphrase"))
        alpn = _alpn(opts)
        if alpn:
            context.set_alpn_protocols(alpn)
        if not reject:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif check is not None:
            context.check_hostname = False       # the given function checks the name
    else:
        reject = context.verify_mode == ssl.CERT_REQUIRED
    return ClientSettings(context, servername, reject, check)


# -- the server -----------------------------------------------------------------------------------

class ServerSettings:
    """What a TLSServer gives each TLSSocket it accepts."""

    def __init__(self, context, request_cert, handshake_timeout_ms):
        self.context = context
        self.request_cert = request_cert
        self.handshake_timeout_ms = handshake_timeout_ms
        self.servername = None

    def authorization_error(self, ssl_object):
        if self.request_cert and not ssl_object.getpeercert():
            return "UNABLE_TO_GET_ISSUER_CERT"
        return None


def received_servername(ssl_object):
    """The SNI name a client sent, as the server's sni_callback recorded it."""
    return getattr(ssl_object, "iotnet_servername", None)


def _sni_callback(sni_callback, server_context):
    """The SSLContext's sni_callback: records the name, and lets SNICallback(servername, cb)
    pick the context (cb must be called before SNICallback returns).

    As in Node, requestCert is the server's: a picked context that verifies nothing of its own
    takes the server's verify mode (Python's getpeercert() reads the verify mode of the
    connection's current context, and would report no client certificate)."""
    def on_servername(ssl_object, servername, context):
        ssl_object.iotnet_servername = servername
        if sni_callback is None or servername is None:
            return None
        chosen = []
        sni_callback(servername, lambda err, ctx=None: chosen.append((err, ctx)))
        if not chosen:
            return None
        err, ctx = chosen[0]
        if err is not None:
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        if ctx is not None:
            if ctx.verify_mode == ssl.CERT_NONE:
                ctx.verify_mode = server_context.verify_mode
            ssl_object.context = ctx
        return None
    return on_servername


def server_settings(options, kwargs):
    opts = _options(options, kwargs, "TLS server")
    request_cert = _args.boolean(opts.get("requestCert", False), "requestCert")
    reject = _args.boolean(opts.get("rejectUnauthorized", True), "rejectUnauthorized")
    sni = _args.callable_or_none(opts.get("SNICallback"), "SNICallback")
    timeout = _args.milliseconds(opts.get("handshakeTimeout", DEFAULT_HANDSHAKE_TIMEOUT_MS),
                                 "handshakeTimeout")
    context = _context_option(opts, "server")
    if context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = _min_version(opts)
        if opts.get("cert") is not None:
            _load_cert_chain(context, opts["cert"], opts.get("key"), opts.get("passphrase"))
        elif sni is None:
            raise ValueError("a TLS server needs cert and key (or context, or SNICallback)")
        if opts.get("ca") is not None:
            _load_ca(context, opts["ca"])
        if request_cert:
            context.verify_mode = ssl.CERT_REQUIRED if reject else ssl.CERT_OPTIONAL
        alpn = _alpn(opts)
        if alpn:
            context.set_alpn_protocols(alpn)
    if context.sni_callback is None or sni is not None:
        context.sni_callback = _sni_callback(sni, context)
    request_cert = request_cert or context.verify_mode != ssl.CERT_NONE
    return ServerSettings(context, request_cert, timeout)


def connect_args(args, kwargs):
    """tls.connect(options, listener) or tls.connect(port, host=None, options=None, listener):
    one options dict with port and host in it, and the secureConnect listener."""
    args = list(args)
    listener = kwargs.pop("secureConnectListener", kwargs.pop("secure_connect_listener", None))
    while args and args[-1] is None:
        args.pop()
    if args and callable(args[-1]):
        listener = args.pop()
    if args and isinstance(args[0], dict):
        if len(args) > 1:
            raise TypeError("tls.connect(options, listener) takes no further arguments")
        opts = dict(args[0])
    else:
        opts = {}
        if args:
            opts["port"] = args.pop(0)
        if args and (args[0] is None or isinstance(args[0], str)):
            opts["host"] = args.pop(0)
        if args and isinstance(args[0], dict):
            opts = {**args.pop(0), **opts}
        if args:
            raise TypeError("tls.connect(port, host, options, listener): too many arguments")
    opts.update(kwargs)
    return opts, _args.callable_or_none(listener, "secureConnectListener")
