"""Certificates for the TLS tests, made at test time (no private key is committed).

ECDSA P-256 throughout. `certs()` makes them once per test session in a private folder and
returns a namespace of PEM strings and file paths:

- ca: a CA; server: a leaf for 'localhost' and 127.0.0.1 signed by ca; client: a client leaf
  signed by ca;
- self_signed: a lone self-signed leaf for 'localhost';
- expired: a leaf for 'localhost' signed by ca, valid until yesterday;
- other_ca / unknown_issuer: a second CA, and a leaf for 'localhost' it signed (a client that
  trusts only ca sees a lone leaf whose issuer it does not know);
- sni_other: a leaf for 'other.example' signed by ca (a second SNI context).

Each entry X has X.cert / X.key (PEM text) and X.cert_path / X.key_path.
"""
import atexit
import datetime
import ipaddress
import shutil
import tempfile
import types

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_made = None


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _make(folder, label, common_name, issuer=None, is_ca=False, hosts=(), ips=(),
          client=False, days_valid=(-1, 30)):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    signer_key = key if issuer is None else issuer.private_key
    issuer_name = _name(common_name) if issuer is None else issuer.subject
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name))
               .issuer_name(issuer_name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=days_valid[0]))
               .not_valid_after(now + datetime.timedelta(days=days_valid[1]))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False), critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        names = [x509.DNSName(h) for h in hosts] + [x509.IPAddress(ipaddress.ip_address(i))
                                                    for i in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.private_key.public_key()),
            critical=False)
    cert = builder.sign(signer_key, hashes.SHA256())
    entry = types.SimpleNamespace(
        subject=cert.subject, private_key=key,
        cert=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())
    entry.cert_path = f"{folder}/{label}.crt"
    entry.key_path = f"{folder}/{label}.key"
    with open(entry.cert_path, "w") as f:
        f.write(entry.cert)
    with open(entry.key_path, "w") as f:
        f.write(entry.key)
    return entry


def certs():
    """The test certificates (made on the first call, then the same ones)."""
    global _made
    if _made is None:
        folder = tempfile.mkdtemp(prefix="iotnet-test-certs-")
        atexit.register(shutil.rmtree, folder, True)
        ca = _make(folder, "ca", "iotnet test CA", is_ca=True)
        other_ca = _make(folder, "other_ca", "iotnet other CA", is_ca=True)
        _made = types.SimpleNamespace(
            folder=folder,
            ca=ca,
            server=_make(folder, "server", "localhost", ca, hosts=["localhost"],
                         ips=["127.0.0.1"]),
            client=_make(folder, "client", "iotnet test client", ca, client=True),
            self_signed=_make(folder, "self_signed", "localhost", hosts=["localhost"],
                              ips=["127.0.0.1"]),
            expired=_make(folder, "expired", "localhost", ca, hosts=["localhost"],
                          ips=["127.0.0.1"], days_valid=(-30, -1)),
            other_ca=other_ca,
            unknown_issuer=_make(folder, "unknown_issuer", "localhost", other_ca,
                                 hosts=["localhost"], ips=["127.0.0.1"]),
            sni_other=_make(folder, "sni_other", "other.example", ca,
                            hosts=["other.example"]),
        )
    return _made
