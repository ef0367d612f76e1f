"""The sandbox's own certificate authority and the proxy's certificate.

The CA is name-constrained to the sandbox's names (localhost and loopback addresses), so a user who
trusts it — in a browser for a demo, or in REQUESTS_CA_BUNDLE — trusts nothing else: a certificate it
signs for any other name is rejected by every client that enforces RFC 5280 name constraints
(OpenSSL, and so Python's ssl and requests, do).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .state import write_private

# The only names the sandbox answers to. "localhost" as a DNS constraint also covers *.localhost.
SANDBOX_DNS_NAMES = ("localhost",)
SANDBOX_IPS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
LEAF_DNS_NAMES = ("localhost",)
LEAF_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))

CA_DAYS = 3650
LEAF_DAYS = 397  # the longest validity browsers accept for a server certificate


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_ca(label: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new CA that may only vouch for the sandbox's names."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mastodon-sandbox"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"mastodon-sandbox local CA ({label})"),
    ])
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(n) for n in SANDBOX_DNS_NAMES] + [x509.IPAddress(n) for n in SANDBOX_IPS],
        excluded_subtrees=None,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(constraints, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    dns_names: tuple[str, ...] = LEAF_DNS_NAMES,
    ips: tuple = LEAF_IPS,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server certificate for the given names, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ip) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0] if dns_names else str(ips[0]))]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def system_ca_bundle() -> Path:
    """The CAs other HTTPS calls need: the system's bundle, else certifi's."""
    for candidate in (os.environ.get("SANDBOX_SYSTEM_CA_BUNDLE"), "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return Path(certifi.where())


def ensure_ca(tls_dir: Path, label: str) -> bool:
    """The CA in `tls_dir` (ca.pem, ca.key), made unless it exists. Returns True when made."""
    if (tls_dir / "ca.pem").exists():
        return False
    ca_cert, ca_key = make_ca(label)
    write_private(tls_dir / "ca.key", _pem_key(ca_key))
    write_private(tls_dir / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
    return True


def write_leaf(issuer: Path, cert_pem: Path, key_pem: Path, dns_names: tuple[str, ...], ips: tuple = ()) -> None:
    """A server certificate for `dns_names` from the CA in the folder `issuer` (ca.pem, ca.key), written as the
    chain a server sends — leaf, then the CA (clients still need the CA as a trust anchor) — and its key."""
    ca_cert = x509.load_pem_x509_certificate((issuer / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((issuer / "ca.key").read_bytes(), password=None)
    leaf, leaf_key = issue_leaf(ca_cert, ca_key, dns_names, ips)
    write_private(key_pem, _pem_key(leaf_key))
    write_private(cert_pem, leaf.public_bytes(serialization.Encoding.PEM) + (issuer / "ca.pem").read_bytes())


def ensure_tls(tls_dir: Path, label: str, dns_names: tuple[str, ...] = LEAF_DNS_NAMES, ips: tuple = LEAF_IPS,
               authority: Path | None = None) -> bool:
    """Create the CA, the proxy's certificate for `dns_names` and the combined bundle unless they exist.

    `authority` is the folder of a CA shared by several sandboxes (a federation group's): its certificate is
    copied here, its key stays there. Returns True when something was created. Existing material is never
    replaced: clients may already trust this CA.
    """
    ca_pem, cert_pem, key_pem, bundle = tls_dir / "ca.pem", tls_dir / "cert.pem", tls_dir / "key.pem", tls_dir / "bundle.pem"
    issuer = authority or tls_dir
    created = ensure_ca(issuer, label)
    if authority is not None and not ca_pem.exists():
        write_private(ca_pem, (authority / "ca.pem").read_bytes())
        created = True
    if created:
        cert_pem.unlink(missing_ok=True)
    if not cert_pem.exists():
        write_leaf(issuer, cert_pem, key_pem, dns_names, ips)
        created = True
    if created or not bundle.exists():
        write_private(bundle, system_ca_bundle().read_bytes().rstrip(b"\n") + b"\n" + ca_pem.read_bytes())
    # Certificates only, no key: readable by the user Mastodon runs as in a container that mounts it
    # (a federation group's member trusts the others through it, compose/federation.yml).
    bundle.chmod(0o644)
    return created
