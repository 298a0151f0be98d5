"""A certificate authority per home, and the certificates it signs, for TLS on loopback.

Why a CA of our own: the embedded broker listens on 127.0.0.1 only, no public CA will
sign for that, and a self-signed broker certificate alone cannot sign the client
certificates that ``liangfa up --mtls`` gives every component. So the first secured
``up`` of a home creates ``<home>/secrets/tls/ca.pem`` and its key, then signs with it

* the broker's server certificate, SAN ``127.0.0.1`` and ``localhost``, so librdkafka,
  Python's ``ssl`` and the Java client verify the host name as well as the chain;
* under ``--mtls``, one client certificate per principal, whose CN the broker maps to
  the principal the generated ACLs already name (:func:`principal_mapping_rules`).

Everything is PEM (Python clients and librdkafka read it; Kafka's Java side reads it with
``ssl.keystore.type=PEM``), so no keytool and no keystore password are needed. Every
file is written mode 0600 in a 0700 folder. A certificate is reused while it is signed by
the current CA and valid for at least :data:`RENEW_BEFORE` more; otherwise it is issued
again (a new CA therefore re-issues everything at the next start).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.security.private_files import write_private_file

__all__ = [
    "CA_VALIDITY",
    "LEAF_VALIDITY",
    "RENEW_BEFORE",
    "CertificateAuthority",
    "IssuedCertificate",
    "certificate_subject",
    "ensure_ca",
    "ensure_certificate",
    "principal_mapping_rules",
]

#: How long the home's CA is valid: longer than any leaf it signs.
CA_VALIDITY = dt.timedelta(days=3650)
#: How long a broker or client certificate is valid.
LEAF_VALIDITY = dt.timedelta(days=825)
#: A certificate expiring sooner than this is issued again at the next start.
RENEW_BEFORE = dt.timedelta(days=30)
#: The organisation in every subject; the mapping rules need a second RDN after the CN.
ORGANISATION = "Liangfa Hub (local CA)"
#: The hostnames of the loopback listeners, as every client names them.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

#: A unit's 统一社会信用代码: 18 characters of the GB 32100-2015 alphabet.
_UNIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")


def principal_mapping_rules() -> str:
    """``ssl.principal.mapping.rules``: certificate CN → the principal the ACLs name.

    A unit's certificate carries its code as CN and becomes ``User:unit-<code>``; the
    hub's services (``liangfa-*``), subscribers (``sub-*``) and the ``admin`` keep their
    name. Any other subject falls to ``DEFAULT`` (the whole DN), which no ACL names, so
    a certificate from this CA with an unexpected CN can connect but do nothing.
    """
    return ",".join([
        r"RULE:^CN=([0-9A-HJ-NPQRTUWXY]{18}),.*$/unit-$1/",
        r"RULE:^CN=(liangfa-[a-z]+),.*$/$1/",
        r"RULE:^CN=(sub-[a-z0-9-]+),.*$/$1/",
        r"RULE:^CN=(admin),.*$/$1/",
        "DEFAULT",
    ])


def certificate_subject(user: str) -> str:
    """The CN that :func:`principal_mapping_rules` maps back to the SCRAM-style ``user``.

    ``unit-<code>`` → ``<code>`` (the form a unit's own U-KEY certificate carries), every
    other user name as it is. A name no rule maps back to is a ValueError, so a
    certificate is never issued for a principal it would not become.
    """
    code = user.removeprefix("unit-")
    if user.startswith("unit-") and _UNIT_CODE.match(code):
        return code
    if re.match(r"^(liangfa-[a-z]+|sub-[a-z0-9-]+|admin)$", user):
        return user
    raise ValueError(f"no mapping rule turns a certificate for {user!r} back into "
                     f"User:{user}; see hub.security.certificates.principal_mapping_rules")


@dataclass(frozen=True)
class CertificateAuthority:
    """The home's CA: ``cert`` is what clients trust (``ssl.ca.location``)."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate signed by the home's CA, in the forms its users read.

    ``cert`` and ``key`` for librdkafka and Python (``ssl.certificate.location``,
    ``ssl.key.location``); ``keystore`` (key then certificate) for a Java process,
    ``ssl.keystore.type=PEM``.
    """

    cert: Path
    key: Path
    keystore: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """PEM (ASCII) readable by the owner only, as every file under ``<home>/secrets``."""
    write_private_file(path, data.decode("ascii"))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Unencrypted PKCS#8: the one form Kafka's PEM keystore, librdkafka and Python all
    # read without a password (the file's mode is the protection, as for scram.json).
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _still_good(cert: x509.Certificate, issuer: x509.Certificate | None) -> bool:
    if cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return False
    if issuer is None:
        return True
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _load(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def ensure_ca(folder: Path, label: str = "") -> CertificateAuthority:
    """The CA of ``folder`` (``ca.pem``, ``ca-key.pem``), created when missing or expiring.

    ``label`` (e.g. the home's path) goes into the CA's CN, so two homes' CAs are told
    apart in an error message; it is not a security boundary, the key is.
    """
    ca = CertificateAuthority(folder / "ca.pem", folder / "ca-key.pem")
    existing = _load(ca.cert)
    if existing is not None and ca.key.exists() and _still_good(existing, None):
        return ca
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Liangfa Hub CA {label}".strip()[:64]),
    ])
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(ca.key, _key_pem(key))
    _write_private(ca.cert, cert.public_bytes(serialization.Encoding.PEM))
    return ca


def ensure_certificate(ca: CertificateAuthority, folder: Path, name: str, *,
                       common_name: str, server: bool = False) -> IssuedCertificate:
    """``<name>.pem``, ``<name>-key.pem`` and ``<name>-keystore.pem`` signed by ``ca``.

    ``server`` issues a listener's certificate (SAN 127.0.0.1 and localhost, server and
    client use: the broker also connects to its own listener); otherwise a client
    certificate whose CN is ``common_name``. Reused while still good (module docstring).
    """
    issued = IssuedCertificate(folder / f"{name}.pem", folder / f"{name}-key.pem",
                               folder / f"{name}-keystore.pem")
    ca_cert = _load(ca.cert)
    if ca_cert is None:
        raise ValueError(f"{ca.cert} is not a PEM certificate")
    existing = _load(issued.cert)
    if (existing is not None and issued.key.exists() and issued.keystore.exists()
            and _still_good(existing, ca_cert)
            and existing.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            == common_name):
        return issued
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca.key} is not the EC key this module writes")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([
                   x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
                   x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(LOOPBACK_HOSTS[0])),
            x509.DNSName(LOOPBACK_HOSTS[1])]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = _key_pem(key)
    _write_private(issued.key, key_pem)
    _write_private(issued.cert, cert_pem)
    _write_private(issued.keystore, key_pem + cert_pem)
    return issued
