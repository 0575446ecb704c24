// Random streams (Philox4x32-10, random.hpp) and SHA-256 (sha256.hpp).
#include "core/random.hpp"
#include "core/sha256.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

#include <cmath>
#include <concepts>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace chokepoint;

static_assert(std::uniform_random_bit_generator<Stream>);

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[random]") {
    // kat_vectors from Random123 1.09 (philox4x32_10 lines).
    CHECK(philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
          Philox4x32{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
    CHECK(philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                        {0xffffffffu, 0xffffffffu}) ==
          Philox4x32{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
    CHECK(philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                        {0xa4093822u, 0x299f31d0u}) ==
          Philox4x32{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("Stream serves Philox blocks in the documented counter layout", "[random]") {
    // random.hpp: counter = {block, qid low, qid high, trial}, key = {seed low, seed high};
    // each block gives two 64-bit outputs, (r1 << 32 | r0) first, then (r3 << 32 | r2).
    const std::uint64_t seed = 0x0123456789abcdefull, trial = 77, qid = 0xfedcba9876543210ull;
    Stream s(seed, trial, qid);
    for (std::uint32_t block = 0; block < 3; ++block) {
        const auto r = philox4x32_10(
            {block, static_cast<std::uint32_t>(qid), static_cast<std::uint32_t>(qid >> 32),
             static_cast<std::uint32_t>(trial)},
            {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
        CHECK(s() == ((static_cast<std::uint64_t>(r[1]) << 32) | r[0]));
        CHECK(s() == ((static_cast<std::uint64_t>(r[3]) << 32) | r[2]));
    }
}

TEST_CASE("philox4x32_10_blocks equals the block function, counter by counter", "[random]") {
    // Every batch shape the lanes take (AVX2 groups of 16, SSE2 groups of 12 and 4, a scalar
    // tail), counters that wrap past 2^32 in word 0 as the block index does, and keys and other
    // words of every bit; the default and each lane width (8: AVX2 where this CPU has it).
    const std::array<std::uint32_t, 2> key{0xa4093822u, 0x299f31d0u};
    INFO("AVX2 lanes on this CPU: " << philox_uses_avx2());
    for (const int lanes : {0, 8, 4, 1})
        for (const std::uint32_t c0 : {0u, 5u, 0xfffffff0u, 0xfffffffbu}) {
            for (std::size_t n = 0; n <= 56; ++n) {
                std::vector<Philox4x32> got(n + 1, Philox4x32{7, 7, 7, 7});
                if (lanes == 0)
                    philox4x32_10_blocks(c0, 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, key, n,
                                         got.data());
                else
                    philox4x32_10_blocks_lanes(lanes, c0, 0x243f6a88u, 0x85a308d3u, 0x13198a2eu,
                                               key, n, got.data());
                INFO("lanes " << lanes << ", c0 " << c0 << ", n " << n);
                for (std::size_t i = 0; i < n; ++i)
                    CHECK(got[i] == philox4x32_10({c0 + static_cast<std::uint32_t>(i), 0x243f6a88u,
                                                   0x85a308d3u, 0x13198a2eu},
                                                  key));
                CHECK(got[n] == Philox4x32{7, 7, 7, 7}); // nothing written past n
            }
        }
}

TEST_CASE("Stream::fill gives the values and the state of as many single draws", "[random]") {
    // After 0-3 single draws (a block's second value pending or not), fills of every length
    // around the batch sizes, then single draws again: the sequence one draw at a time.
    for (int before = 0; before < 4; ++before) {
        for (const std::size_t n : {0, 1, 2, 3, 7, 8, 23, 24, 25, 95, 96, 97, 1000, 4099}) {
            Stream a(0x0123456789abcdefull, 42, 0xfedcba9876543210ull);
            Stream b = a;
            for (int i = 0; i < before; ++i)
                CHECK(a() == b());
            std::vector<std::uint64_t> got(n + 1, 3);
            a.fill(got.data(), n);
            INFO("before " << before << ", n " << n);
            bool same = got[n] == 3; // nothing written past n
            for (std::size_t i = 0; i < n; ++i)
                same = same && got[i] == b();
            CHECK(same);
            for (int i = 0; i < 5; ++i)
                CHECK(a() == b());
        }
    }
}

TEST_CASE("Stream: same key, same sequence; any key change, another sequence", "[random]") {
    auto draw = [](std::uint64_t seed, std::uint64_t trial, std::uint64_t qid) {
        Stream s(seed, trial, qid);
        std::vector<std::uint64_t> v(16);
        for (auto &x : v)
            x = s();
        return v;
    };
    const auto q = quantity_id("facility/cn_ga_1/capacity");
    const auto base = draw(1, 5, q);
    CHECK(draw(1, 5, q) == base);                                            // deterministic
    CHECK(draw(1, 6, q) != base);                                            // trial
    CHECK(draw(2, 5, q) != base);                                            // seed
    CHECK(draw(1ull << 32, 5, q) != base);                                   // high seed word
    CHECK(draw(1, 5, quantity_id("facility/cn_ga_1/availability")) != base); // quantity
    CHECK(draw(0, 0, 0) != draw(0, 0, 1));                                   // seed 0 is ordinary
    // No output repeats across the first few blocks of neighbouring streams.
    std::set<std::uint64_t> seen;
    for (std::uint64_t t = 0; t < 50; ++t)
        for (auto x : draw(1, t, q))
            CHECK(seen.insert(x).second);
}

TEST_CASE("quantity_id: FNV-1a then SplitMix64 finaliser, distinct for distinct names",
          "[random]") {
    // Independent re-implementation of the documented construction.
    auto ref = [](const std::string &name) {
        std::uint64_t h = 14695981039346656037ull; // FNV offset basis
        for (unsigned char c : name) {
            h ^= c;
            h *= 1099511628211ull; // FNV prime
        }
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
        return h ^ (h >> 31);
    };
    std::set<std::uint64_t> ids;
    for (const std::string n : {"", "regime", "golden", "facility/a/capacity",
                                "facility/b/capacity", "demand/a/quantity"}) {
        CHECK(quantity_id(n) == ref(n));
        CHECK(ids.insert(quantity_id(n)).second);
    }
}

TEST_CASE("uniform01: in (0, 1), mean 1/2, variance 1/12", "[random]") {
    // 1e6 draws from one stream. Mean: SE = sqrt(1/12 / N) = 2.89e-4. Variance: the SE of the
    // sample variance is sqrt((mu4 - sigma^4) / N) with mu4 = 1/80, sigma^4 = 1/144, i.e.
    // sqrt(1/180 / N) = 7.45e-5. Both checked within 5 SE (a false alarm has probability < 1e-6;
    // the draws are fixed by the seed, so the test is deterministic).
    const int N = 1000000;
    Stream s(20240601, 3, quantity_id("uniform01 test"));
    double lo = 1, hi = 0;
    long double sum = 0, sum2 = 0;
    for (int i = 0; i < N; ++i) {
        const double u = s.uniform01();
        lo = std::min(lo, u);
        hi = std::max(hi, u);
        sum += u;
        sum2 += static_cast<long double>(u) * u;
    }
    CHECK(lo > 0.0);
    CHECK(hi < 1.0);
    const double mean = static_cast<double>(sum / N);
    const double var = static_cast<double>((sum2 - sum * sum / N) / (N - 1));
    const double se_mean = std::sqrt(1.0 / 12.0 / N);
    const double se_var = std::sqrt((1.0 / 80.0 - 1.0 / 144.0) / N);
    INFO("mean " << mean << " variance " << var);
    CHECK(std::abs(mean - 0.5) < 5 * se_mean);
    CHECK(std::abs(var - 1.0 / 12.0) < 5 * se_var);
}

TEST_CASE("uniform01 uses 53 bits: values are odd multiples of 2^-54", "[random]") {
    // (k + 0.5) * 2^-53 for a 53-bit k: 2^54 u = 2k + 1 is an odd integer. Above 1/2 the spacing of
    // doubles is 2^-53, so there the half rounds (to even): 2^54 u is an even integer.
    Stream s(9, 9, 9);
    int below_half = 0;
    for (int i = 0; i < 1000; ++i) {
        const double u = s.uniform01();
        const double k2 = std::ldexp(u, 54);
        REQUIRE(k2 == std::floor(k2));
        if (u < 0.5) {
            ++below_half;
            REQUIRE(std::fmod(k2, 2.0) == 1.0);
        }
    }
    CHECK(below_half > 400);
}

TEST_CASE("Stream works with std distributions (uniform random bit generator)", "[random]") {
    Stream a(3, 4, 5), b(3, 4, 5);
    std::uniform_int_distribution<int> d(1, 6);
    for (int i = 0; i < 100; ++i)
        CHECK(d(a) == d(b));
}

TEST_CASE("ExactMod gives x % d for every divisor shape", "[random]") {
    // Divisors: 1, small, powers of two and their neighbours, trial counts, near 2^32 and
    // 2^63, the largest; numerators: the extremes, multiples of d and their neighbours (where
    // the quotient estimate is one short), and random 64-bit values.
    std::vector<std::uint64_t> divisors{1,
                                        2,
                                        3,
                                        7,
                                        10,
                                        1000,
                                        2000,
                                        8000,
                                        20000,
                                        200000,
                                        1000003,
                                        0xFFFFFFFFull,
                                        0x100000000ull,
                                        0x100000001ull,
                                        0x7FFFFFFFFFFFFFFFull,
                                        0x8000000000000000ull,
                                        0x8000000000000001ull,
                                        0xFFFFFFFFFFFFFFFEull,
                                        0xFFFFFFFFFFFFFFFFull};
    for (int b = 1; b < 64; ++b) {
        divisors.push_back(std::uint64_t{1} << b);
        divisors.push_back((std::uint64_t{1} << b) - 1);
        divisors.push_back((std::uint64_t{1} << b) + 1);
    }
    Stream r(1, 2, 3);
    for (int i = 0; i < 200; ++i)
        divisors.push_back((r() >> (r() % 64)) | 1);
    std::size_t checked = 0, wrong = 0;
    for (const std::uint64_t d : divisors) {
        const ExactMod mod(d);
        std::vector<std::uint64_t> xs{0,
                                      1,
                                      d - 1,
                                      d,
                                      d + 1,
                                      0xFFFFFFFFFFFFFFFFull,
                                      0xFFFFFFFFFFFFFFFEull,
                                      0x8000000000000000ull};
        const std::uint64_t top = 0xFFFFFFFFFFFFFFFFull / d; // largest quotient
        for (const std::uint64_t q : {std::uint64_t{1}, std::uint64_t{2}, top / 2, top - 1, top})
            if (q >= 1 && q <= top) {
                xs.push_back(q * d);
                xs.push_back(q * d - 1);
                if (q * d + 1 != 0)
                    xs.push_back(q * d + 1);
            }
        for (int i = 0; i < 2000; ++i)
            xs.push_back(r());
        for (const std::uint64_t x : xs) {
            ++checked;
            wrong += mod(x) != x % d;
        }
    }
    INFO(checked << " remainders checked");
    CHECK(wrong == 0);
    CHECK(checked > 400000);
}

TEST_CASE("SHA-256 matches the FIPS 180-2 test vectors", "[sha256]") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // 896-bit message (FIPS 180-4 examples).
    CHECK(sha256_hex(
              "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
              "klmnopqrlmnopqrsmnopqrstnopqrstu") ==
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("SHA-256 takes empty pieces given as a null pointer (an empty vector's data())",
          "[sha256]") {
    // Found by UBSan: an empty per-trial dataset hashed as (nullptr, 0) reached memcpy.
    for (bool portable : {false, true}) {
        Sha256 h(portable);
        h.update(nullptr, 0);
        h.update("ab");
        h.update(nullptr, 0);
        h.update("c");
        CHECK(hex(h.digest()) ==
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

TEST_CASE("SHA-256 at the padding boundaries and on bytes >= 0x80", "[sha256]") {
    // Reference digests from Python's hashlib.sha256.
    CHECK(sha256_hex(std::string(55, 'a')) ==
          "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    CHECK(sha256_hex(std::string(56, 'a')) ==
          "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    CHECK(sha256_hex(std::string(63, 'a')) ==
          "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
    CHECK(sha256_hex(std::string(64, 'a')) ==
          "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    CHECK(sha256_hex(std::string(65, 'a')) ==
          "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0");
    CHECK(sha256_hex(std::string(119, 'a')) ==
          "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
    CHECK(sha256_hex(std::string(120, 'a')) ==
          "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c");
    std::string all_bytes;
    for (int i = 0; i < 256; ++i)
        all_bytes.push_back(static_cast<char>(i));
    CHECK(sha256_hex(all_bytes) ==
          "40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880");
}

TEST_CASE("SHA-256 fed in pieces equals the digest of the whole", "[sha256]") {
    std::string data;
    for (int i = 0; i < 1000; ++i)
        data.push_back(static_cast<char>((i * 37) & 0xff));
    const std::string whole = sha256_hex(data);
    for (const std::size_t piece : {1u, 3u, 55u, 63u, 64u, 65u, 127u, 1000u}) {
        Sha256 h;
        for (std::size_t at = 0; at < data.size(); at += piece)
            h.update(data.data() + at, std::min(piece, data.size() - at));
        CHECK(hex(h.digest()) == whole);
    }
    Sha256 empty;
    CHECK(hex(empty.digest()) == sha256_hex(""));
}

TEST_CASE("SHA-256 on the CPU's SHA extensions equals the portable code", "[sha256]") {
    if (!sha256_uses_cpu_extensions())
        WARN("this CPU has no SHA extensions: only the portable code runs");
    std::string data;
    std::uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.push_back(static_cast<char>(x & 0xff));
    }
    for (const std::size_t len : {0u, 1u, 55u, 56u, 64u, 65u, 127u, 128u, 1000u, 65536u, 100000u}) {
        Sha256 fast, portable(true);
        fast.update(data.data(), len);
        portable.update(data.data(), len);
        CHECK(hex(fast.digest()) == hex(portable.digest()));
    }
}
