#include "stats/stats.hpp"

#include "core/parallel.hpp"
#include "stats/block.hpp"

#include <algorithm>
#include <bit>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>
#include <tuple>

namespace chokepoint {

void ExactSum::add_bits(std::uint64_t mantissa, int shift, bool negative) {
    // value = mantissa * 2^shift (shift >= 0, in units of 2^-1074), added or subtracted: its
    // low word at `word`, its high word above, then the carry (borrow) runs up while it lasts.
    const int word = shift / 64, bit = shift % 64;
    const std::uint64_t lo = mantissa << bit;
    const std::uint64_t hi = bit ? (mantissa >> (64 - bit)) : 0;
    auto &w = w_;
    auto i = static_cast<std::size_t>(word);
    constexpr auto K = static_cast<std::size_t>(kWords);
    if (!negative) {
        const std::uint64_t before = w[i];
        w[i] = before + lo;
        bool carry = w[i] < before;
        if (++i < K) {
            const std::uint64_t b = w[i], t = b + hi, r = t + carry;
            carry = (t < b) || (r < t);
            w[i++] = r;
        }
        for (; carry && i < K; ++i)
            carry = ++w[i] == 0;
    } else {
        const std::uint64_t before = w[i];
        w[i] = before - lo;
        bool borrow = before < lo;
        if (++i < K) {
            const std::uint64_t b = w[i], t = b - hi, r = t - borrow;
            borrow = (b < hi) || (t < static_cast<std::uint64_t>(borrow));
            w[i++] = r;
        }
        for (; borrow && i < K; ++i)
            borrow = w[i]-- == 0;
    }
}

void ExactSum::add_nonzero(double x) {
    if (!std::isfinite(x))
        return; // non-finite values never reach the accumulators (see Simulator)
    // |x| = mantissa 2^(shift - 1074), read from the IEEE 754 fields: a normal number is
    // (2^52 + fraction) 2^(exponent - 1075), a subnormal one fraction 2^-1074.
    const auto bits = std::bit_cast<std::uint64_t>(x);
    const auto exponent = static_cast<int>((bits >> 52) & 0x7FF);
    const std::uint64_t fraction = bits & ((std::uint64_t(1) << 52) - 1);
    if (exponent == 0)
        add_bits(fraction, 0, x < 0);
    else
        add_bits(fraction | (std::uint64_t(1) << 52), exponent - 1, x < 0);
}

void ExactSum::save(std::vector<std::uint64_t> &out) const {
    // Header: bit 63 = sign fill (all ones), bits 0-7 = first stored word, 8-15 = one past the
    // last; the words outside [first, last) equal the fill.
    const std::uint64_t fill = (w_.back() >> 63) ? ~std::uint64_t(0) : 0;
    int lo = 0, hi = kWords;
    while (lo < kWords && w_[static_cast<std::size_t>(lo)] == 0)
        ++lo; // low words below the first non-zero are zero whatever the sign
    while (hi > lo && w_[static_cast<std::size_t>(hi - 1)] == fill)
        --hi;
    out.push_back((fill ? (std::uint64_t(1) << 63) : 0) | static_cast<std::uint64_t>(lo) |
                  (static_cast<std::uint64_t>(hi) << 8));
    for (int i = lo; i < hi; ++i)
        out.push_back(w_[static_cast<std::size_t>(i)]);
}

const std::uint64_t *ExactSum::load(const std::uint64_t *p, const std::uint64_t *end) {
    if (p >= end)
        throw std::runtime_error("exact sum state truncated");
    const std::uint64_t h = *p++;
    const int lo = static_cast<int>(h & 0xff), hi = static_cast<int>((h >> 8) & 0xff);
    if ((h & ~((std::uint64_t(1) << 63) | 0xffffull)) != 0 || lo > hi || hi > kWords ||
        end - p < hi - lo)
        throw std::runtime_error("exact sum state malformed");
    const std::uint64_t fill = (h >> 63) ? ~std::uint64_t(0) : 0;
    for (int i = 0; i < kWords; ++i)
        w_[static_cast<std::size_t>(i)] = i < lo ? 0 : i < hi ? *p++ : fill;
    return p;
}

const std::uint64_t *Moments::load(const std::uint64_t *p, const std::uint64_t *end) {
    if (p >= end)
        throw std::runtime_error("moments state truncated");
    n_ = *p++;
    p = s1_.load(p, end);
    return s2_.load(p, end);
}

void ExactSum::merge(const ExactSum &o) {
    std::uint64_t carry = 0;
    for (std::size_t i = 0; i < w_.size(); ++i) {
        const std::uint64_t t = w_[i] + o.w_[i];
        const std::uint64_t r = t + carry;
        carry = (t < w_[i]) || (r < t);
        w_[i] = r;
    }
}

template <class Float> Float ExactSum::value_as() const {
    std::array<std::uint64_t, kWords> mag = w_;
    const bool negative = (mag.back() >> 63) != 0;
    if (negative) { // two's complement negation
        std::uint64_t carry = 1;
        for (auto &v : mag) {
            v = ~v;
            const std::uint64_t r = v + carry;
            carry = r < v;
            v = r;
        }
    }
    int top = kWords - 1;
    while (top >= 0 && mag[static_cast<std::size_t>(top)] == 0)
        --top;
    if (top < 0)
        return Float(0);
    // The top three words hold at least 129 significant bits: more than a double (53) or an
    // x87 long double (64) needs.
    Float v = 0;
    for (int i = top; i >= std::max(0, top - 2); --i)
        v = v * Float(0x1p64) + static_cast<Float>(mag[static_cast<std::size_t>(i)]);
    const int low = std::max(0, top - 2);
    v = std::ldexp(v, 64 * low - 1074);
    return negative ? -v : v;
}

double ExactSum::value() const {
    return value_as<double>();
}

long double ExactSum::value_ld() const {
    return value_as<long double>();
}

namespace {
/// The one list of the Moments fields of Accumulators: visits each with the size its dimensions
/// give it, in the fixed order of the saved state. Construction, merge, save and load all go
/// through it, so a new Moments statistic is one line here (and its field in stats.hpp).
template <class A, class F> void each_field(A &a, const Dims &d, F &&f) {
    const auto D = static_cast<std::size_t>(d.demands);
    const auto M = D * static_cast<std::size_t>(d.months);
    const auto Fc = static_cast<std::size_t>(d.facilities), N = static_cast<std::size_t>(d.nodes),
               R = static_cast<std::size_t>(d.restrictions), E = static_cast<std::size_t>(d.events);
    const auto T = D * static_cast<std::size_t>(d.thresholds);
    const auto ED = E * D, GD = static_cast<std::size_t>(d.regimes) * D;
    const auto RD = static_cast<std::size_t>(std::max(1, d.replicates)) * D;
    f(a.shortfall, D);
    f(a.demand_total, D);
    f(a.shortfall_share, D);
    f(a.short_months, D);
    f(a.any_short, D);
    f(a.monthly, M);
    f(a.fac_trial, Fc);
    f(a.fac_months, Fc);
    f(a.fac_unserved, Fc);
    f(a.node_trial, N);
    f(a.node_months, N);
    f(a.node_unserved, N);
    f(a.res_trial, R);
    f(a.res_months, R);
    f(a.res_unserved, R);
    f(a.event_fired, E);
    f(a.share_above, T);
    f(a.fired_shortfall, ED);
    f(a.fired_short, ED);
    f(a.unfired_shortfall, ED);
    f(a.unfired_short, ED);
    f(a.regime_shortfall, GD);
    f(a.regime_short, GD);
    f(a.rep_shortfall, RD);
    f(a.rep_short_months, RD);
    f(a.rep_any_short, RD);
    f(a.rep_demand_total, RD);
    f(a.rep_share, RD);
    f(a.diff_shortfall, D);
    f(a.diff_short_months, D);
    f(a.diff_any_short, D);
    f(a.diff_share, D);
    f(a.rep_diff_shortfall, RD);
    f(a.rep_diff_short_months, RD);
    f(a.rep_diff_any_short, RD);
    f(a.rep_diff_share, RD);
}
} // namespace

Accumulators::Accumulators(const Dims &d) : dims(d) {
    const auto D = static_cast<std::size_t>(d.demands);
    each_field(*this, d, [](std::vector<Moments> &v, std::size_t n) { v.resize(n); });
    shortfall_min.assign(D, std::numeric_limits<double>::infinity());
    shortfall_max.assign(D, -std::numeric_limits<double>::infinity());
    regime_count.assign(static_cast<std::size_t>(d.regimes), 0);
    monthly_max.assign(D * static_cast<std::size_t>(d.months), 0.0);
}

void Accumulators::merge(const Accumulators &o) {
    std::size_t k = 0;
    std::vector<const std::vector<Moments> *> theirs;
    each_field(o, dims, [&](const std::vector<Moments> &v, std::size_t) { theirs.push_back(&v); });
    each_field(*this, dims, [&](std::vector<Moments> &v, std::size_t) {
        const auto &w = *theirs[k++];
        for (std::size_t i = 0; i < v.size(); ++i)
            v[i].merge(w[i]);
    });
    for (std::size_t i = 0; i < shortfall_min.size(); ++i) {
        shortfall_min[i] = std::min(shortfall_min[i], o.shortfall_min[i]);
        shortfall_max[i] = std::max(shortfall_max[i], o.shortfall_max[i]);
    }
    for (std::size_t i = 0; i < regime_count.size(); ++i)
        regime_count[i] += o.regime_count[i];
    for (std::size_t i = 0; i < monthly_max.size(); ++i)
        monthly_max[i] = std::max(monthly_max[i], o.monthly_max[i]);
    lp_rungs.merge(o.lp_rungs);
}

namespace {
// "chokest2": the replicates' paired differences of short months, the short indicator and the
// share joined the state (2026-12-08); a state of before that is not read.
constexpr std::uint64_t kStateMagic = 0x63686f6b65737432ull;

std::vector<std::uint64_t> dims_words(const Dims &d) {
    return {kStateMagic,
            static_cast<std::uint64_t>(d.demands),
            static_cast<std::uint64_t>(d.facilities),
            static_cast<std::uint64_t>(d.nodes),
            static_cast<std::uint64_t>(d.restrictions),
            static_cast<std::uint64_t>(d.events),
            static_cast<std::uint64_t>(d.regimes),
            static_cast<std::uint64_t>(d.months),
            static_cast<std::uint64_t>(d.thresholds),
            static_cast<std::uint64_t>(d.replicates)};
}
} // namespace

std::vector<std::uint64_t> Accumulators::save() const {
    std::vector<std::uint64_t> out = dims_words(dims);
    each_field(*this, dims, [&](const std::vector<Moments> &v, std::size_t) {
        for (const auto &m : v)
            m.save(out);
    });
    for (const auto *v : {&shortfall_min, &shortfall_max, &monthly_max})
        for (double x : *v)
            out.push_back(std::bit_cast<std::uint64_t>(x));
    for (auto c : regime_count)
        out.push_back(c);
    for (auto c : lp_rungs.solved)
        out.push_back(c);
    out.push_back(lp_rungs.relaxed);
    out.push_back(lp_rungs.failed);
    return out;
}

Accumulators Accumulators::load(const Dims &d, const std::vector<std::uint64_t> &words) {
    Accumulators a(d);
    const auto head = dims_words(d);
    if (words.size() < head.size() || !std::equal(head.begin(), head.end(), words.begin()))
        throw std::runtime_error("statistics state does not match the model (other dimensions "
                                 "or not a chokepoint state)");
    const std::uint64_t *p = words.data() + head.size(), *end = words.data() + words.size();
    each_field(a, d, [&](std::vector<Moments> &v, std::size_t) {
        for (auto &m : v)
            p = m.load(p, end);
    });
    for (auto *v : {&a.shortfall_min, &a.shortfall_max, &a.monthly_max})
        for (double &x : *v) {
            if (p >= end)
                throw std::runtime_error("statistics state truncated");
            x = std::bit_cast<double>(*p++);
        }
    for (auto &c : a.regime_count) {
        if (p >= end)
            throw std::runtime_error("statistics state truncated");
        c = *p++;
    }
    static_assert(kRungs == 4, "the state lists every rung");
    for (auto *c : {&a.lp_rungs.solved[0], &a.lp_rungs.solved[1], &a.lp_rungs.solved[2],
                    &a.lp_rungs.solved[3], &a.lp_rungs.relaxed, &a.lp_rungs.failed}) {
        if (p >= end)
            throw std::runtime_error("statistics state truncated");
        *c = *p++;
    }
    if (p != end)
        throw std::runtime_error("statistics state has " + std::to_string(end - p) +
                                 " trailing words");
    return a;
}

bool Accumulators::operator==(const Accumulators &o) const {
    return save() == o.save();
}

double student_t_975(std::uint64_t dof) {
    if (dof == 0)
        return std::numeric_limits<double>::quiet_NaN();
    return boost::math::quantile(
        boost::math::students_t_distribution<double>(static_cast<double>(dof)), 0.975);
}

std::pair<std::int64_t, std::int64_t> quantile_ci_ranks(std::uint64_t n, double p, double conf) {
    if (n == 0)
        return {-1, -1};
    const double tail = (1 - conf) / 2;
    const boost::math::binomial_distribution<double> b(static_cast<double>(n), p);
    auto F = [&](std::uint64_t j) {
        return j >= n ? 1.0 : boost::math::cdf(b, static_cast<double>(j));
    };
    // lower: the largest j with F(j) <= tail
    std::int64_t lo = -1;
    if (F(0) <= tail) {
        std::uint64_t a = 0, z = n; // F(a) <= tail < F(z)
        while (z - a > 1) {
            const std::uint64_t mid = a + (z - a) / 2;
            (F(mid) <= tail ? a : z) = mid;
        }
        lo = static_cast<std::int64_t>(a);
    }
    // upper: the smallest j with F(j) >= 1 - tail; none if that is n (no such order statistic)
    std::uint64_t a = 0, z = n; // invariant: F(z) >= 1 - tail
    if (F(0) >= 1 - tail) {
        z = 0;
    } else {
        while (z - a > 1) {
            const std::uint64_t mid = a + (z - a) / 2;
            (F(mid) >= 1 - tail ? z : a) = mid;
        }
    }
    const std::int64_t hi = z >= n ? -1 : static_cast<std::int64_t>(z);
    return {lo, hi};
}

CvarEstimate cvar_estimate(double a, std::uint64_t m, double sum, double shift, double dev,
                           double dev2, double var) {
    CvarEstimate e;
    if (m == 0)
        return e;
    const double mt = static_cast<double>(m);
    e.cvar = sum / mt;
    const double tail_var = m > 1 ? std::max(0.0, (dev2 - dev * (dev / mt)) / (mt - 1)) : 0.0;
    const double gap = (shift - var) + dev / mt;
    e.se = std::sqrt((tail_var + a * gap * gap) / mt);
    return e;
}

std::vector<double> resample_order_statistics(const std::vector<std::uint32_t> &count,
                                              const std::vector<double> &z,
                                              const std::vector<std::uint32_t> &order,
                                              std::size_t run,
                                              const std::vector<std::uint64_t> &ranks) {
    // With top(k) = sum_{j >= k} count[order[j]] = n - (the running count at k - 1), the first
    // k whose running count exceeds r is the first k, going down, with top(k) >= n - r.
    const std::size_t n = order.size();
    std::vector<double> out(ranks.size());
    std::uint64_t top = 0;
    std::size_t r = ranks.size();
    for (std::size_t k = n; r > 0 && k > run;) {
        --k;
        top += count[order[k]];
        while (r > 0 && top >= n - ranks[r - 1])
            out[--r] = z[order[k]];
    }
    while (r > 0) // in the leading run: every value there has the bits of its first
        out[--r] = z[order[0]];
    return out;
}

std::size_t leading_run(const std::vector<double> &z, const std::vector<std::uint32_t> &order) {
    std::size_t run = 1;
    while (run < order.size() && std::memcmp(&z[order[run]], &z[order[0]], sizeof(double)) == 0)
        ++run;
    return run;
}

double lerp_quantile(std::uint64_t n, double p, double a, double b) {
    // numpy's "linear" method: h = (n - 1) p; same arithmetic as numpy's _lerp, so results
    // agree to the last bit.
    const double h = static_cast<double>(n - 1) * p;
    const double g = h - std::floor(h);
    return g >= 0.5 ? b - (b - a) * (1 - g) : a + (b - a) * g;
}

namespace {
/// select_ranks on `m` ranks (ascending, distinct, each at least `offset` and below offset + n).
void select_sorted(double *v, std::size_t n, const std::uint64_t *ranks, std::size_t m,
                   std::uint64_t offset) {
    while (m > 0 && n > 0) {
        const std::size_t mid = m / 2;
        const auto at = static_cast<std::size_t>(ranks[mid] - offset);
        std::nth_element(v, v + at, v + n);
        select_sorted(v, at, ranks, mid, offset);
        // The right side, as a loop.
        v += at + 1;
        n -= at + 1;
        offset += at + 1;
        ranks += mid + 1;
        m -= mid + 1;
    }
}

/// Puts at each offset of `ranks` (each below n, in any order, repeats allowed) the value a sort
/// of [v, v + n) would put there, by nth_element around the middle rank and the same on each
/// side: O(n log m) for m ranks rather than a sort's O(n log n). The values selected are those
/// of a sort (an order statistic of values without NaN is one value; a run of equal values that
/// mixes 0.0 and -0.0, which the tables do not hold, could give either sign, as a sort could).
void select_ranks(double *v, std::size_t n, std::vector<std::uint64_t> ranks) {
    std::sort(ranks.begin(), ranks.end());
    ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
    select_sorted(v, n, ranks.data(), ranks.size(), 0);
}
} // namespace

namespace {
/// The rows of a row scan handed on in slabs of `slab_rows` (copied: the row scan keeps none).
BlockScan blocks_of_rows(const RowScan &scan, int k) {
    return [&scan, k](const std::function<void(const double *, std::size_t)> &take) {
        const auto K = static_cast<std::size_t>(std::max(k, 1));
        const std::size_t slab_rows = std::max<std::size_t>(1, (std::size_t(1) << 16) / K);
        std::vector<double> slab;
        slab.reserve(slab_rows * K);
        scan([&](const double *row) {
            slab.insert(slab.end(), row, row + K);
            if (slab.size() == slab_rows * K) {
                take(slab.data(), slab_rows);
                slab.clear();
            }
        });
        if (!slab.empty())
            take(slab.data(), slab.size() / K);
    };
}
} // namespace

std::vector<std::vector<double>>
exact_order_statistics(std::uint64_t n, int k, const std::vector<std::uint64_t> &ranks,
                       const std::vector<double> &col_min, const std::vector<double> &col_max,
                       const RowScan &scan, std::size_t max_values_in_memory, int threads) {
    return exact_order_statistics_blocks(n, k, ranks, col_min, col_max, blocks_of_rows(scan, k),
                                         max_values_in_memory, threads);
}

std::vector<std::vector<double>>
exact_order_statistics_blocks(std::uint64_t n, int k, const std::vector<std::uint64_t> &ranks,
                              const std::vector<double> &col_min,
                              const std::vector<double> &col_max, const BlockScan &scan,
                              std::size_t max_values_in_memory, int threads) {
    std::vector<std::vector<double>> out(static_cast<std::size_t>(k),
                                         std::vector<double>(ranks.size(), 0.0));
    if (n == 0 || k == 0 || ranks.empty())
        return out;

    struct Target {
        int col;
        std::uint64_t rank;
        double lo, hi;
        std::uint64_t count; // values in [lo, hi]
        bool resolved = false;
        double value = 0;
    };
    // One target per column and distinct rank (ranks beyond n - 1 are n - 1): column j's
    // targets are targets[j Dr, (j + 1) Dr), in the order of the ranks' first appearance, and
    // rank i is target slot_of[i] of its column. Every column asks the same ranks, so which
    // rank repeats which is worked out once.
    const std::size_t R = ranks.size();
    std::vector<std::uint64_t> distinct;
    std::vector<std::size_t> slot_of(R);
    for (std::size_t i = 0; i < R; ++i) {
        const std::uint64_t r = std::min(ranks[i], n - 1);
        const auto at = std::find(distinct.begin(), distinct.end(), r);
        slot_of[i] = static_cast<std::size_t>(at - distinct.begin());
        if (at == distinct.end())
            distinct.push_back(r);
    }
    const std::size_t Dr = distinct.size();
    std::vector<Target> targets;
    targets.reserve(static_cast<std::size_t>(k) * Dr);
    for (int j = 0; j < k; ++j)
        for (const std::uint64_t r : distinct)
            targets.push_back({j, r, col_min[static_cast<std::size_t>(j)],
                               col_max[static_cast<std::size_t>(j)], n});
    for (auto &t : targets)
        if (t.lo == t.hi) {
            t.resolved = true;
            t.value = t.lo;
        }

    // The columns that still need an order statistic, and each one's place among them.
    std::vector<int> slot(static_cast<std::size_t>(k), -1);
    std::vector<int> cols;
    for (const auto &t : targets)
        if (!t.resolved && slot[static_cast<std::size_t>(t.col)] < 0) {
            slot[static_cast<std::size_t>(t.col)] = static_cast<int>(cols.size());
            cols.push_back(t.col);
        }
    const std::size_t n_cols_active = cols.size();
    // Work per column, on `threads` threads: each column's state is touched by one task only,
    // and a column's values are taken in row order, so the result is the same on any number.
    IndexTasks for_each_index(threads);
    // One pass over the table: its blocks of rows are handed on in slabs of at most 512 KiB (in
    // cache), take(first value, rows), so that a slab's columns can be worked on in parallel.
    // A slab is a part of the scan's block, not a copy.
    const auto K = static_cast<std::size_t>(k);
    const std::size_t slab_rows = std::max<std::size_t>(1, (std::size_t(1) << 16) / K);
    auto scan_slabs = [&](const auto &take) {
        scan([&](const double *first, std::size_t rows) {
            for (std::size_t r = 0; r < rows; r += slab_rows)
                take(first + r * K, std::min(slab_rows, rows - r));
        });
    };
    // A value outside its column's bounds (or a NaN, which no order ranks) means the table and
    // the accumulators that gave the bounds disagree.
    auto check = [&](std::size_t j, double v) {
        if (!(v >= col_min[j] && v <= col_max[j]))
            throw std::logic_error(
                "exact_order_statistics: a value lies outside its column's bounds");
    };
    // When the columns that still need an order statistic fit in memory whole, one pass reads
    // them and each is sorted: the same values as the passes below, which would read the table
    // two or three times.
    if (n_cols_active > 0 && n <= max_values_in_memory / n_cols_active) {
        const auto rows = static_cast<std::size_t>(n);
        std::vector<double> values(rows * n_cols_active);
        std::size_t row = 0; // rows stored so far
        scan_slabs([&](const double *first, std::size_t count) {
            if (row + count > rows)
                throw std::logic_error("exact_order_statistics: the table has more rows than n");
            for_each_index(n_cols_active, [&](std::size_t c) {
                const auto j = static_cast<std::size_t>(cols[c]);
                double *out = &values[c * rows + row];
                for (std::size_t r = 0; r < count; ++r) {
                    const double v = first[r * K + j];
                    check(j, v);
                    out[r] = v;
                }
            });
            row += count;
        });
        if (row != rows)
            throw std::logic_error("exact_order_statistics: the table has fewer rows than n");
        // Each column's ranks, selected in place (the order statistics only, not a sort).
        std::vector<std::vector<std::uint64_t>> col_ranks(n_cols_active);
        for (const auto &t : targets)
            if (!t.resolved)
                col_ranks[static_cast<std::size_t>(slot[static_cast<std::size_t>(t.col)])]
                    .push_back(t.rank);
        for_each_index(n_cols_active, [&](std::size_t c) {
            select_ranks(&values[c * rows], rows, std::move(col_ranks[c]));
        });
        for (auto &t : targets)
            if (!t.resolved) {
                const auto c = static_cast<std::size_t>(slot[static_cast<std::size_t>(t.col)]);
                t.value = values[c * rows + static_cast<std::size_t>(t.rank)];
                t.resolved = true;
            }
    }
    // Histogram bins per group: fewer when there are many columns, so that memory stays bounded
    // (more passes instead).
    const int B = static_cast<int>(std::clamp<std::size_t>(
        (std::size_t(1) << 19) / std::max<std::size_t>(1, n_cols_active), 64, 4096));
    const std::size_t per_target =
        std::max<std::size_t>(64, max_values_in_memory / std::max<std::size_t>(1, targets.size()));
    for (int pass = 0; pass < 64; ++pass) {
        struct Group {
            int col;
            double lo, hi;
            std::uint64_t count; // values in [lo, hi]
            bool collect = false;
            std::uint64_t below = 0;
            std::uint64_t at_lo = 0, at_hi = 0; // values equal to lo, to hi (binned groups)
            std::vector<std::uint64_t> cnt;
            std::vector<double> bmin, bmax;
            std::vector<double> values;
            std::vector<std::size_t> members;
        };
        std::map<std::tuple<int, double, double>, Group> groups;
        for (std::size_t i = 0; i < targets.size(); ++i) {
            auto &t = targets[i];
            if (t.resolved)
                continue;
            auto &g = groups[{t.col, t.lo, t.hi}];
            if (g.members.empty()) {
                g.col = t.col;
                g.lo = t.lo;
                g.hi = t.hi;
                g.count = t.count;
            }
            g.members.push_back(i);
        }
        // The groups whose values are collected this pass (and the order statistics then read
        // off), smallest first, as many as fit in max_values_in_memory together; the others are
        // binned again to narrow their interval. Sharing the budget this way, rather than
        // giving each group an equal part, lets a pass finish every group that fits: a pass
        // over the table is the expensive step.
        {
            std::vector<Group *> by_count;
            for (auto &[key, g] : groups)
                by_count.push_back(&g);
            std::stable_sort(by_count.begin(), by_count.end(),
                             [](const Group *a, const Group *b) { return a->count < b->count; });
            std::uint64_t budget = max_values_in_memory;
            for (Group *g : by_count) {
                // At least an equal share (as before), and 64 values, whatever the budget.
                g->collect = g->count <= per_target || g->count <= budget;
                if (g->collect) {
                    budget -= std::min(budget, g->count);
                    g->values.reserve(static_cast<std::size_t>(g->count));
                } else {
                    g->cnt.assign(B, 0);
                    g->bmin.assign(B, std::numeric_limits<double>::infinity());
                    g->bmax.assign(B, -std::numeric_limits<double>::infinity());
                }
            }
        }
        if (groups.empty())
            break;
        std::vector<std::vector<Group *>> by_col(static_cast<std::size_t>(k));
        for (auto &[key, g] : groups)
            by_col[static_cast<std::size_t>(g.col)].push_back(&g);
        // One group's share of a column of a slab (`rows` values K apart), in row order.
        // Any bin index that does not decrease as the value grows would do: a bin only narrows
        // where an order statistic lies, and its value is then read exactly. (v - lo) * (B / w)
        // is such an index, and a multiplication is cheaper than a division per value.
        // Values equal to an end of the interval are counted apart from the bins: the tables
        // pile values on their ends (months without shortfall, all 0; a demand never served,
        // all its want), and a rank among such a pile is then resolved by this pass, where a
        // bin holding the pile and a few values beside it would take pass after pass to narrow.
        auto bin_group = [&](Group &g, const double *v, std::size_t rows) {
            const double lo = g.lo, hi = g.hi;
            std::uint64_t below = 0;
            if (g.collect) {
                for (std::size_t r = 0; r < rows; ++r) {
                    const double x = v[r * K];
                    if (x < lo)
                        ++below;
                    else if (x <= hi)
                        g.values.push_back(x);
                }
                g.below += below;
                return;
            }
            const double w = hi - lo, scale = B / w;
            // A width so small that B / w overflows: the division, as before.
            const bool by_scale = std::isfinite(scale);
            std::uint64_t *cnt = g.cnt.data();
            double *bmin = g.bmin.data(), *bmax = g.bmax.data();
            std::uint64_t at_lo = 0, at_hi = 0;
            for (std::size_t r = 0; r < rows; ++r) {
                const double x = v[r * K];
                if (x < lo) {
                    ++below;
                    continue;
                }
                if (x > hi)
                    continue;
                if (x == lo) {
                    ++at_lo;
                    continue;
                }
                if (x == hi) {
                    ++at_hi;
                    continue;
                }
                int b = static_cast<int>(by_scale ? (x - lo) * scale : (x - lo) / w * B);
                b = std::clamp(b, 0, B - 1);
                ++cnt[b];
                bmin[b] = std::min(bmin[b], x);
                bmax[b] = std::max(bmax[b], x);
            }
            g.below += below;
            g.at_lo += at_lo;
            g.at_hi += at_hi;
        };
        std::vector<int> active;
        for (int j = 0; j < k; ++j)
            if (!by_col[static_cast<std::size_t>(j)].empty())
                active.push_back(j);
        // A slab's columns are binned in parallel.
        scan_slabs([&](const double *first, std::size_t rows) {
            for_each_index(active.size(), [&](std::size_t a) {
                const auto j = static_cast<std::size_t>(active[a]);
                if (pass == 0)
                    for (std::size_t r = 0; r < rows; ++r)
                        check(j, first[r * K + j]);
                for (Group *g : by_col[j])
                    bin_group(*g, first + j, rows);
            });
        });
        // The collected groups' members' ranks in their intervals, selected (those out of it
        // throw below), a group per task.
        std::vector<Group *> collected;
        for (auto &[key, g] : groups)
            if (g.collect)
                collected.push_back(&g);
        for_each_index(collected.size(), [&](std::size_t c) {
            Group &g = *collected[c];
            std::vector<std::uint64_t> r;
            for (std::size_t i : g.members)
                if (targets[i].rank >= g.below && targets[i].rank - g.below < g.values.size())
                    r.push_back(targets[i].rank - g.below);
            select_ranks(g.values.data(), g.values.size(), std::move(r));
        });
        std::vector<std::uint64_t> ends;
        for (auto &[key, g] : groups) {
            if (!g.collect) {
                // Running counts at the bins' ends, so that a member's bin is found by a
                // binary search rather than a walk over the bins: ends[b] = at_lo + the counts
                // of bins 0..b, and the member's bin is the first b with r < ends[b] (an empty
                // bin never is: its end equals the one before).
                ends.resize(static_cast<std::size_t>(B));
                std::uint64_t acc = g.at_lo;
                for (int b = 0; b < B; ++b) {
                    acc += g.cnt[static_cast<std::size_t>(b)];
                    ends[static_cast<std::size_t>(b)] = acc;
                }
            }
            for (std::size_t i : g.members) {
                auto &t = targets[i];
                if (t.rank < g.below)
                    throw std::logic_error("exact_order_statistics: rank below interval");
                const std::uint64_t r = t.rank - g.below;
                if (g.collect) {
                    if (r >= g.values.size())
                        throw std::logic_error("exact_order_statistics: rank beyond interval");
                    t.value = g.values[static_cast<std::size_t>(r)];
                    t.resolved = true;
                    continue;
                }
                if (r < g.at_lo) { // among the values equal to the interval's lower end
                    t.value = g.lo;
                    t.resolved = true;
                    continue;
                }
                const auto it = std::upper_bound(ends.begin(), ends.end(), r);
                if (it != ends.end()) {
                    const auto b = static_cast<std::size_t>(it - ends.begin());
                    t.lo = g.bmin[b];
                    t.hi = g.bmax[b];
                    t.count = g.cnt[b];
                    if (t.lo == t.hi) {
                        t.value = t.lo;
                        t.resolved = true;
                    }
                    continue;
                }
                const std::uint64_t acc = ends.back(); // at_lo and every bin
                if (r - acc >= g.at_hi) // the interval holds fewer values than the rank needs
                    throw std::logic_error("exact_order_statistics: rank beyond interval");
                t.value = g.hi; // among the values equal to the interval's upper end
                t.resolved = true;
            }
        }
    }
    for (const auto &t : targets)
        if (!t.resolved)
            throw std::logic_error("exact_order_statistics: did not converge");

    for (int j = 0; j < k; ++j)
        for (std::size_t i = 0; i < R; ++i)
            out[static_cast<std::size_t>(j)][i] =
                targets[static_cast<std::size_t>(j) * Dr + slot_of[i]].value;
    return out;
}

std::vector<std::vector<double>>
exact_quantiles(std::uint64_t n, int k, const std::vector<double> &levels,
                const std::vector<double> &col_min, const std::vector<double> &col_max,
                const RowScan &scan, std::size_t max_values_in_memory, int threads) {
    return exact_quantiles_blocks(n, k, levels, col_min, col_max, blocks_of_rows(scan, k),
                                  max_values_in_memory, threads);
}

std::vector<std::vector<double>>
exact_quantiles_blocks(std::uint64_t n, int k, const std::vector<double> &levels,
                       const std::vector<double> &col_min, const std::vector<double> &col_max,
                       const BlockScan &scan, std::size_t max_values_in_memory, int threads) {
    std::vector<std::vector<double>> out(static_cast<std::size_t>(k),
                                         std::vector<double>(levels.size(), 0.0));
    if (n == 0 || k == 0 || levels.empty())
        return out;
    std::vector<std::uint64_t> ranks;
    for (double p : levels) {
        const auto lo = static_cast<std::uint64_t>(std::floor(static_cast<double>(n - 1) * p));
        ranks.push_back(lo);
        ranks.push_back(std::min(lo + 1, n - 1));
    }
    const auto os = exact_order_statistics_blocks(n, k, ranks, col_min, col_max, scan,
                                                  max_values_in_memory, threads);
    for (int j = 0; j < k; ++j)
        for (std::size_t q = 0; q < levels.size(); ++q)
            out[static_cast<std::size_t>(j)][q] =
                lerp_quantile(n, levels[q], os[static_cast<std::size_t>(j)][2 * q],
                              os[static_cast<std::size_t>(j)][2 * q + 1]);
    return out;
}

Dims dims_of(const Model &m) {
    Dims d;
    d.demands = static_cast<int>(m.demands.size());
    d.facilities = static_cast<int>(m.facilities.size());
    d.nodes = static_cast<int>(m.node_names.size());
    d.restrictions = static_cast<int>(m.restrictions.size());
    d.events = static_cast<int>(m.events.size());
    d.regimes = static_cast<int>(m.regimes.size());
    d.months = m.run.horizon_months;
    d.thresholds = static_cast<int>(m.run.thresholds.size());
    d.replicates = m.run.pick_freeze_rows > 0 ? 1 : std::max(1, m.run.replicates);
    return d;
}

} // namespace chokepoint
