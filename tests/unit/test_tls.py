"""The sandbox CA proven by real TLS handshakes against a local server (no Docker needed)."""

import http.server
import socket
import ssl
import stat
import threading
from contextlib import contextmanager

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mastodon_sandbox.tls import ensure_tls, issue_leaf


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    assert ensure_tls(d, "test")
    return d


def _ca(tls_dir):
    cert = x509.load_pem_x509_certificate((tls_dir / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((tls_dir / "ca.key").read_bytes(), password=None)
    return cert, key


@contextmanager
def https_server(cert_file, key_file):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def _write_leaf(tls_dir, tmp_path, names):
    cert, key = issue_leaf(*_ca(tls_dir), dns_names=names, ips=())
    cf, kf = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    cf.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + (tls_dir / "ca.pem").read_bytes())
    kf.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cf, kf


def test_requests_trusts_the_sandbox_with_the_ca_and_with_the_bundle(tls_dir):
    with https_server(tls_dir / "cert.pem", tls_dir / "key.pem") as port:
        for verify in (tls_dir / "ca.pem", tls_dir / "bundle.pem"):
            assert requests.get(f"https://localhost:{port}/", verify=str(verify), timeout=5).text == "OK"
        assert requests.get(f"https://127.0.0.1:{port}/", verify=str(tls_dir / "ca.pem"), timeout=5).ok
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"https://localhost:{port}/", timeout=5)  # not trusted without the CA


def test_pythons_default_strict_context_accepts_the_proxy_certificate(tls_dir):
    ctx = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with https_server(tls_dir / "cert.pem", tls_dir / "key.pem") as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_certificate_for_another_name_signed_by_the_ca_is_rejected(tls_dir, tmp_path):
    # The CA is name-constrained: even a certificate that also names localhost is refused when it
    # claims any other name, by requests and by Python's default context alike.
    cf, kf = _write_leaf(tls_dir, tmp_path, ("localhost", "bank.example.com"))
    with https_server(cf, kf) as port:
        with pytest.raises(requests.exceptions.SSLError, match="subtree|constraint"):
            requests.get(f"https://localhost:{port}/", verify=str(tls_dir / "bundle.pem"), timeout=5)
        ctx = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            with pytest.raises(ssl.SSLCertVerificationError, match="subtree|constraint"):
                ctx.wrap_socket(sock, server_hostname="localhost")


def test_bundle_keeps_the_systems_cas_and_files_are_private(tls_dir):
    bundle = (tls_dir / "bundle.pem").read_text()
    assert bundle.count("BEGIN CERTIFICATE") > 10 and (tls_dir / "ca.pem").read_text() in bundle
    for f in tls_dir.iterdir():
        # the bundle holds certificates only, and Mastodon reads it as its own user in a federating container
        assert stat.S_IMODE(f.stat().st_mode) == (0o644 if f.name == "bundle.pem" else 0o600), f.name


def test_existing_ca_is_never_replaced(tls_dir):
    before = (tls_dir / "ca.pem").read_bytes(), (tls_dir / "cert.pem").read_bytes()
    assert not ensure_tls(tls_dir, "test")
    assert ((tls_dir / "ca.pem").read_bytes(), (tls_dir / "cert.pem").read_bytes()) == before
