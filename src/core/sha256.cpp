#include "core/sha256.hpp"

#include <algorithm>
#include <cstring>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace chokepoint {

namespace {
constexpr std::array<std::uint32_t, 64> K = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline std::uint32_t rotr(std::uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}

#if defined(__x86_64__)
/// Whether the CPU has the SHA extensions (SHA-NI) and the SSE levels their code needs.
bool have_sha_ni() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    const bool ssse3 = c & (1u << 9), sse41 = c & (1u << 19);
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    return ssse3 && sse41 && (b & (1u << 29));
}

/// `n` 64-byte blocks with the SHA extensions: ~8x the portable code (the integrity digest of a
/// checkpoint hashes every per-trial byte a run writes). The message schedule of group g of four
/// words (g >= 4) is msg2(msg1(X[g-4], X[g-3]) + alignr(X[g-1], X[g-2]), X[g-1]).
__attribute__((target("sha,sse4.1,ssse3"))) void
blocks_sha_ni(std::uint32_t *state, const std::uint8_t *p, std::size_t n) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i *>(&state[0]));
    __m128i s1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(&state[4]));
    tmp = _mm_shuffle_epi32(tmp, 0xB1);       // CDAB
    s1 = _mm_shuffle_epi32(s1, 0x1B);         // EFGH
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8); // ABEF
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);      // CDGH
    for (; n > 0; --n, p += 64) {
        const __m128i abef = s0, cdgh = s1;
        __m128i x[16];
        for (int g = 0; g < 16; ++g) {
            if (g < 4)
                x[g] = _mm_shuffle_epi8(
                    _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16 * g)), mask);
            else
                x[g] = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(x[g - 4], x[g - 3]),
                                                          _mm_alignr_epi8(x[g - 1], x[g - 2], 4)),
                                            x[g - 1]);
            __m128i msg =
                _mm_add_epi32(x[g], _mm_loadu_si128(reinterpret_cast<const __m128i *>(&K[4 * g])));
            s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
            msg = _mm_shuffle_epi32(msg, 0x0E);
            s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);   // FEBA
    s1 = _mm_shuffle_epi32(s1, 0xB1);    // DCHG
    s0 = _mm_blend_epi16(tmp, s1, 0xF0); // DCBA
    s1 = _mm_alignr_epi8(s1, tmp, 8);    // ABEF
    _mm_storeu_si128(reinterpret_cast<__m128i *>(&state[0]), s0);
    _mm_storeu_si128(reinterpret_cast<__m128i *>(&state[4]), s1);
}
#endif
} // namespace

bool sha256_uses_cpu_extensions() {
#if defined(__x86_64__)
    static const bool yes = have_sha_ni();
    return yes;
#else
    return false;
#endif
}

Sha256::Sha256(bool portable)
    : portable_(portable), h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::blocks(const std::uint8_t *p, std::size_t n) {
#if defined(__x86_64__)
    if (sha256_uses_cpu_extensions() && !portable_) {
        blocks_sha_ni(h_.data(), p, n);
        return;
    }
#endif
    for (; n > 0; --n, p += 64)
        block(p);
}

void Sha256::block(const std::uint8_t *p) {
    std::array<std::uint32_t, 64> w{};
    for (int i = 0; i < 16; ++i)
        w[static_cast<std::size_t>(i)] =
            (std::uint32_t(p[4 * i]) << 24) | (std::uint32_t(p[4 * i + 1]) << 16) |
            (std::uint32_t(p[4 * i + 2]) << 8) | std::uint32_t(p[4 * i + 3]);
    for (std::size_t i = 16; i < 64; ++i) {
        const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto [a, b, c, d, e, f, g, hh] = h_;
    for (std::size_t i = 0; i < 64; ++i) {
        const std::uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        const std::uint32_t ch = (e & f) ^ (~e & g);
        const std::uint32_t t1 = hh + S1 + ch + K[i] + w[i];
        const std::uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        const std::uint32_t mj = (a & b) ^ (a & c) ^ (b & c);
        const std::uint32_t t2 = S0 + mj;
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
    h_[5] += f;
    h_[6] += g;
    h_[7] += hh;
}

void Sha256::update(const void *data, std::size_t size) {
    if (size == 0)
        return; // data may be null (an empty vector's data()); memcpy must not see it
    auto p = static_cast<const std::uint8_t *>(data);
    bytes_ += size;
    if (used_ > 0) {
        const std::size_t take = std::min(size, buf_.size() - used_);
        std::memcpy(buf_.data() + used_, p, take);
        used_ += take;
        p += take;
        size -= take;
        if (used_ < buf_.size())
            return;
        blocks(buf_.data(), 1);
        used_ = 0;
    }
    blocks(p, size / 64);
    p += size / 64 * 64;
    size %= 64;
    std::memcpy(buf_.data(), p, size);
    used_ = size;
}

std::array<std::uint8_t, 32> Sha256::digest() {
    const std::uint64_t bits = bytes_ * 8;
    const std::uint8_t one = 0x80, zero = 0;
    update(&one, 1);
    while (used_ != 56)
        update(&zero, 1);
    std::uint8_t len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<std::uint8_t>(bits >> (8 * (7 - i)));
    update(len, 8);
    std::array<std::uint8_t, 32> out{};
    for (std::size_t i = 0; i < 8; ++i)
        for (std::size_t k = 0; k < 4; ++k)
            out[4 * i + k] = static_cast<std::uint8_t>(h_[i] >> (24 - 8 * k));
    return out;
}

std::string hex(const std::array<std::uint8_t, 32> &d) {
    static const char *digits = "0123456789abcdef";
    std::string out;
    for (const std::uint8_t b : d) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    Sha256 h;
    h.update(data);
    return hex(h.digest());
}

} // namespace chokepoint
