#!/usr/bin/env python3
"""An independent verifier for ledgerlink, written from docs/PROTOCOL.md alone (PyNaCl).

    verify_export.py export EXPORT.json     checks every entry of `ledgerlink export --json`
    verify_export.py vectors VECTORS.json   checks Resources/vectors/ledger-v1.json, opening
                                            every sealed part with the vector data key
    verify_export.py corrections VECTORS.json  resolves Resources/vectors/corrections-v1.json
                                            (PROTOCOL.md, "Corrections") and checks the
                                            states, amounts and balance it states
    verify_export.py runs VECTORS.json      rebuilds the entries of Resources/vectors/entry-runs-v1.json
                                            (PROTOCOL.md, "Entry runs", and as a streamed answer,
                                            "Streamed answers") and checks them against the
                                            entries of the file it names

Prints one line per failed check and ends with "N passed, N failed"; exits 1 on any failure.
"""
import hashlib
import json
import struct
import sys

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

KINDS = {"genesis": 1, "link": 2, "revoke": 3, "credit": 4, "debit": 5, "correction": 6}
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


def resolve_corrections(entries):
    """PROTOCOL.md, "Corrections": every entry here counts (the vectors hold no revokes).
    Returns (states by index, {original index: (amount, memo, deciding index)}, balance)."""
    by_hash = {e["hash"]: i for i, e in enumerate(entries)}
    records, items = {}, {}
    for i, e in enumerate(entries):
        body = bytes.fromhex(e["private_body"])
        encoded = bytes.fromhex(e["encoded"])
        time = struct.unpack(">q", encoded[106:114])[0]
        if e["kind"] in ("credit", "debit"):
            n = struct.unpack(">H", body[8:10])[0]
            records[i] = (e["kind"], struct.unpack(">Q", body[:8])[0], body[10:10 + n].decode())
        elif e["kind"] == "correction":
            target = (body[:32].hex(), struct.unpack(">Q", body[32:40])[0], body[40:72].hex())
            amount, flag = struct.unpack(">Q", body[72:80])[0], body[80]
            n = struct.unpack(">H", body[81:83])[0]
            memo = body[83:83 + n].decode() if flag == 1 else None
            items[i] = dict(target=target, amount=amount, memo=memo, key=(time, bytes.fromhex(e["author"]), e["seq"]))
    states, roots, children = {}, {}, {}

    def root_of(i, depth=0):
        author, seq, digest = items[i]["target"]
        j = by_hash.get(digest)
        if j is None or entries[j]["author"] != author or entries[j]["seq"] != seq:
            return "waiting" if j is None else "unusable"
        if j in items:
            return root_of(j, depth + 1) if depth <= len(items) else "unusable"
        return j if j in records else "unusable"

    for i in items:
        r = root_of(i)
        if isinstance(r, int):
            roots[i] = r
            children.setdefault(by_hash[items[i]["target"][2]], []).append(i)
        else:
            states[i] = r
    counted = {}
    for original in set(roots.values()):
        node, memo, decided = original, records[original][2], None
        while children.get(node):
            winner = max(children[node], key=lambda k: items[k]["key"])
            stack = [k for k in children[node] if k != winner]
            while stack:
                k = stack.pop()
                states[k] = "overruled by %d" % winner
                stack += children.get(k, [])
            if decided is not None:
                states[decided] = "replaced by %d" % winner
            if items[winner]["memo"] is not None:
                memo = items[winner]["memo"]
            decided, node = winner, winner
        states[decided] = "counts"
        counted[original] = (items[decided]["amount"], memo, decided)
    balance = 0
    for i, (kind, amount, _) in records.items():
        amount = counted[i][0] if i in counted else amount
        balance += amount if kind == "credit" else -amount
    return states, counted, balance


def verify_corrections(path):
    v = json.load(open(path))
    states, counted, balance = resolve_corrections(v["entries"])
    check({str(k): s for k, s in states.items()} == v["states"], "correction states: %s" % states)
    check(balance == v["balance_minor"], "balance %d" % balance)
    stated = {c["entry"]: (c["amount_minor"], c["memo"], c["decided_by"]) for c in v["counted"]}
    check(counted == stated, "counted amounts: %s" % counted)


def decode_runs(data, at=0, whole=True):
    """Rebuilds every entry of a list of runs (PROTOCOL.md, "Entry runs") starting at `at`;
    returns the encodings, the number of runs and where the list ends (the end of `data` when
    `whole`)."""
    entries, runs = struct.unpack(">II", data[at:at + 8])
    at, out = at + 8, []
    for _ in range(runs):
        identity, author = data[at:at + 32], data[at + 32:at + 64]
        (seq,) = struct.unpack(">Q", data[at + 64:at + 72])
        prev = data[at + 72:at + 104]
        (n,) = struct.unpack(">H", data[at + 104:at + 106])
        check(1 <= n <= 256, "a run of %d entries" % n)
        at += 106
        for _ in range(n):
            start = at
            at += 9
            (public_length,) = struct.unpack(">I", data[at:at + 4])
            at += 4 + public_length
            (sealed_length,) = struct.unpack(">I", data[at:at + 4])
            at += 4 + sealed_length + 64
            encoded = bytes([1]) + identity + author + struct.pack(">Q", seq) + prev + data[start:at]
            out.append(encoded)
            prev = b2b(b"ledgerlink-entry-hash-v1" + encoded)
            seq += 1
    if whole:
        check(at == len(data), "nothing after the last run")
    check(len(out) == entries, "the runs hold the %d entries they announce" % entries)
    return out, runs, at


def decode_stream(data):
    """Reads a streamed answer (PROTOCOL.md, "Streamed answers"): the entries of its parts, in
    order, and its control object."""
    at, out = 0, []
    while data[at] == 1:
        entries, _, at = decode_runs(data, at + 1, whole=False)
        check(len(entries) > 0, "a part of %d entries" % len(entries))
        out += entries
    check(data[at] == 0, "the control object's tag")
    (length,) = struct.unpack(">I", data[at + 1:at + 5])
    check(at + 5 + length == len(data), "nothing after the control object")
    return out, json.loads(data[at + 5:at + 5 + length])


def verify_runs(path):
    v = json.load(open(path))
    source = json.load(open(path.rsplit("/", 1)[0] + "/" + v["entries_from"]))
    expected = [source["entries"][i]["encoded"] for i in v["order"]]
    rebuilt, runs, _ = decode_runs(bytes.fromhex(v["runs"]))
    check(runs == v["run_count"], "%d runs" % runs)
    check([e.hex() for e in rebuilt] == expected, "the runs rebuild the entries byte for byte")
    streamed, control = decode_stream(bytes.fromhex(v["stream"]))
    check([e.hex() for e in streamed] == expected, "the stream's parts rebuild the entries byte for byte")
    check(control == v["stream_control"], "the stream's control object")
    for e, stated in zip(rebuilt, [source["entries"][i] for i in v["order"]]):
        check(b2b(b"ledgerlink-entry-hash-v1" + e).hex() == stated["hash"], "hash of %s" % stated["hash"][:16])


if __name__ == "__main__":
    {"export": verify_export, "vectors": verify_vectors, "corrections": verify_corrections,
     "runs": verify_runs}[sys.argv[1]](sys.argv[2])
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
