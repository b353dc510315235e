"""Signed tree heads, the standalone verifier, and the production key rule."""

import base64
import json
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from typer.testing import CliRunner

from cme_disclosure import verifier
from cme_disclosure.domain import merkle
from cme_disclosure.domain.tree_head import (
    SignedTreeHead,
    TreeHead,
    key_id,
    load_private_key,
    private_key_pem,
    public_key_pem,
    sign,
    verify,
)
from cme_disclosure.settings import DisclosureSettings

pytestmark = pytest.mark.unit

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def head(size: int, root: bytes, key=KEY) -> SignedTreeHead:
    return sign(key, TreeHead(size, root, 1767225600000, key_id(key.public_key())))


def test_the_canonical_encoding_is_sorted_compact_json():
    h = TreeHead(8, bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"), 1767225600000,
                 "ab" * 32)
    assert h.canonical() == (
        b'{"key_id":"' + b"ab" * 32 + b'","root_hash":"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",'
        b'"timestamp":1767225600000,"tree_size":8}'
    )


def test_a_signed_head_verifies_and_any_change_breaks_it():
    sth = head(3, bytes(32))
    assert verify(KEY.public_key(), sth)
    body = sth.as_json()
    assert body["signed_bytes"] == sth.head.canonical().decode()
    for field, value in (("tree_size", 4), ("root_hash", "11" * 32), ("timestamp", 1)):
        assert not verify(KEY.public_key(), SignedTreeHead.from_json({**body, field: value}))
    assert not verify(Ed25519PrivateKey.generate().public_key(), sth)  # another key


def test_keys_load_from_hex_or_pem_and_nothing_else():
    assert key_id(load_private_key(bytes(range(32)).hex()).public_key()) == key_id(KEY.public_key())
    assert key_id(load_private_key(private_key_pem(KEY)).public_key()) == key_id(KEY.public_key())
    with pytest.raises(ValueError):
        load_private_key("abcd")
    with pytest.raises(ValueError):
        load_private_key("not a key at all")


def test_production_refuses_to_start_without_a_signing_key():
    common = dict(env="production", jwks_url="https://idp.example/jwks", jwt_secret="a-real-secret-from-the-vault",
                  jwt_issuer="https://idp.example/tenant", jwt_audience="cme-platform",
                  signing_key_file="/run/secrets/disclosure.pem", trusted_signers_dir="/run/secrets/signers",
                  kafka_security_protocol="SASL_SSL", kafka_username="cme-disclosure", kafka_password="from-the-vault")
    with pytest.raises(ValidationError, match="CME_LOG_SIGNING_KEY"):
        DisclosureSettings(**common)
    assert DisclosureSettings(**common, log_signing_key=bytes(range(32)).hex()).log_key()


def test_the_development_key_is_kept_in_a_file_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CME_LOG_SIGNING_KEY", raising=False)
    monkeypatch.delenv("CME_LOG_SIGNING_KEY_FILE", raising=False)
    pem = DisclosureSettings(env="development").log_key()
    path = tmp_path / ".local" / "secrets" / "disclosure-log-ed25519.pem"  # the default, from the working directory
    assert path.read_text() == pem and load_private_key(pem)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DisclosureSettings(env="development").log_key() == pem  # made once, then kept
    elsewhere = tmp_path / "keys" / "log.pem"
    assert DisclosureSettings(env="test", log_signing_key_file=elsewhere).log_key() == elsewhere.read_text() != pem
    assert [p.name for p in elsewhere.parent.iterdir()] == ["log.pem"]  # no temporary file left behind

    common = dict(env="production", jwks_url="https://idp.example/jwks", jwt_secret="a-real-secret-from-the-vault",
                  jwt_issuer="https://idp.example/tenant", jwt_audience="cme-platform",
                  signing_key_file="/run/secrets/disclosure.pem", trusted_signers_dir="/run/secrets/signers",
                  kafka_security_protocol="SASL_SSL", kafka_username="cme-disclosure", kafka_password="from-the-vault")
    with pytest.raises(FileNotFoundError):  # production never makes itself a key
        DisclosureSettings(**common, log_signing_key_file=tmp_path / "missing.pem").log_key()
    assert DisclosureSettings(**common, log_signing_key_file=path).log_key() == pem


def test_the_withholding_window_is_configurable(monkeypatch):
    monkeypatch.delenv("CME_WITHHOLDING_MAX_DAYS", raising=False)
    assert DisclosureSettings().withholding_max_days == 365
    monkeypatch.setenv("CME_WITHHOLDING_MAX_DAYS", "30")
    assert DisclosureSettings().withholding_max_days == 30


def write(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


def test_the_standalone_verifier_checks_inclusion_and_consistency_offline(tmp_path):
    leaves = [f"leaf-{i}".encode() for i in range(11)]
    frontier, nodes, roots = merkle.Frontier(), {}, {}
    for leaf in leaves:
        for level, index, h in frontier.append(leaf):
            nodes[(level, index)] = h
        roots[frontier.size] = frontier.root()
    new, old = head(11, roots[11]), head(6, roots[6])
    proof = merkle.hash_ranges(merkle.inclusion_ranges(4, 11), nodes)
    key_json = {"key_id": key_id(KEY.public_key()), "public_key_pem": public_key_pem(KEY.public_key()),
                "previous_keys": []}
    args = ["inclusion", "--tree-head", write(tmp_path, "h.json", new.as_json()),
            "--public-key", write(tmp_path, "k.json", key_json), "--leaf-index", "4",
            "--proof", write(tmp_path, "p.json", {"proof": [p.hex() for p in proof]})]
    runner = CliRunner()
    ok = runner.invoke(verifier.cli, [*args, "--leaf-b64", base64.b64encode(leaves[4]).decode()])
    assert ok.exit_code == 0, ok.output
    assert "leaf 4 is in the signed tree of size 11" in ok.output
    wrong_leaf = runner.invoke(verifier.cli, [*args, "--leaf-b64", base64.b64encode(b"leaf-X").decode()])
    assert wrong_leaf.exit_code == 1
    assert "leaf 4 is not proven" in wrong_leaf.output

    cproof = merkle.hash_ranges(merkle.consistency_ranges(6, 11), nodes)
    pem_path = write(tmp_path, "k.pem", public_key_pem(KEY.public_key()))
    consistent = runner.invoke(verifier.cli, [
        "consistency", "--old", write(tmp_path, "old.json", old.as_json()),
        "--new", write(tmp_path, "new.json", new.as_json()), "--public-key", pem_path,
        "--proof", write(tmp_path, "c.json", {"proof": [p.hex() for p in cproof]})])
    assert consistent.exit_code == 0, consistent.output

    forged = head(6, merkle.node_hash(roots[6], roots[6]))  # properly signed, but not this history
    split_view = runner.invoke(verifier.cli, [
        "consistency", "--old", write(tmp_path, "forged.json", forged.as_json()),
        "--new", write(tmp_path, "new.json", new.as_json()), "--public-key", pem_path,
        "--proof", write(tmp_path, "c.json", {"proof": [p.hex() for p in cproof]})])
    assert split_view.exit_code == 1
    assert "history may have been rewritten" in split_view.output


def test_the_verifier_refuses_a_head_signed_by_an_unknown_key(tmp_path):
    other = Ed25519PrivateKey.generate()
    sth = head(1, merkle.leaf_hash(b"x"), key=other)
    verdict = verifier.check_inclusion(sth, verifier.public_keys(public_key_pem(KEY.public_key())), b"x", 0, [])
    assert not verdict.ok
    assert "not among the keys given" in verdict.problems[0]
