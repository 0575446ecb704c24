#include "stats.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <tuple>

namespace chokepoint {

void ExactSum::add_bits(std::uint64_t mantissa, int shift, bool negative) {
    // value = mantissa * 2^shift (shift >= 0, in units of 2^-1074), added or subtracted.
    const int word = shift / 64, bit = shift % 64;
    std::uint64_t lo = mantissa << bit;
    std::uint64_t hi = bit ? (mantissa >> (64 - bit)) : 0;
    if (!negative) {
        std::uint64_t carry = 0;
        for (int i = word; i < kWords; ++i) {
            const std::uint64_t add = (i == word ? lo : i == word + 1 ? hi : 0);
            const std::uint64_t before = w_[static_cast<std::size_t>(i)];
            const std::uint64_t t = before + add;
            const std::uint64_t r = t + carry;
            carry = (t < before) || (r < t);
            w_[static_cast<std::size_t>(i)] = r;
            if (i > word && !carry)
                break;
        }
    } else {
        std::uint64_t borrow = 0;
        for (int i = word; i < kWords; ++i) {
            const std::uint64_t sub = (i == word ? lo : i == word + 1 ? hi : 0);
            const std::uint64_t before = w_[static_cast<std::size_t>(i)];
            const std::uint64_t t = before - sub;
            const std::uint64_t r = t - borrow;
            borrow = (before < sub) || (t < borrow);
            w_[static_cast<std::size_t>(i)] = r;
            if (i > word && !borrow)
                break;
        }
    }
}

void ExactSum::add(double x) {
    if (x == 0.0 || !std::isfinite(x))
        return; // non-finite values never reach the accumulators (see Simulator)
    int e = 0;
    const double f = std::frexp(std::abs(x), &e);                  // |x| = f 2^e, f in [0.5, 1)
    auto mantissa = static_cast<std::uint64_t>(std::ldexp(f, 53)); // exact: 53 bits
    int shift = e - 53 + 1074;
    if (shift < 0) { // subnormal: its low bits are zero
        mantissa >>= -shift;
        shift = 0;
    }
    add_bits(mantissa, shift, x < 0);
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

double ExactSum::value() const {
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
        return 0.0;
    // The top three words hold at least 129 significant bits: more than a double needs.
    double v = 0;
    for (int i = top; i >= std::max(0, top - 2); --i)
        v = v * 0x1p64 + static_cast<double>(mag[static_cast<std::size_t>(i)]);
    const int low = std::max(0, top - 2);
    v = std::ldexp(v, 64 * low - 1074);
    return negative ? -v : v;
}

Accumulators::Accumulators(const Dims &d) : dims(d) {
    const auto D = static_cast<std::size_t>(d.demands);
    shortfall.resize(D);
    demand_total.resize(D);
    shortfall_share.resize(D);
    short_months.resize(D);
    any_short.resize(D);
    shortfall_min.assign(D, std::numeric_limits<double>::infinity());
    shortfall_max.assign(D, -std::numeric_limits<double>::infinity());
    monthly.resize(D * static_cast<std::size_t>(d.months));
    fac_trial.resize(static_cast<std::size_t>(d.facilities));
    fac_months.resize(static_cast<std::size_t>(d.facilities));
    fac_unserved.resize(static_cast<std::size_t>(d.facilities));
    node_trial.resize(static_cast<std::size_t>(d.nodes));
    node_months.resize(static_cast<std::size_t>(d.nodes));
    node_unserved.resize(static_cast<std::size_t>(d.nodes));
    res_trial.resize(static_cast<std::size_t>(d.restrictions));
    res_months.resize(static_cast<std::size_t>(d.restrictions));
    res_unserved.resize(static_cast<std::size_t>(d.restrictions));
    event_fired.resize(static_cast<std::size_t>(d.events));
    regime_count.assign(static_cast<std::size_t>(d.regimes), 0);
}

namespace {
void merge_vec(std::vector<Moments> &a, const std::vector<Moments> &b) {
    for (std::size_t i = 0; i < a.size(); ++i)
        a[i].merge(b[i]);
}
} // namespace

void Accumulators::merge(const Accumulators &o) {
    merge_vec(shortfall, o.shortfall);
    merge_vec(demand_total, o.demand_total);
    merge_vec(shortfall_share, o.shortfall_share);
    merge_vec(short_months, o.short_months);
    merge_vec(any_short, o.any_short);
    for (std::size_t i = 0; i < shortfall_min.size(); ++i) {
        shortfall_min[i] = std::min(shortfall_min[i], o.shortfall_min[i]);
        shortfall_max[i] = std::max(shortfall_max[i], o.shortfall_max[i]);
    }
    merge_vec(monthly, o.monthly);
    merge_vec(fac_trial, o.fac_trial);
    merge_vec(fac_months, o.fac_months);
    merge_vec(fac_unserved, o.fac_unserved);
    merge_vec(node_trial, o.node_trial);
    merge_vec(node_months, o.node_months);
    merge_vec(node_unserved, o.node_unserved);
    merge_vec(res_trial, o.res_trial);
    merge_vec(res_months, o.res_months);
    merge_vec(res_unserved, o.res_unserved);
    merge_vec(event_fired, o.event_fired);
    for (std::size_t i = 0; i < regime_count.size(); ++i)
        regime_count[i] += o.regime_count[i];
}

std::vector<std::vector<double>>
exact_quantiles(std::uint64_t n, int k, const std::vector<double> &levels,
                const std::vector<double> &col_min, const std::vector<double> &col_max,
                const std::function<void(const std::function<void(const double *)> &)> &scan,
                std::size_t max_values_in_memory) {
    std::vector<std::vector<double>> out(static_cast<std::size_t>(k),
                                         std::vector<double>(levels.size(), 0.0));
    if (n == 0 || k == 0 || levels.empty())
        return out;

    struct Target {
        int col;
        std::uint64_t rank;
        double lo, hi;
        std::uint64_t count; // values in [lo, hi]
        bool resolved = false;
        double value = 0;
    };
    std::vector<Target> targets;
    std::map<std::pair<int, std::uint64_t>, std::size_t> target_of;
    auto need = [&](int col, std::uint64_t rank) {
        const auto key = std::make_pair(col, rank);
        if (!target_of.count(key)) {
            target_of[key] = targets.size();
            targets.push_back({col, rank, col_min[static_cast<std::size_t>(col)],
                               col_max[static_cast<std::size_t>(col)], n});
        }
    };
    for (int j = 0; j < k; ++j)
        for (double p : levels) {
            const double h = static_cast<double>(n - 1) * p;
            const auto lo = static_cast<std::uint64_t>(std::floor(h));
            need(j, lo);
            need(j, std::min(lo + 1, n - 1));
        }
    for (auto &t : targets)
        if (t.lo == t.hi) {
            t.resolved = true;
            t.value = t.lo;
        }

    constexpr int B = 4096;
    const std::size_t per_target =
        std::max<std::size_t>(64, max_values_in_memory / std::max<std::size_t>(1, targets.size()));
    for (int pass = 0; pass < 64; ++pass) {
        struct Group {
            int col;
            double lo, hi;
            bool collect;
            std::uint64_t below = 0;
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
                g.collect = t.count <= per_target;
                if (!g.collect) {
                    g.cnt.assign(B, 0);
                    g.bmin.assign(B, std::numeric_limits<double>::infinity());
                    g.bmax.assign(B, -std::numeric_limits<double>::infinity());
                } else {
                    g.values.reserve(static_cast<std::size_t>(t.count));
                }
            }
            g.members.push_back(i);
        }
        if (groups.empty())
            break;
        std::vector<std::vector<Group *>> by_col(static_cast<std::size_t>(k));
        for (auto &[key, g] : groups)
            by_col[static_cast<std::size_t>(g.col)].push_back(&g);
        scan([&](const double *row) {
            for (int j = 0; j < k; ++j) {
                const double v = row[j];
                for (Group *g : by_col[static_cast<std::size_t>(j)]) {
                    if (v < g->lo) {
                        ++g->below;
                    } else if (v <= g->hi) {
                        if (g->collect) {
                            g->values.push_back(v);
                        } else {
                            const double w = g->hi - g->lo;
                            int b = static_cast<int>((v - g->lo) / w * B);
                            b = std::clamp(b, 0, B - 1);
                            ++g->cnt[static_cast<std::size_t>(b)];
                            g->bmin[static_cast<std::size_t>(b)] =
                                std::min(g->bmin[static_cast<std::size_t>(b)], v);
                            g->bmax[static_cast<std::size_t>(b)] =
                                std::max(g->bmax[static_cast<std::size_t>(b)], v);
                        }
                    }
                }
            }
        });
        for (auto &[key, g] : groups) {
            if (g.collect)
                std::sort(g.values.begin(), g.values.end());
            for (std::size_t i : g.members) {
                auto &t = targets[i];
                if (t.rank < g.below)
                    throw std::logic_error("exact_quantiles: rank below interval");
                const std::uint64_t r = t.rank - g.below;
                if (g.collect) {
                    if (r >= g.values.size())
                        throw std::logic_error("exact_quantiles: rank beyond interval");
                    t.value = g.values[static_cast<std::size_t>(r)];
                    t.resolved = true;
                    continue;
                }
                std::uint64_t acc = 0;
                for (int b = 0; b < B; ++b) {
                    const auto c = g.cnt[static_cast<std::size_t>(b)];
                    if (r < acc + c) {
                        t.lo = g.bmin[static_cast<std::size_t>(b)];
                        t.hi = g.bmax[static_cast<std::size_t>(b)];
                        t.count = c;
                        if (t.lo == t.hi) {
                            t.value = t.lo;
                            t.resolved = true;
                        }
                        break;
                    }
                    acc += c;
                }
            }
        }
    }
    for (const auto &t : targets)
        if (!t.resolved)
            throw std::logic_error("exact_quantiles: did not converge");

    for (int j = 0; j < k; ++j)
        for (std::size_t q = 0; q < levels.size(); ++q) {
            const double h = static_cast<double>(n - 1) * levels[q];
            const auto lo = static_cast<std::uint64_t>(std::floor(h));
            const auto hi = std::min(lo + 1, n - 1);
            const double a = targets[target_of[{j, lo}]].value,
                         b = targets[target_of[{j, hi}]].value;
            // Same arithmetic as numpy's _lerp, so results agree to the last bit or two.
            const double g = h - static_cast<double>(lo);
            out[static_cast<std::size_t>(j)][q] =
                g >= 0.5 ? b - (b - a) * (1 - g) : a + (b - a) * g;
        }
    return out;
}

} // namespace chokepoint
