#!/usr/bin/env python3
"""An independent implementation of ledgerlink's store login, peer handshake and LAN
announcement (docs/PROTOCOL.md, "Store", "Peer handshake", "LAN announcement"), written from
the document with PyNaCl and hashlib, checked against Resources/vectors/channels-v1.json.
Prints "N passed, M failed"; exits 1 on any failure.

Usage: verify_channels.py VECTORS.json
"""
import hashlib
import json
import struct
import sys

import nacl.bindings as sodium
from nacl.signing import SigningKey, VerifyKey


def H(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def Hk(key, data):
    return hashlib.blake2b(data, digest_size=32, key=key).digest()


def main():
    v = json.load(open(sys.argv[1]))
    x = bytes.fromhex
    passed = failed = 0

    def check(name, ok):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAILED:", name)

    laptop = SigningKey(x(v["laptop_seed"]))
    phone = SigningKey(x(v["phone_seed"]))
    check("laptop key", laptop.verify_key.encode() == x(v["laptop_public_key"]))
    check("phone key", phone.verify_key.encode() == x(v["phone_public_key"]))
    K = x(v["identity"])

    # Store login: label, u16 len(origin), origin, identity, device, challenge, u64 expires.
    s = v["store_login"]
    origin = s["origin"].encode()
    transcript = (b"ledgerlink-store-auth-v1" + struct.pack(">H", len(origin)) + origin + K
                  + x(s["device"]) + x(s["challenge"]) + struct.pack(">Q", s["expires"]))
    check("store login transcript", transcript == x(s["transcript"]))
    check("store login signature", phone.sign(transcript).signature == x(s["signature"]))
    VerifyKey(x(s["device"])).verify(transcript, x(s["signature"]))

    # Peer handshake.
    p = v["peer_handshake"]
    a_pk, a_sk = sodium.crypto_kx_seed_keypair(x(p["initiator_ephemeral_seed"]))
    b_pk, b_sk = sodium.crypto_kx_seed_keypair(x(p["responder_ephemeral_seed"]))
    check("initiator ephemeral", a_pk == x(p["initiator_ephemeral_public"]))
    check("responder ephemeral", b_pk == x(p["responder_ephemeral_public"]))
    check("initiator hello", a_pk + Hk(K, b"ledgerlink-peer-hello-v1" + a_pk) == x(p["initiator_hello"]))
    check("responder hello", b_pk + Hk(K, b"ledgerlink-peer-hello-v1" + b_pk + a_pk) == x(p["responder_hello"]))
    T = H(b"ledgerlink-peer-transcript-v1" + K + a_pk + b_pk)
    check("transcript", T == x(p["transcript_hash"]))
    rx, tx = sodium.crypto_kx_client_session_keys(a_pk, a_sk, b_pk)
    check("initiator send key", tx == x(p["initiator_send_key"]))
    check("initiator receive key", rx == x(p["initiator_receive_key"]))
    srx, stx = sodium.crypto_kx_server_session_keys(b_pk, b_sk, a_pk)
    check("responder receives what the initiator sends", srx == tx and stx == rx)
    label = b"ledgerlink-peer-auth-v1"
    check("initiator auth", laptop.verify_key.encode() + laptop.sign(label + T + b"\x01").signature
          == x(p["initiator_auth"]))
    check("responder auth", phone.verify_key.encode() + phone.sign(label + T + b"\x02").signature
          == x(p["responder_auth"]))

    # LAN announcement.
    a = v["lan_announcement"]
    nonce = x(a["nonce"])
    port = struct.pack(">H", a["port"])
    window = a["now"] // 60
    # Keyed BLAKE2b with a 16-byte output length (not a truncated 32-byte one).
    tag = hashlib.blake2b(b"ledgerlink-peer-announce-v1" + struct.pack(">Q", window) + nonce + port,
                          digest_size=16, key=K).digest()
    check("announcement", b"LLA1" + nonce + port + tag == x(a["bytes"]))

    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
