#!/usr/bin/env python3
"""An independent verifier for ledgerlink, written from docs/PROTOCOL.md alone (PyNaCl).

    verify_export.py export EXPORT.json     checks every entry of `ledgerlink export --json`
    verify_export.py vectors VECTORS.json   checks Resources/vectors/ledger-v1.json, opening
                                            every sealed part with the vector data key

Prints one line per failed check and ends with "N passed, N failed"; exits 1 on any failure.
"""
import hashlib
import json
import struct
import sys

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

KINDS = {"genesis": 1, "link": 2, "revoke": 3, "credit": 4, "debit": 5}
passed, failed = 0, 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAILED:", what)


def b2b(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def body_from_fields(e):
    """Rebuilds the signed body from the decoded fields (PROTOCOL.md, "Entry encoding")."""
    public, sealed = bytes.fromhex(e["public_body"]), bytes.fromhex(e["sealed"])
    return (bytes([e["version"] if "version" in e else 1]) + bytes.fromhex(e["identity"]) + bytes.fromhex(e["author"])
            + struct.pack(">Q", e["seq"]) + bytes.fromhex(e["prev"]) + bytes([KINDS[e["kind"]]])
            + struct.pack(">q", e["time_ms"]) + struct.pack(">I", len(public)) + public
            + struct.pack(">I", len(sealed)) + sealed)


def verify_entry(e, identity):
    where = "%s seq %d" % (e["author"][:16], e["seq"])
    body = body_from_fields(e)
    signature = bytes.fromhex(e["signature"])
    encoded = body + signature
    check(encoded.hex() == e["encoded"], where + ": fields rebuild the encoded bytes")
    try:
        VerifyKey(bytes.fromhex(e["author"])).verify(b"ledgerlink-entry-v1" + body, signature)
        check(True, "")
    except BadSignatureError:
        check(False, where + ": signature")
    digest = b2b(b"ledgerlink-entry-hash-v1" + encoded)
    check(digest.hex() == e["hash"], where + ": hash")
    check(e["identity"] == identity, where + ": identity")
    if e["kind"] == "genesis":
        nonce = bytes.fromhex(e["public_body"])[:16]
        derived = b2b(b"ledgerlink-identity-v1" + bytes.fromhex(e["author"]) + nonce)
        check(derived.hex() == identity, where + ": identity id derives from the genesis key and nonce")
    return digest


def verify_chains(entries, identity):
    heads = {}
    for e in sorted(entries, key=lambda e: (e["author"], e["seq"])):
        digest = verify_entry(e, identity)
        if e.get("place", "log") != "log":
            continue
        prev_seq, prev_hash = heads.get(e["author"], (0, bytes(32)))
        check(e["seq"] == prev_seq + 1, "%s: seq %d follows %d" % (e["author"][:16], e["seq"], prev_seq))
        check(bytes.fromhex(e["prev"]) == prev_hash, "%s seq %d: prev links to the previous hash" % (e["author"][:16], e["seq"]))
        heads[e["author"]] = (e["seq"], digest)
    return heads


def verify_export(path):
    doc = json.load(open(path))
    check(doc["format"] == "ledgerlink-export" and doc["version"] == 1, "format and version")
    verify_chains(doc["entries"], doc["identity"])


def verify_vectors(path):
    v = json.load(open(path))
    key = bytes.fromhex(v["data_key"])
    check(b2b(b"ledgerlink-key-id-v1" + key)[:8].hex() == v["data_key_id"], "data key id")
    check(VerifyKey(bytes.fromhex(v["phone_public_key"])).verify(
        bytes.fromhex(v["link_proof_message"]), bytes.fromhex(v["link_proof"])) is not None, "link proof")
    entries = []
    for e in v["entries"]:
        encoded = bytes.fromhex(e["encoded"])
        identity = encoded[1:33].hex()
        seq = e["seq"]
        prev = encoded[73:105].hex()
        entries.append(dict(e, identity=identity, prev=prev, version=1))
        sealed = bytes.fromhex(e["sealed"])
        aad = (b"ledgerlink-seal-v1" + bytes.fromhex(identity) + bytes.fromhex(e["author"]) + struct.pack(">Q", seq)
               + bytes([KINDS[e["kind"]]]))
        check(sealed[:8].hex() == v["data_key_id"], "seq %d: sealed with the data key" % seq)
        check(sealed[8:32].hex() == e["seal_nonce"], "seq %d: seal nonce" % seq)
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[32:], aad, sealed[8:32], key)
        check(plain.hex() == e["private_plaintext"], "seq %d: sealed part opens to the private body" % seq)
        check(e["signing_message"] == (b"ledgerlink-entry-v1" + encoded[:-64]).hex(), "seq %d: signing message" % seq)
    heads = verify_chains(entries, v["identity"])
    clock = b"ledgerlink-clock-v1" + struct.pack(">I", len(heads))
    for author in sorted(heads):
        seq, head = heads[author]
        clock += bytes.fromhex(author) + struct.pack(">Q", seq) + head + struct.pack(">Q", 0)
    check(clock.hex() == v["clock_encoding"], "clock encoding")
    check(b2b(clock).hex() == v["clock_digest"], "clock digest")


if __name__ == "__main__":
    {"export": verify_export, "vectors": verify_vectors}[sys.argv[1]](sys.argv[2])
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
