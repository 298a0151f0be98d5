"""The home's CA and the certificates it signs (``hub.security.certificates``)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.security.certificates import (
    CA_VALIDITY,
    LEAF_VALIDITY,
    certificate_subject,
    ensure_ca,
    ensure_certificate,
    principal_mapping_rules,
)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_broker_certificate_names_loopback_and_chains_to_the_ca(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path / "tls", "home")
    broker = ensure_certificate(ca, tmp_path / "tls", "broker", common_name="liangfa-broker",
                                server=True)
    cert, ca_cert = _cert(broker.cert), _cert(ca.cert)
    cert.verify_directly_issued_by(ca_cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Python's own verifier accepts it for 127.0.0.1 (what every client checks).
    context = ssl.create_default_context(cafile=str(ca.cert))
    context.load_cert_chain(str(broker.cert), str(broker.key))
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_validity_periods(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "home")
    leaf = ensure_certificate(ca, tmp_path, "view", common_name="liangfa-view")
    now = dt.datetime.now(dt.UTC)
    ca_cert, cert = _cert(ca.cert), _cert(leaf.cert)
    assert ca_cert.not_valid_before_utc <= now <= ca_cert.not_valid_after_utc
    assert abs(ca_cert.not_valid_after_utc - (now + CA_VALIDITY)) < dt.timedelta(hours=1)
    assert abs(cert.not_valid_after_utc - (now + LEAF_VALIDITY)) < dt.timedelta(hours=1)
    assert cert.not_valid_after_utc <= ca_cert.not_valid_after_utc
    usage = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usage == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_every_file_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "secrets" / "tls"
    ca = ensure_ca(folder)
    leaf = ensure_certificate(ca, folder, "broker", common_name="liangfa-broker", server=True)
    for path in (ca.cert, ca.key, leaf.cert, leaf.key, leaf.keystore):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    keystore = leaf.keystore.read_text(encoding="ascii")
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----")
    assert "-----BEGIN CERTIFICATE-----" in keystore


def test_certificates_are_reused_and_reissued_under_a_new_ca(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path)
    first = ensure_certificate(ca, tmp_path, "view", common_name="liangfa-view")
    serial = _cert(first.cert).serial_number
    ca_serial = _cert(ca.cert).serial_number
    assert _cert(ensure_ca(tmp_path).cert).serial_number == ca_serial
    assert _cert(ensure_certificate(ca, tmp_path, "view", common_name="liangfa-view")
                 .cert).serial_number == serial
    ca.cert.unlink()  # a new CA: the old leaf no longer chains to it
    new_ca = ensure_ca(tmp_path)
    again = ensure_certificate(new_ca, tmp_path, "view", common_name="liangfa-view")
    assert _cert(again.cert).serial_number != serial
    _cert(again.cert).verify_directly_issued_by(_cert(new_ca.cert))


def _apply_rules(dn: str) -> str:
    """Kafka's SslPrincipalMapper, enough of it for the rules the hub writes."""
    for rule in re.findall(r"RULE:(\^.*?\$)/(.*?)/", principal_mapping_rules()):
        pattern, replacement = rule
        match = re.match(pattern, dn)
        if match:
            return match.expand(replacement.replace("$", "\\"))
    return dn


@pytest.mark.parametrize("user", ["unit-11420999MB00000114", "liangfa-streams",
                                  "liangfa-view", "sub-county-press", "admin"])
def test_the_subject_maps_back_to_the_principal_the_acls_name(tmp_path: Path,
                                                              user: str) -> None:
    ca = ensure_ca(tmp_path)
    leaf = ensure_certificate(ca, tmp_path, user, common_name=certificate_subject(user))
    dn = _cert(leaf.cert).subject.rfc4514_string()
    assert dn.startswith("CN=")
    assert _apply_rules(dn) == user
    assert _cert(leaf.cert).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value \
        == certificate_subject(user)


def test_no_certificate_for_a_name_no_rule_maps_back() -> None:
    with pytest.raises(ValueError, match="no mapping rule"):
        certificate_subject("unit-not-a-code")
    with pytest.raises(ValueError, match="no mapping rule"):
        certificate_subject("controller")
