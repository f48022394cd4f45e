#!/usr/bin/env python3
"""An independent implementation of ledgerlink's pairing exchange (docs/PROTOCOL.md,
"Linking a device"), written from the document with PyNaCl and hashlib, checked against
Resources/vectors/pairing-v1.json. Prints "N passed, M failed"; exits 1 on any failure.

Usage: verify_pairing.py VECTORS.json WORDLIST.txt
WORDLIST.txt is the BIP-39 English list, one word per line (its SHA-256 is checked).
"""
import hashlib
import json
import struct
import sys

import nacl.bindings as sodium
from nacl.signing import SigningKey

SHA256 = "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"


def H(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def Hk(key, data):
    return hashlib.blake2b(data, digest_size=32, key=key).digest()


def lp32(b):
    return struct.pack(">I", len(b)) + b


def bits_to_words(data, nbits, words):
    value = int.from_bytes(data, "big") >> (len(data) * 8 - nbits)
    out = []
    for i in range(nbits // 11):
        shift = nbits - 11 * (i + 1)
        out.append(words[(value >> shift) & 0x7FF])
    return out


def main():
    vectors = json.load(open(sys.argv[1]))
    raw = open(sys.argv[2], "rb").read()
    words = raw.decode().split()
    results = []

    def check(name, ok):
        results.append((name, ok))
        if not ok:
            print("FAILED:", name)

    check("word list SHA-256", hashlib.sha256(raw).hexdigest() == SHA256 and len(words) == 2048)
    inp = vectors["inputs"]
    b = bytes.fromhex
    inviter = SigningKey(b(inp["inviter_seed"]))
    joiner = SigningKey(b(inp["joiner_seed"]))
    p_dev, j_dev = bytes(inviter.verify_key), bytes(joiner.verify_key)
    identity = H(b"ledgerlink-identity-v1" + p_dev + b(inp["genesis_nonce"]))
    check("identity id", identity.hex() == vectors["identity"])

    secret = b(inp["secret"])
    tag = bytearray(identity[:6])
    tag[5] &= 0xF0
    tag = bytes(tag)
    packed = (int.from_bytes(identity[:6], "big") >> 4 << 88) | int.from_bytes(secret, "big")
    code_words = bits_to_words((packed << 4).to_bytes(17, "big"), 132, words)
    code = "-".join(code_words) + "@" + inp["rendezvous"]
    check("code text", code == vectors["code"])
    code_key = H(b"ledgerlink-pair-code-v1" + tag + secret)
    check("code key", code_key.hex() == vectors["code_key"])
    check("mailbox", H(b"ledgerlink-pair-mailbox-v1" + tag + secret).hex() == vectors["mailbox"])

    p_eph_pk, p_eph_sk = sodium.crypto_kx_seed_keypair(b(inp["inviter_ephemeral_seed"]))
    j_eph_pk, j_eph_sk = sodium.crypto_kx_seed_keypair(b(inp["joiner_ephemeral_seed"]))
    name = inp["joiner_name"].encode()
    transcript = b""

    def clear(kind, body):
        nonlocal transcript
        th = H(b"ledgerlink-pair-transcript-v1" + transcript)
        message = bytes([kind]) + body + Hk(code_key, b"ledgerlink-pair-mac-v1" + bytes([kind]) + th + body)
        transcript += lp32(message)
        return message

    commit = H(b"ledgerlink-pair-commit-v1" + j_dev + j_eph_pk + bytes([len(name)]) + name)
    check("JOIN", clear(1, commit).hex() == vectors["join"])
    check("OFFER", clear(2, identity + p_dev + p_eph_pk).hex() == vectors["offer"])
    check("REVEAL", clear(3, j_dev + j_eph_pk + bytes([len(name)]) + name).hex() == vectors["reveal"])

    j_rx, j_tx = sodium.crypto_kx_client_session_keys(j_eph_pk, j_eph_sk, p_eph_pk)
    p_rx, p_tx = sodium.crypto_kx_server_session_keys(p_eph_pk, p_eph_sk, j_eph_pk)
    check("crypto_kx agrees", j_tx == p_rx and j_rx == p_tx)
    th3 = H(b"ledgerlink-pair-transcript-v1" + transcript)
    k_j2p = Hk(code_key, b"ledgerlink-pair-key-v1" + b"\x01" + j_tx + th3)
    k_p2j = Hk(code_key, b"ledgerlink-pair-key-v1" + b"\x02" + j_rx + th3)
    sas = bits_to_words(Hk(code_key, b"ledgerlink-pair-sas-v1" + j_tx + j_rx + th3)[:7], 55, words)
    check("SAS", " ".join(sas) == vectors["sas"])

    def sealed(kind, body, key, n):
        nonce = bytes(16) + struct.pack(">Q", n)
        ad = b"ledgerlink-pair-seal-v1" + bytes([kind]) + struct.pack(">Q", n)
        return bytes([kind]) + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(body, ad, nonce, key)

    challenge = b(inp["challenge"])
    check("CHALLENGE", sealed(4, challenge, k_p2j, 0).hex() == vectors["challenge_message"])
    proof = joiner.sign(b"ledgerlink-link-proof-v1" + identity + j_dev + p_dev + challenge).signature
    check("PROOF", sealed(5, proof, k_j2p, 0).hex() == vectors["proof_message"])

    failed = sum(1 for _, ok in results if not ok)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
