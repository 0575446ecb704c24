#include "sampling/sampling.hpp"

#include "core/errors.hpp"
#include "core/random.hpp"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/random/sobol.hpp>
#include <cmath>
#include <numeric>
#include <sstream>

namespace chokepoint {

namespace {

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
    return mix(a ^ mix(b + 0x9e3779b97f4a7c15ull));
}

/// A uniform in (0, 1) from 64 random bits (53 of them).
double to_unit(std::uint64_t bits) {
    return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53;
}

double phi_inv(double u) {
    static const boost::math::normal_distribution<double> n01;
    return boost::math::quantile(n01, std::clamp(u, 1e-300, 1.0 - 0x1.0p-53));
}

double phi(double z) {
    static const boost::math::normal_distribution<double> n01;
    // The upper tail through the complement keeps u < 1 for large z.
    return z > 0 ? 1.0 - boost::math::cdf(boost::math::complement(n01, z))
                 : boost::math::cdf(n01, z);
}

/// Cholesky factor (lower, row-major) of the k x k matrix `a`; returns the failing pivot, or -1.
int cholesky(const std::vector<double> &a, int k, std::vector<double> &l) {
    l.assign(static_cast<std::size_t>(k * k), 0.0);
    for (int i = 0; i < k; ++i)
        for (int j = 0; j <= i; ++j) {
            double s = a[static_cast<std::size_t>(i * k + j)];
            for (int p = 0; p < j; ++p)
                s -=
                    l[static_cast<std::size_t>(i * k + p)] * l[static_cast<std::size_t>(j * k + p)];
            if (i == j) {
                if (!(s > 1e-10))
                    return i;
                l[static_cast<std::size_t>(i * k + i)] = std::sqrt(s);
            } else {
                l[static_cast<std::size_t>(i * k + j)] = s / l[static_cast<std::size_t>(j * k + j)];
            }
        }
    return -1;
}

// The c-th uniform of input `qid` in the stream of base trial `id` (plain Monte Carlo).
double mc_uniform(std::uint64_t seed, std::uint64_t id, std::uint64_t qid, int c) {
    Stream s(seed, id, qid);
    double u = s.uniform01();
    for (int i = 0; i < c; ++i)
        u = s.uniform01();
    return u;
}

} // namespace

std::uint64_t permute(std::uint64_t i, std::uint64_t n, std::uint64_t key) {
    if (n <= 1)
        return 0;
    int bits = 2;
    while (bits < 64 && (std::uint64_t(1) << bits) < n)
        ++bits;
    if (bits % 2)
        ++bits;
    const int half = bits / 2;
    const std::uint64_t mask = (std::uint64_t(1) << half) - 1;
    std::uint64_t x = i;
    do { // cycle walking: at most a few rounds on average, as 2^bits < 4 n
        std::uint64_t l = x >> half, r = x & mask;
        for (std::uint64_t round = 0; round < 4; ++round) {
            const std::uint64_t f = mix(key ^ (round << 56), r) & mask;
            const std::uint64_t t = l ^ f;
            l = r;
            r = t;
        }
        x = (l << half) | r;
    } while (x >= n);
    return x;
}

double normal_correlation_for_rank(double rank) {
    return 2.0 * std::sin(M_PI * rank / 6.0);
}

struct Design::Workspace {
    std::unique_ptr<boost::random::sobol> sobol;
    std::uint64_t next_point = ~std::uint64_t(0); // the point the generator produces next
    std::uint64_t cached_point = ~std::uint64_t(0);
    std::vector<std::uint64_t> point;
    std::vector<double> z;
};

Design::Design(DesignSettings settings, std::vector<DesignInput> inputs,
               std::vector<DesignCorrelation> correlations)
    : s_(std::move(settings)), inputs_(std::move(inputs)), corr_(std::move(correlations)) {
    for (const auto &in : inputs_) {
        first_.push_back(coords_);
        coords_ += in.coords;
    }
    if (s_.pick_freeze_rows > 0) {
        if (s_.replicates != 1)
            throw InputError("run.sensitivity: sobol uses one replicate (its confidence intervals "
                             "come from the bootstrap); set run.replicates: 1");
        m_ = s_.pick_freeze_rows;
        sets_ = 2;
    } else {
        if (s_.replicates < 1 || s_.trials % static_cast<std::uint64_t>(s_.replicates) != 0)
            throw InputError("run.trials (" + std::to_string(s_.trials) +
                             ") must be a multiple of run.replicates (" +
                             std::to_string(s_.replicates) + ")");
        m_ = s_.trials / static_cast<std::uint64_t>(s_.replicates);
    }

    // Importance tilts: one coordinate each, not correlated (the copula's joint density would
    // enter the likelihood ratio), each input tilted once.
    for (auto &t : s_.tilts) {
        if (t.input < 0 || static_cast<std::size_t>(t.input) >= inputs_.size())
            throw std::logic_error("importance tilt of an input outside the design");
        const auto &in = inputs_[static_cast<std::size_t>(t.input)];
        check_tilt(t, in.name);
        if (in.coords != 1)
            throw InputError("run.importance: input " + in.name + " takes " +
                             std::to_string(in.coords) +
                             " coordinates (a product of distributions); only inputs drawn from "
                             "one coordinate can be tilted");
        for (const auto &c : corr_)
            if (c.a == t.input || c.b == t.input)
                throw InputError("run.importance: input " + in.name +
                                 " is in run.correlations; a correlated input cannot be tilted");
        for (const auto &o : s_.tilts)
            if (&o != &t && o.input == t.input)
                throw InputError("run.importance: input " + in.name + " is tilted twice");
        // Masses normalised to sum to 1 exactly as a double sum (they may be off by rounding).
        const double total = std::accumulate(t.mass.begin(), t.mass.end(), 0.0);
        for (auto &x : t.mass)
            x /= total;
        std::vector<double> cum{0.0}, lr;
        for (std::size_t b = 0; b < t.mass.size(); ++b) {
            cum.push_back(cum.back() + t.mass[b]);
            lr.push_back((t.edges[b + 1] - t.edges[b]) / t.mass[b]);
        }
        tilt_cum_.push_back(std::move(cum));
        tilt_lr_.push_back(std::move(lr));
    }

    // Correlations: the normal correlation matrix of the correlated inputs must be positive
    // definite (else no joint distribution has these rank correlations).
    for (const auto &c : corr_)
        for (int x : {c.a, c.b})
            if (std::find(corr_inputs_.begin(), corr_inputs_.end(), x) == corr_inputs_.end())
                corr_inputs_.push_back(x);
    std::sort(corr_inputs_.begin(), corr_inputs_.end());
    const int k = static_cast<int>(corr_inputs_.size());
    std::vector<double> target(static_cast<std::size_t>(k * k), 0.0);
    auto at = [&](int input) {
        return static_cast<int>(std::find(corr_inputs_.begin(), corr_inputs_.end(), input) -
                                corr_inputs_.begin());
    };
    for (int i = 0; i < k; ++i)
        target[static_cast<std::size_t>(i * k + i)] = 1.0;
    for (const auto &c : corr_) {
        const int i = at(c.a), j = at(c.b);
        const double r = normal_correlation_for_rank(c.rank);
        target[static_cast<std::size_t>(i * k + j)] = target[static_cast<std::size_t>(j * k + i)] =
            r;
    }
    if (k > 0) {
        const int bad = cholesky(target, k, chol_);
        if (bad >= 0) {
            // Name the pair with the largest correlation at the failing pivot.
            int other = 0;
            double best = -1;
            for (int j = 0; j < bad; ++j)
                if (std::abs(target[static_cast<std::size_t>(bad * k + j)]) > best) {
                    best = std::abs(target[static_cast<std::size_t>(bad * k + j)]);
                    other = j;
                }
            std::ostringstream os;
            os << "run.correlations: the rank correlation between '"
               << inputs_[static_cast<std::size_t>(corr_inputs_[static_cast<std::size_t>(other)])]
                      .name
               << "' and '"
               << inputs_[static_cast<std::size_t>(corr_inputs_[static_cast<std::size_t>(bad)])]
                      .name
               << "' is inconsistent with the other correlations given: together they do not "
                  "form a positive definite correlation matrix (no joint distribution has them); "
                  "weaken this pair or the pairs it is chained to";
            throw InputError(os.str());
        }
    }

    if (s_.kind == SamplerKind::Sobol) {
        const std::uint64_t dims = static_cast<std::uint64_t>(coords_) * sets_;
        if (dims > BOOST_RANDOM_SOBOL_MAX_DIMENSION)
            throw InputError("run.sampler: sobol supports at most " +
                             std::to_string(BOOST_RANDOM_SOBOL_MAX_DIMENSION) +
                             " coordinates per trial; this model has " + std::to_string(dims) +
                             " (use lhs, or fix some quantities)");
        shift_.resize(static_cast<std::size_t>(s_.replicates) * dims);
        for (int r = 0; r < s_.replicates; ++r)
            for (int set = 0; set < sets_; ++set)
                for (std::size_t i = 0; i < inputs_.size(); ++i)
                    for (int c = 0; c < inputs_[i].coords; ++c) {
                        Stream st(s_.seed, static_cast<std::uint64_t>(r),
                                  mix(inputs_[i].qid,
                                      0x50b01ull + static_cast<std::uint64_t>(set * 1024 + c)));
                        const auto d = static_cast<std::uint64_t>(set) * coords_ +
                                       static_cast<std::uint64_t>(first_[i] + c);
                        shift_[static_cast<std::size_t>(r) * dims + d] = st();
                    }
    }

    if (s_.kind == SamplerKind::LHS && k > 0) {
        // Iman-Conover: rearrange the strata of the correlated inputs, per (replicate, set), so
        // that their van der Waerden scores have the target correlation.
        const auto m = static_cast<std::size_t>(m_);
        std::vector<double> score(m);
        for (std::size_t i = 0; i < m; ++i)
            score[i] = phi_inv((static_cast<double>(i) + 1.0) / (static_cast<double>(m) + 1.0));
        for (int r = 0; r < s_.replicates; ++r)
            for (int set = 0; set < sets_; ++set) {
                std::vector<double> S(m * static_cast<std::size_t>(k));
                for (int j = 0; j < k; ++j) {
                    const auto &in = inputs_[static_cast<std::size_t>(
                        corr_inputs_[static_cast<std::size_t>(j)])];
                    const std::uint64_t key = mix(
                        mix(s_.seed, in.qid), 0x1c0ull + static_cast<std::uint64_t>(r * 2 + set));
                    for (std::size_t i = 0; i < m; ++i)
                        S[i * static_cast<std::size_t>(k) + static_cast<std::size_t>(j)] =
                            score[static_cast<std::size_t>(permute(i, m, key))];
                }
                // E = corr(S) (the scores have mean 0 and equal variance).
                std::vector<double> E(static_cast<std::size_t>(k * k), 0.0), Q;
                for (std::size_t i = 0; i < m; ++i)
                    for (int a = 0; a < k; ++a)
                        for (int b = 0; b <= a; ++b)
                            E[static_cast<std::size_t>(a * k + b)] +=
                                S[i * static_cast<std::size_t>(k) + static_cast<std::size_t>(a)] *
                                S[i * static_cast<std::size_t>(k) + static_cast<std::size_t>(b)];
                for (int a = 0; a < k; ++a)
                    for (int b = 0; b < a; ++b)
                        E[static_cast<std::size_t>(b * k + a)] =
                            E[static_cast<std::size_t>(a * k + b)];
                std::vector<double> dg(static_cast<std::size_t>(k));
                for (int a = 0; a < k; ++a)
                    dg[static_cast<std::size_t>(a)] =
                        std::sqrt(E[static_cast<std::size_t>(a * k + a)]);
                for (int a = 0; a < k; ++a)
                    for (int b = 0; b < k; ++b)
                        E[static_cast<std::size_t>(a * k + b)] /=
                            dg[static_cast<std::size_t>(a)] * dg[static_cast<std::size_t>(b)];
                if (cholesky(E, k, Q) >= 0)
                    throw InputError("run.correlations: too few trials per replicate (" +
                                     std::to_string(m) + ") for " + std::to_string(k) +
                                     " correlated inputs under lhs");
                // T = P Q^-1 (lower triangular); S* = S T^T; the ranks of S* order the strata.
                std::vector<double> Qinv(static_cast<std::size_t>(k * k), 0.0);
                for (int c = 0; c < k; ++c) // solve Q x = e_c by forward substitution
                    for (int a = 0; a < k; ++a) {
                        double s = a == c ? 1.0 : 0.0;
                        for (int p = 0; p < a; ++p)
                            s -= Q[static_cast<std::size_t>(a * k + p)] *
                                 Qinv[static_cast<std::size_t>(p * k + c)];
                        Qinv[static_cast<std::size_t>(a * k + c)] =
                            s / Q[static_cast<std::size_t>(a * k + a)];
                    }
                std::vector<double> T(static_cast<std::size_t>(k * k), 0.0);
                for (int a = 0; a < k; ++a)
                    for (int b = 0; b < k; ++b)
                        for (int p = 0; p < k; ++p)
                            T[static_cast<std::size_t>(a * k + b)] +=
                                chol_[static_cast<std::size_t>(a * k + p)] *
                                Qinv[static_cast<std::size_t>(p * k + b)];
                for (int j = 0; j < k; ++j) {
                    std::vector<double> col(m);
                    for (std::size_t i = 0; i < m; ++i) {
                        double s = 0;
                        for (int p = 0; p < k; ++p)
                            s += S[i * static_cast<std::size_t>(k) + static_cast<std::size_t>(p)] *
                                 T[static_cast<std::size_t>(j * k + p)];
                        col[i] = s;
                    }
                    std::vector<std::uint32_t> order(m), rank(m);
                    std::iota(order.begin(), order.end(), 0u);
                    std::stable_sort(
                        order.begin(), order.end(),
                        [&](std::uint32_t x, std::uint32_t y) { return col[x] < col[y]; });
                    for (std::size_t i = 0; i < m; ++i)
                        rank[order[i]] = static_cast<std::uint32_t>(i);
                    ic_rank_.push_back(std::move(rank));
                }
            }
    }
}

Design::~Design() = default;

int Design::replicate(std::uint64_t trial) const {
    if (s_.pick_freeze_rows > 0 || s_.replicates <= 1)
        return 0;
    // Trials beyond the run (a benchmark simulating more blocks) stay in the last replicate.
    return static_cast<int>(
        std::min<std::uint64_t>(trial / m_, static_cast<std::uint64_t>(s_.replicates - 1)));
}

std::uint64_t Design::stream_trial(std::uint64_t trial) const {
    if (s_.pick_freeze_rows == 0)
        return trial;
    const std::uint64_t mat = trial / m_, row = trial % m_;
    return mat == 1 ? m_ + row : row;
}

void check_tilt(const CoordTilt &t, const std::string &what) {
    const auto B = t.mass.size();
    auto fail = [&](const std::string &why) {
        throw InputError("run.importance: the proposal of " + what + " " + why);
    };
    if (B == 0 || t.edges.size() != B + 1)
        fail("needs bin edges and one mass per bin");
    if (t.edges.front() != 0.0 || t.edges.back() != 1.0)
        fail("must cover the whole unit interval (edges from 0 to 1)");
    double total = 0;
    for (std::size_t b = 0; b < B; ++b) {
        if (!(t.edges[b] < t.edges[b + 1]))
            fail("has bin edges out of order");
        if (!(t.mass[b] > 0) || !std::isfinite(t.mass[b]))
            fail("gives a bin no mass: every part of the model's range must keep some "
                 "probability, or the estimate is biased");
        total += t.mass[b];
    }
    if (std::abs(total - 1.0) > 1e-9)
        fail("has masses summing to " + std::to_string(total) + ", not 1");
}

std::shared_ptr<Design::Workspace> Design::workspace() const {
    auto ws = std::make_shared<Workspace>();
    if (s_.kind == SamplerKind::Sobol && coords_ > 0) {
        ws->sobol = std::make_unique<boost::random::sobol>(static_cast<std::size_t>(coords_) *
                                                           static_cast<std::size_t>(sets_));
        ws->point.resize(static_cast<std::size_t>(coords_) * static_cast<std::size_t>(sets_));
    }
    return ws;
}

double Design::lhs(int rep, int set, std::uint64_t row, int input, int coord, int c) const {
    const auto &in = inputs_[static_cast<std::size_t>(input)];
    std::uint64_t stratum;
    const auto pos = std::find(corr_inputs_.begin(), corr_inputs_.end(), input);
    if (c == 0 && pos != corr_inputs_.end() && !ic_rank_.empty()) {
        const auto k = corr_inputs_.size();
        const auto j = static_cast<std::size_t>(pos - corr_inputs_.begin());
        stratum = ic_rank_[(static_cast<std::size_t>(rep * sets_ + set)) * k + j]
                          [static_cast<std::size_t>(row)];
    } else {
        const std::uint64_t key =
            mix(mix(s_.seed, in.qid), 0x1c0ull + static_cast<std::uint64_t>(rep * 2 + set) +
                                          (static_cast<std::uint64_t>(c) << 32));
        stratum = permute(row, m_, key);
    }
    (void)coord;
    const std::uint64_t id =
        (static_cast<std::uint64_t>(rep) * sets_ + static_cast<std::uint64_t>(set)) * m_ + row;
    const double v = mc_uniform(s_.seed, id, in.qid, c);
    return (static_cast<double>(stratum) + v) / static_cast<double>(m_);
}

void Design::copula(double *u) const {
    const auto k = corr_inputs_.size();
    if (k == 0)
        return;
    thread_local std::vector<double> z, w;
    z.resize(k);
    w.resize(k);
    for (std::size_t j = 0; j < k; ++j)
        z[j] = phi_inv(u[first_[static_cast<std::size_t>(corr_inputs_[j])]]);
    for (std::size_t a = 0; a < k; ++a) {
        double s = 0;
        for (std::size_t p = 0; p <= a; ++p)
            s += chol_[a * k + p] * z[p];
        w[a] = s;
    }
    for (std::size_t j = 0; j < k; ++j)
        u[first_[static_cast<std::size_t>(corr_inputs_[j])]] =
            std::clamp(phi(w[j]), 0x1.0p-1074, 1.0 - 0x1.0p-53);
}

void Design::fill(std::uint64_t first, std::uint64_t count, double *u, Workspace &ws,
                  double *weight) const {
    const auto K = static_cast<std::size_t>(coords_);
    const bool pf = s_.pick_freeze_rows > 0;
    for (std::uint64_t t = first; t < first + count; ++t) {
        double *row_u = u + static_cast<std::size_t>(t - first) * K;
        const int rep = replicate(t);
        const std::uint64_t mat = pf ? t / m_ : 0;
        const std::uint64_t row = t % m_;
        // Which base sample (0 = A, 1 = B) input i takes in this trial.
        auto set_of = [&](int i) -> int {
            if (!pf)
                return 0;
            if (mat == 1)
                return 1;
            if (mat >= 2)
                return s_.pick_freeze_inputs[static_cast<std::size_t>(mat - 2)] == i ? 1 : 0;
            return 0;
        };
        if (s_.kind == SamplerKind::Sobol && ws.sobol) {
            if (ws.cached_point != row) {
                // Row 0 is the origin; Boost's generator starts at the second point of the
                // sequence, so row r > 0 is its point r - 1: rows 0 .. 2^j - 1 then form a
                // digital net (each coordinate has one point in each interval of 2^-j).
                if (row == 0) {
                    std::fill(ws.point.begin(), ws.point.end(), 0);
                } else {
                    if (ws.next_point != row - 1)
                        ws.sobol->seed(row - 1);
                    for (auto &x : ws.point)
                        x = (*ws.sobol)();
                    ws.next_point = row;
                }
                ws.cached_point = row;
            }
            const std::size_t dims = K * static_cast<std::size_t>(sets_);
            for (std::size_t i = 0; i < inputs_.size(); ++i) {
                const int set = set_of(static_cast<int>(i));
                for (int c = 0; c < inputs_[i].coords; ++c) {
                    const std::size_t d =
                        static_cast<std::size_t>(set) * K + static_cast<std::size_t>(first_[i] + c);
                    row_u[first_[i] + c] =
                        to_unit(ws.point[d] ^ shift_[static_cast<std::size_t>(rep) * dims + d]);
                }
            }
            copula(row_u);
        } else if (s_.kind == SamplerKind::LHS) {
            for (std::size_t i = 0; i < inputs_.size(); ++i) {
                const int set = set_of(static_cast<int>(i));
                for (int c = 0; c < inputs_[i].coords; ++c)
                    row_u[first_[i] + c] =
                        lhs(rep, set, row, static_cast<int>(i), first_[i] + c, c);
            }
        } else {
            for (std::size_t i = 0; i < inputs_.size(); ++i) {
                const int set = set_of(static_cast<int>(i));
                const std::uint64_t id = pf ? static_cast<std::uint64_t>(set) * m_ + row : t;
                Stream s(s_.seed, id, inputs_[i].qid);
                for (int c = 0; c < inputs_[i].coords; ++c)
                    row_u[first_[i] + c] = s.uniform01();
            }
            copula(row_u);
        }
        const double w = s_.tilts.empty() ? 1.0 : tilt(row_u);
        if (weight)
            weight[t - first] = w;
    }
}

double Design::tilt(double *row_u) const {
    double w = 1.0;
    for (std::size_t k = 0; k < s_.tilts.size(); ++k) {
        const auto &t = s_.tilts[k];
        const auto &cum = tilt_cum_[k];
        double &x = row_u[first_[static_cast<std::size_t>(t.input)]];
        const auto B = t.mass.size();
        // The bin whose cumulative mass interval holds u: the last b with cum[b] <= u.
        std::size_t b = static_cast<std::size_t>(
            std::upper_bound(cum.begin() + 1, cum.begin() + static_cast<std::ptrdiff_t>(B), x) -
            (cum.begin() + 1));
        const double lo = t.edges[b], hi = t.edges[b + 1];
        const double v = lo + (x - cum[b]) / t.mass[b] * (hi - lo);
        // Inside the bin's open interval and (0, 1), whatever the rounding.
        x = std::clamp(v, std::max(lo, 0x1.0p-1074), std::min(hi, 1.0 - 0x1.0p-53));
        w *= tilt_lr_[k][b];
    }
    return w;
}

} // namespace chokepoint
