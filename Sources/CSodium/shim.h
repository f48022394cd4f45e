#ifndef LEDGERLINK_CSODIUM_SHIM_H
#define LEDGERLINK_CSODIUM_SHIM_H
#include <sodium.h>

// crypto_generichash_state is 64-byte aligned, which Swift cannot import; hand it over as
// opaque memory of ll_generichash_statebytes() bytes instead.
static inline size_t ll_generichash_statebytes(void) { return crypto_generichash_statebytes(); }
static inline int ll_generichash_init(void *state, size_t outlen) {
    return crypto_generichash_init((crypto_generichash_state *)state, NULL, 0, outlen);
}
static inline int ll_generichash_update(void *state, const unsigned char *in, unsigned long long inlen) {
    return crypto_generichash_update((crypto_generichash_state *)state, in, inlen);
}
static inline int ll_generichash_final(void *state, unsigned char *out, size_t outlen) {
    return crypto_generichash_final((crypto_generichash_state *)state, out, outlen);
}
#endif
